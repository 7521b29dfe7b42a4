"""Everything an intake command needs, built once from the settings: options, keys, the matcher.

Keys come from the data directory's secrets (``pseudonym`` for identifiers, ``notes`` for sealed
raw input), never from the database; the store checks them against the ones it was written with
(``Store.secret``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from safeguarding.disclosure.pseudonymise import Pseudonymiser
from safeguarding.hashing.pdq_index import PDQIndex
from safeguarding.store import Store
from safeguarding.triage.ingest import media_lookup
from safeguarding.triage.matching import Matcher
from safeguarding.triage.options import TriageOptions, index_directory, triage_options
from safeguarding.triage.prepare import Preparer
from safeguarding.triage.quarantine import rekey_plain_digests
from safeguarding.triage.sealing import Sealer
from safeguarding.triage.writer import Writer


@dataclass
class IntakeContext:
    store: Store
    options: TriageOptions
    pseudonymiser: Pseudonymiser
    sealer: Sealer
    matcher: Matcher

    def writer(
        self, source: str, run_id: int | None, received_at: datetime, media: Path | None = None
    ) -> Writer:
        return Writer(
            Preparer(
                source,
                self.pseudonymiser,
                self.sealer,
                self.store.engine.dialect,
                received_at=received_at,
                run_id=run_id,
                media=media_lookup(media, self.options.max_image_pixels) if media else None,
            )
        )


def intake_context(store: Store) -> IntakeContext:
    """The context of one intake command. Opening it also keys any quarantine digest an earlier
    version left plain, once, before anything is recorded or compared by digest. Both keys are
    taken (and checked against the store) before that, so a key the store refuses stops the
    command before it writes anything."""
    settings = store.settings
    options = triage_options(settings)
    sealer = Sealer(store.secret("notes"))
    pseudonymiser = Pseudonymiser(store.secret("pseudonym"))
    with store.session() as session:
        rekey_plain_digests(session, sealer)
    return IntakeContext(
        store=store,
        options=options,
        pseudonymiser=pseudonymiser,
        sealer=sealer,
        matcher=Matcher(PDQIndex(index_directory(settings)), options),
    )
