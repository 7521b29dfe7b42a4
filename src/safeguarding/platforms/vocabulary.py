"""The closed vocabularies of the register and the case files, named as the sources name them.

Risk factors follow Ofcom's U2U Risk Profiles and are encoded by name, not by questionnaire code,
because the codes differ between versions of the guidance. Stage codes S1–S10 unify the grooming
and trafficking stage models (O'Connell, Winters & Jeglic, the Dutch "loverboy" method, Europol).
"""

from __future__ import annotations

from typing import Literal, get_args

ServiceType = Literal[
    "messaging",
    "social",
    "dating",
    "sex_advertising",
    "file_sharing",
    "gaming",
    "forum",
    "video_livestream",
    "channel_platform",
]
SERVICE_TYPES: tuple[str, ...] = get_args(ServiceType)

Feature = Literal[
    "direct_messaging",
    "encrypted_messaging",
    "ephemeral_messaging",
    "anonymous_profiles",
    "posting_without_account",
    "user_connections",
    "network_expansion_prompts",
    "visible_connection_lists",
    "child_identifiable_profiles",
    "group_messaging",
    "user_groups",
    "livestreaming",
    "image_video_sharing",
    "file_sharing",
    "location_sharing",
    "hyperlinking",
    "commenting",
    "child_users_possible",
]
FEATURES: tuple[str, ...] = get_args(Feature)

FEATURE_LABELS: dict[str, str] = {
    "direct_messaging": "direct messaging",
    "encrypted_messaging": "encrypted messaging",
    "ephemeral_messaging": "ephemeral messaging",
    "anonymous_profiles": "anonymous or unverified profiles",
    "posting_without_account": "posting without an account",
    "user_connections": "user connections",
    "network_expansion_prompts": "network-expansion prompts",
    "visible_connection_lists": "visible connection lists",
    "child_identifiable_profiles": "profiles that reveal children",
    "group_messaging": "group messaging",
    "user_groups": "user groups",
    "livestreaming": "livestreaming",
    "image_video_sharing": "posting images or videos",
    "file_sharing": "file sharing",
    "location_sharing": "location sharing",
    "hyperlinking": "hyperlinking",
    "commenting": "commenting on content",
    "child_users_possible": "child users permitted or possible",
}

AgeAssurance = Literal["none", "self_declaration", "estimation", "verification"]
AGE_ASSURANCE: tuple[str, ...] = get_args(AgeAssurance)
# Ofcom and the DSA guidelines: self-declaration does not make child access impossible.
WEAK_AGE_ASSURANCE = frozenset({"none", "self_declaration"})

Measure = Literal[
    "hash_matching",
    "url_lists",
    "classifiers",
    "minors_private_by_default",
    "csam_reporting",
]
MEASURES: tuple[str, ...] = get_args(Measure)

SafeguardStatus = Literal["absent", "claimed", "proven"]
SAFEGUARD_STATUSES: tuple[str, ...] = get_args(SafeguardStatus)

SizeClass = Literal["micro", "small", "medium", "large"]
SIZE_CLASSES: tuple[str, ...] = get_args(SizeClass)

DsaRole = Literal["intermediary", "hosting", "online_platform"]
DSA_ROLES: tuple[str, ...] = get_args(DsaRole)

Harm = Literal["grooming", "image_csam", "csam_links", "sexual_exploitation"]
HARMS: tuple[str, ...] = get_args(Harm)
HARM_LABELS: dict[str, str] = {
    "grooming": "grooming",
    "image_csam": "image-based CSAM",
    "csam_links": "CSAM links",
    "sexual_exploitation": "sexual exploitation and advertising of minors",
}

Level = Literal["negligible", "low", "medium", "high"]
LEVELS: tuple[str, ...] = get_args(Level)

Stage = Literal["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"]
STAGES: tuple[str, ...] = get_args(Stage)
STAGE_LABELS: dict[str, str] = {
    "S1": "targeting / first contact",
    "S2": "trust / relationship building",
    "S3": "isolation, move to private channels",
    "S4": "sexualisation, image acquisition",
    "S5": "control / coercion",
    "S6": "advertising the victim",
    "S7": "buyer contact / appointments",
    "S8": "exploitation",
    "S9": "financial management",
    "S10": "exit / post-abuse maintenance",
}

RolePair = Literal["offender-victim", "offender-buyer", "victim-buyer"]
ROLE_PAIRS: tuple[str, ...] = get_args(RolePair)


def level_rank(level: str) -> int:
    """Position of a level on the scale, negligible = 0 … high = 3."""
    return LEVELS.index(level)
