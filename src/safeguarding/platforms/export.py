"""Export of the high-risk services for the assessment model's targeted scenario.

The format (``safeguarding/high-risk-services@1``) is documented in docs/formats.md under
"High-risk services export". Only services at high risk of at least one harm are exported, with
the harms at high and the daily volumes the register holds (``null`` where unknown: the model
must not mistake an unknown volume for zero).

A volume is ``0`` only where the register's features rule the kind out: a service with no way to
share images or videos carries none, whatever its audience, so the model must not estimate them
from its users. What is written is what ``assess --services`` reads: a file without a service the
model can take a volume from (a daily volume, or EU recipients to estimate one) is not written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from safeguarding.errors import SafeguardingError
from safeguarding.platforms.register import Service
from safeguarding.platforms.risk import ServiceAssessment

EXPORT_FORMAT = "safeguarding/high-risk-services@1"
VOLUME_KINDS = ("messages", "images", "videos")
# The features through which a service can carry each kind; without any of them it carries none.
CARRIED_BY: dict[str, frozenset[str]] = {
    "images": frozenset({"image_video_sharing", "file_sharing"}),
    "videos": frozenset({"image_video_sharing", "file_sharing", "livestreaming"}),
}


@dataclass(frozen=True)
class Export:
    """The export document and, per service, the volume kinds the model will leave out."""

    document: dict[str, Any]
    left_out: dict[str, tuple[str, ...]]


def _given(service: Service, kind: str) -> float | None:
    """The daily volume of ``kind`` the register gives, or None."""
    value = getattr(service.volumes, f"daily_{kind}") if service.volumes is not None else None
    return None if value is None else float(value)


def _ruled_out(service: Service, kind: str) -> bool:
    """Whether the service has none of the features that carry ``kind``."""
    carriers = CARRIED_BY.get(kind)
    return carriers is not None and not carriers & set(service.features)


def _source(service: Service, zero: list[str]) -> str:
    text = service.source
    if service.volumes is not None:
        text += f"; volumes: {service.volumes.source}"
    if zero:
        text += f"; no {' or '.join(zero)} (no feature that carries them)"
    return text


def high_risk_export(
    services: Iterable[Service],
    assessments: Iterable[ServiceAssessment],
    rules_version: str,
    generated_at: datetime | None = None,
) -> Export:
    """The export of services at high risk of some harm, highest score first.

    Refused (``SafeguardingError``) when no service is at high risk, or none of those has a volume
    or an audience to estimate one from: the assessment model would refuse such a file, and an
    empty scope would read as "no volume" rather than "nothing known".
    """
    by_id = {s.id: s for s in services}
    rows: list[dict[str, Any]] = []
    left_out: dict[str, tuple[str, ...]] = {}
    for assessment in assessments:
        harms = [h.harm for h in assessment.harms if h.level == "high"]
        service = by_id.get(assessment.service_id)
        if not harms or service is None:
            continue
        zero = [k for k in VOLUME_KINDS if _given(service, k) is None and _ruled_out(service, k)]
        volumes = {k: 0.0 if k in zero else _given(service, k) for k in VOLUME_KINDS}
        audience = service.eu_monthly_active_recipients
        if audience is None:
            unknown = tuple(kind for kind, value in volumes.items() if value is None)
            if unknown:
                left_out[service.id] = unknown
        rows.append(
            {
                "id": service.id,
                "name": service.name,
                "type": service.type,
                "harms": harms,
                "risk": "high",
                "eu_monthly_active_recipients": audience.value if audience else None,
                "daily_messages": volumes["messages"],
                "daily_images": volumes["images"],
                "daily_videos": volumes["videos"],
                "source": _source(service, zero),
            }
        )
    if not rows:
        raise SafeguardingError(
            "no service is at high risk of any harm in this run: nothing to export (the "
            "assessment model's targeted scenario needs at least one service)"
        )
    ids = [str(row["id"]) for row in rows]
    if all(left_out.get(i) == VOLUME_KINDS for i in ids):
        raise SafeguardingError(
            f"none of the {len(rows)} high-risk service(s) ({', '.join(ids)}) "
            "has a daily volume or EU monthly active recipients to estimate one from: the "
            "assessment model could scope detection to nothing; add them to the register"
        )
    document = {
        "format": EXPORT_FORMAT,
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "rules_version": rules_version,
        "services": rows,
    }
    return Export(document, left_out)
