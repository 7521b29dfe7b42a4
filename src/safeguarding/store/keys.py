"""Where keys meet the store: each key is checked against the fingerprint the store recorded of it.

Keys live in files in the data directory (``<home>/secrets/NAME.key``), the data they protect in
the database, and the two can part: a database restored without its key files, a data directory
other than the one that wrote the database, key files deleted. A missing key file used to be
replaced by a new random key without a word; pseudonyms of reported users then stopped linking to
earlier ones, and records sealed under the old key could no longer be opened.

So the store records a fingerprint of each key the first time it is used with it, and after that
refuses, in one line naming the key file and what to do, a key whose fingerprint differs, and a
key file that is missing (without making a new one). ``Store.secret`` does this once per store
and key name: a command or the web app checks each key before it writes anything with it, and an
ingest pays one lookup, not one per record. Starting over with new keys is an explicit, audited
command (``safeguarding db rekey NAME``), which records the fingerprint of the key now in the
data directory.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safeguarding.config import ENV_HOME, SECRET_NAMES
from safeguarding.errors import ConfigError
from safeguarding.store.models.keys import KeyFingerprintRow

if TYPE_CHECKING:
    from safeguarding.store.engine import Store

# What each key's replacement costs, said where the way to replace it is offered.
CONSEQUENCES = {
    "pseudonym": (
        "pseudonyms made from now on will not link to earlier ones: a report ingested again is "
        "quarantined as a conflicting duplicate, a helpline file imported again adds its "
        "contacts again"
    ),
    "notes": (
        "quarantined records, outcome notes and helpline notes sealed before "
        "can no longer be opened"
    ),
    "session": "everyone signed in to the web app must sign in again",
}
_FINGERPRINT_MESSAGE = b"safeguarding key fingerprint\x1f"
_FINGERPRINT_HEX = 32


def fingerprint(name: str, key: bytes) -> str:
    """HMAC-SHA256 under the key of a fixed message naming the key, as hex, its first 128 bits:
    enough to tell two keys apart, and nothing from which the key can be recovered (that would
    take inverting HMAC; the keys are 256 random bits, so guessing them is no way either)."""
    mac = hmac.new(key, _FINGERPRINT_MESSAGE + name.encode(), hashlib.sha256)
    return mac.hexdigest()[:_FINGERPRINT_HEX]


def recorded_fingerprint(session: Session, name: str) -> str | None:
    """The fingerprint the store holds of its ``name`` key, None before its first use."""
    row = session.get(KeyFingerprintRow, name)
    return row.fingerprint if row is not None else None


def key_states(store: Store) -> dict[str, str]:
    """How each key file of the data directory stands against the store: ``matches``,
    ``differs``, ``missing``, or ``not recorded`` (the store has not used that key yet). Makes
    no key and records nothing: for checking restored key files before any command uses them
    (``db status``). A store migrated before fingerprints were kept has recorded none."""
    recorded: dict[str, str] = {}
    if inspect(store.engine).has_table(KeyFingerprintRow.__tablename__):
        with store.session() as session:
            rows = session.scalars(select(KeyFingerprintRow))
            recorded = {row.name: row.fingerprint for row in rows}
    states: dict[str, str] = {}
    for name in SECRET_NAMES:
        key = store.settings.existing_secret(name)
        if name not in recorded:
            states[name] = "not recorded"
        elif key is None:
            states[name] = "missing"
        else:
            same = hmac.compare_digest(fingerprint(name, key), recorded[name])
            states[name] = "matches" if same else "differs"
    return states


def checked_key(store: Store, name: str) -> bytes:
    """The ``name`` key of the store's data directory, once it is known to be the key the store
    was written with; a store that has no fingerprint of it yet records it (making the key file
    if there is none: a new store). Refused (``ConfigError``) when it differs or its file is
    missing, before a new key file is made."""
    settings = store.settings
    with store.session() as session:
        expected = recorded_fingerprint(session, name)
    if expected is None:
        first = settings.secret(name)
        try:
            with store.session() as session:
                session.add(
                    KeyFingerprintRow(
                        name=name,
                        fingerprint=fingerprint(name, first),
                        recorded_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            # Another process recorded it between our look and our insert (two commands starting
            # on a new store); theirs is made from the same key file, and is checked like any.
            return checked_key(store, name)
        return first
    key = settings.existing_secret(name)
    if key is None or not hmac.compare_digest(fingerprint(name, key), expected):
        raise ConfigError(refusal(store, name, missing=key is None))
    return key


def refusal(store: Store, name: str, *, missing: bool) -> str:
    """The one line that refuses a key: which file, that the store was written with another
    key, and the ways on: the original file back (or the data directory that has it: two data
    directories over one database is the other way to meet a stranger's key), or starting over
    on purpose. A missing secrets directory is named as such: every key in it is gone, not one."""
    path = store.settings.secret_file(name)
    if not missing:
        found = f"a different {name} key than {path}"
    elif path.parent.is_dir():
        found = f"a {name} key, but {path} is missing"
    else:
        found = f"a {name} key, but the whole {path.parent} directory is missing"
    return (
        f"the store {store.display_url} was written with {found}; restore the original {path} "
        f"(or set {ENV_HOME} to the data directory that has it), or, to start over with a new "
        f"{name} key ({CONSEQUENCES[name]}), run: safeguarding db rekey {name}"
    )


def record_fingerprint(session: Session, name: str, key: bytes) -> str | None:
    """Record ``key`` as the store's ``name`` key in ``session``'s transaction, replacing what
    was recorded (nothing is written when it is the key recorded); returns the fingerprint
    recorded before (None if there was none). Only for starting over on purpose:
    ``checked_key`` records a store's first key itself."""
    row = session.get(KeyFingerprintRow, name, with_for_update=True)
    previous = row.fingerprint if row is not None else None
    digest, now = fingerprint(name, key), datetime.now(UTC)
    if row is None:
        session.add(KeyFingerprintRow(name=name, fingerprint=digest, recorded_at=now))
    elif previous != digest:
        row.fingerprint, row.recorded_at = digest, now
    return previous
