"""Export of the high-risk services for the assessment model's targeted scenario.

The format (``safeguarding/high-risk-services@1``) is documented in docs/formats.md under
"High-risk services export". Only services at high risk of at least one harm are exported, with
the harms at high and the daily volumes the register holds (``null`` where unknown: the model
must not mistake an unknown volume for zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from safeguarding.platforms.register import Service
from safeguarding.platforms.risk import ServiceAssessment

EXPORT_FORMAT = "safeguarding/high-risk-services@1"


def high_risk_export(
    services: Iterable[Service],
    assessments: Iterable[ServiceAssessment],
    rules_version: str,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The export document: services at high risk of some harm, highest score first."""
    by_id = {s.id: s for s in services}
    rows = []
    for assessment in assessments:
        harms = [h.harm for h in assessment.harms if h.level == "high"]
        service = by_id.get(assessment.service_id)
        if not harms or service is None:
            continue
        volumes = service.volumes
        audience = service.eu_monthly_active_recipients
        rows.append(
            {
                "id": service.id,
                "name": service.name,
                "type": service.type,
                "harms": harms,
                "risk": "high",
                "eu_monthly_active_recipients": audience.value if audience else None,
                "daily_messages": volumes.daily_messages if volumes else None,
                "daily_images": volumes.daily_images if volumes else None,
                "daily_videos": volumes.daily_videos if volumes else None,
                "source": service.source
                + (f"; volumes: {volumes.source}" if volumes is not None else ""),
            }
        )
    return {
        "format": EXPORT_FORMAT,
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "rules_version": rules_version,
        "services": rows,
    }
