"""Reading and writing the platform tables: the I/O edge of the register, cases and assessments.

Imports are idempotent: a service is replaced by id (the newest register row wins, its features
and safeguards with it), a case mention is keyed by a digest of its content, and an assessment
run is stored whole with the rules' version and digest. A service's ``imported_at`` is when its
facts last changed and a mention's when it was added, so a run can tell what it has not seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safeguarding.disclosure.pseudonymise import Pseudonymiser
from safeguarding.errors import NotFoundError
from safeguarding.platforms.cases import (
    MENTION_SCHEMA,
    CaseMention,
    StoredMention,
    with_register_ids,
)
from safeguarding.platforms.register import Audience, Service, VlopDesignation, Volumes
from safeguarding.platforms.risk import Driver, HarmResult, ServiceAssessment
from safeguarding.platforms.vocabulary import HARMS
from safeguarding.store.models.platforms import (
    PlatformAssessmentRow,
    PlatformAssessmentRunRow,
    PlatformCaseMentionRow,
    PlatformFeatureRow,
    PlatformSafeguardRow,
    PlatformServiceRow,
)

_CHUNK = 500


def _now() -> datetime:
    return datetime.now(UTC)


def _service_values(service: Service) -> dict[str, Any]:
    """The scalar columns of a service's row that hold its facts."""
    eu, uk, vlop, volumes = (
        service.eu_monthly_active_recipients,
        service.uk_monthly_active_users,
        service.vlop,
        service.volumes,
    )
    return {
        "name": service.name,
        "type": service.type,
        "provider": service.provider,
        "part_of": service.part_of,
        "provider_size": service.provider_size,
        "dsa_role": service.dsa_role,
        "vlop_designated": vlop.designated if vlop else None,
        "vlop_date": vlop.date if vlop else None,
        "vlop_source": vlop.source if vlop else None,
        "eu_recipients": eu.value if eu else None,
        "eu_recipients_date": eu.date if eu else None,
        "eu_recipients_source": eu.source if eu else None,
        "uk_users": uk.value if uk else None,
        "uk_users_date": uk.date if uk else None,
        "uk_users_source": uk.source if uk else None,
        "age_assurance": service.age_assurance,
        "adult": service.adult,
        "report_response_hours": service.report_response_hours,
        "daily_messages": volumes.daily_messages if volumes else None,
        "daily_images": volumes.daily_images if volumes else None,
        "daily_videos": volumes.daily_videos if volumes else None,
        "volumes_source": volumes.source if volumes else None,
        "source": service.source,
        "synthetic": service.synthetic,
    }


def _unchanged(row: PlatformServiceRow, values: dict[str, Any], service: Service) -> bool:
    """Whether the stored row already holds exactly these facts, features and safeguards."""
    return (
        all(getattr(row, column) == value for column, value in values.items())
        and {f.feature for f in row.features} == set(service.features)
        and {g.measure: g.status for g in row.safeguards}
        == {str(m): str(st) for m, st in service.safeguards.items()}
    )


def service_from_row(row: PlatformServiceRow) -> Service:
    data: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "provider": row.provider,
        "part_of": row.part_of,
        "provider_size": row.provider_size,
        "dsa_role": row.dsa_role,
        "age_assurance": row.age_assurance,
        "adult": row.adult,
        "report_response_hours": row.report_response_hours,
        "source": row.source,
        "synthetic": row.synthetic,
        "features": [f.feature for f in row.features],
        "safeguards": {s.measure: s.status for s in row.safeguards},
    }
    if row.vlop_source is not None:
        data["vlop"] = VlopDesignation(
            designated=bool(row.vlop_designated), date=row.vlop_date, source=row.vlop_source
        )
    if row.eu_recipients_source is not None and row.eu_recipients is not None:
        data["eu_monthly_active_recipients"] = Audience(
            value=row.eu_recipients, date=row.eu_recipients_date, source=row.eu_recipients_source
        )
    if row.uk_users_source is not None and row.uk_users is not None:
        data["uk_monthly_active_users"] = Audience(
            value=row.uk_users, date=row.uk_users_date, source=row.uk_users_source
        )
    if row.volumes_source is not None:
        data["volumes"] = Volumes(
            daily_messages=row.daily_messages,
            daily_images=row.daily_images,
            daily_videos=row.daily_videos,
            source=row.volumes_source,
        )
    return Service.model_validate(data)


def save_services(session: Session, services: Iterable[Service], file: str) -> tuple[int, int, int]:
    """Insert services, or update them in place by id; returns (new, updated, unchanged).

    Updating in place (rather than delete and insert) keeps earlier assessment runs of the
    service intact: a run is a record of what was assessed, not a view of the register. A row
    whose facts are the same is left as it is, so importing a register again does not make a run
    look out of date.
    """
    when = _now()
    new = updated = unchanged = 0
    for service in services:
        values = _service_values(service)
        row = session.get(PlatformServiceRow, service.id)
        if row is None:
            row = PlatformServiceRow(id=service.id, features=[], safeguards=[])
            session.add(row)
            new += 1
        elif _unchanged(row, values, service):
            unchanged += 1
            continue
        else:
            updated += 1
        for column, value in values.items():
            setattr(row, column, value)
        row.register_file = file[:255]
        row.imported_at = when
        wanted = set(service.features)
        row.features = [f for f in row.features if f.feature in wanted]
        present = {f.feature for f in row.features}
        row.features += [PlatformFeatureRow(feature=f) for f in sorted(wanted - present)]
        statuses: dict[str, str] = {str(m): str(st) for m, st in service.safeguards.items()}
        row.safeguards = [g for g in row.safeguards if g.measure in statuses]
        for guard in row.safeguards:
            guard.status = statuses[guard.measure]
        present = {g.measure for g in row.safeguards}
        row.safeguards += [
            PlatformSafeguardRow(measure=m, status=st)
            for m, st in sorted(statuses.items())
            if m not in present
        ]
    session.flush()
    return new, updated, unchanged


def load_services(session: Session) -> list[Service]:
    rows = session.scalars(select(PlatformServiceRow).order_by(PlatformServiceRow.id))
    return [service_from_row(row) for row in rows]


def load_service(session: Session, service_id: str) -> Service:
    row = session.get(PlatformServiceRow, service_id)
    if row is None:
        raise NotFoundError(
            f"no service {service_id!r} in the register; see: safeguarding platforms list"
        )
    return service_from_row(row)


def stored_mention(mention: CaseMention, pseudonymiser: Pseudonymiser) -> StoredMention:
    return StoredMention(
        case=pseudonymiser.pseudonym("token", mention.case, scope="platform-case"),
        platform=mention.platform,
        stage=mention.stage,
        role_pair=mention.role_pair,
        year=mention.year,
        source=mention.source,
    )


def save_mentions(session: Session, mentions: Sequence[StoredMention]) -> tuple[int, int]:
    """Store mentions not stored before; returns (new, already present)."""
    keyed = {m.key: m for m in mentions}
    keys = list(keyed)
    present: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        present.update(
            session.scalars(
                select(PlatformCaseMentionRow.id).where(PlatformCaseMentionRow.id.in_(chunk))
            )
        )
    when = _now()
    session.add_all(
        PlatformCaseMentionRow(
            id=key,
            case_pseudonym=m.case,
            platform=m.platform,
            stage=m.stage,
            role_pair=m.role_pair,
            year=m.year,
            source=m.source,
            imported_at=when,
        )
        for key, m in keyed.items()
        if key not in present
    )
    session.flush()
    return len(keyed) - len(present), len(mentions) - (len(keyed) - len(present))


def register_ids(session: Session) -> set[str]:
    return set(session.scalars(select(PlatformServiceRow.id)))


def platform_label_counts(session: Session) -> dict[str, int]:
    """Mentions per platform label as stored (the file's own spelling), unknown platforms left
    out."""
    rows = session.execute(
        select(PlatformCaseMentionRow.platform, func.count())
        .where(PlatformCaseMentionRow.platform.is_not(None))
        .group_by(PlatformCaseMentionRow.platform)
    )
    return {str(label): int(n) for label, n in rows}


def load_mention_frame(session: Session) -> pl.DataFrame:
    """The mentions' case, platform, stage, role pair and year as a frame (matrix, trends, risk).

    A label stored in another letter case than the register id it names is read as that id:
    whatever reads the mentions then counts them for the service (see ``cases``)."""
    rows = session.execute(
        select(
            PlatformCaseMentionRow.case_pseudonym,
            PlatformCaseMentionRow.platform,
            PlatformCaseMentionRow.stage,
            PlatformCaseMentionRow.role_pair,
            PlatformCaseMentionRow.year,
        )
    ).all()
    frame = pl.DataFrame([tuple(r) for r in rows], schema=MENTION_SCHEMA, orient="row")
    return with_register_ids(frame, register_ids(session))


@dataclass(frozen=True)
class Changes:
    """What changed in the register and the case evidence after a moment (e.g. a run)."""

    services: int
    mentions: int

    def note(self, run_id: int) -> str:
        """The same words wherever a run is shown: what it has not seen, or "" if nothing."""
        parts = []
        if self.services:
            parts.append(f"{self.services} service(s) changed")
        if self.mentions:
            parts.append(f"{self.mentions} case mention(s) added")
        if not parts:
            return ""
        return f"{' and '.join(parts)} after assessment run {run_id}"


def changed_since(session: Session, when: datetime) -> Changes:
    """How many services changed and how many case mentions were added after ``when``."""
    services = session.scalar(
        select(func.count())
        .select_from(PlatformServiceRow)
        .where(PlatformServiceRow.imported_at > when)
    )
    mentions = session.scalar(
        select(func.count())
        .select_from(PlatformCaseMentionRow)
        .where(PlatformCaseMentionRow.imported_at > when)
    )
    return Changes(int(services or 0), int(mentions or 0))


@dataclass(frozen=True)
class AssessmentRun:
    id: int
    rules_version: str
    rules_digest: str
    rules_file: str
    assessed_at: datetime
    assessments: list[ServiceAssessment]

    @property
    def rules_name(self) -> str:
        """The rules file as shown beside results (web pages, API, monitor report): its name,
        or ``shipped``, not where the server keeps it."""
        return self.rules_file if self.rules_file == "shipped" else PurePath(self.rules_file).name


def save_run(
    session: Session,
    assessments: Sequence[ServiceAssessment],
    *,
    rules_version: str,
    rules_digest: str,
    rules_file: str,
) -> int:
    run = PlatformAssessmentRunRow(
        rules_version=rules_version,
        rules_digest=rules_digest,
        rules_file=rules_file,
        assessed_at=_now(),
        services=len(assessments),
    )
    session.add(run)
    session.flush()
    session.add_all(
        PlatformAssessmentRow(
            run_id=run.id,
            service_id=a.service_id,
            harm=h.harm,
            level=h.level,
            score=h.score,
            evidence_cases=h.evidence_cases,
            cases_per_million=h.cases_per_million,
            factors=list(h.factors),
            drivers=[d.as_dict() for d in h.drivers],
        )
        for a in assessments
        for h in a.harms
    )
    session.flush()
    return run.id


def latest_run(session: Session) -> AssessmentRun | None:
    """The newest assessment run with its results, highest score first; None before any run."""
    run_id = session.scalar(select(func.max(PlatformAssessmentRunRow.id)))
    if run_id is None:
        return None
    run = session.get(PlatformAssessmentRunRow, run_id)
    if run is None:  # removed between the two statements by another session
        return None
    known = session.execute(
        select(PlatformServiceRow.id, PlatformServiceRow.name, PlatformServiceRow.type)
    ).all()
    names = {sid: name for sid, name, _ in known}
    types = {sid: kind for sid, _, kind in known}
    grouped: dict[str, list[HarmResult]] = {}
    rows = session.scalars(
        select(PlatformAssessmentRow).where(PlatformAssessmentRow.run_id == run_id)
    )
    for row in rows:
        grouped.setdefault(row.service_id, []).append(
            HarmResult(
                harm=row.harm,
                level=row.level,
                score=row.score,
                factors=tuple(row.factors),
                evidence_cases=row.evidence_cases,
                cases_per_million=row.cases_per_million,
                drivers=tuple(Driver(**d) for d in row.drivers),
            )
        )
    assessments = [
        ServiceAssessment(
            service_id=sid,
            name=names.get(sid, sid),
            type=types.get(sid, ""),
            rules_version=run.rules_version,
            harms=tuple(sorted(harms, key=lambda h: HARMS.index(h.harm))),
        )
        for sid, harms in grouped.items()
    ]
    assessments.sort(key=lambda a: (-a.score, a.service_id))
    return AssessmentRun(
        id=run.id,
        rules_version=run.rules_version,
        rules_digest=run.rules_digest,
        rules_file=run.rules_file,
        assessed_at=run.assessed_at,
        assessments=assessments,
    )
