"""How an area plugs in: a router whose routes declare permissions and audit sensitive reads."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.requests import Request

from safeguarding.access import audit
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.web.auth import Principal
from safeguarding.web.roles import require
from safeguarding.web.routers.common import record_read, store_of
from tests.web.conftest import Account, make_app


def test_an_area_router_gets_roles_and_audited_reads(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    router = APIRouter()

    @router.get("/api/example-area/{report_id}")
    def read_report(
        request: Request, report_id: str, principal: Principal = Depends(require("report.read"))
    ) -> dict[str, str]:
        with store_of(request).session() as db:
            record_read(request, principal, "report", report_id, session=db)
        record_read(request, principal, "subject", "S1", {"via": "report"})
        return {"id": report_id}

    app = make_app(store)
    app.include_router(router)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for role, account in accounts_by_role.items():
            status = client.get(
                "/api/example-area/R1", headers={"Authorization": f"Bearer {account.token}"}
            ).status_code
            assert status == (200 if role in {Role.ANALYST, Role.SUPERVISOR} else 403), role
    with store.session() as db:
        reads = db.execute(
            text(
                "SELECT actor, role, action, target_id, ip FROM audit_event "
                "WHERE action LIKE '%.read' ORDER BY seq"
            )
        ).all()
        assert audit.verify(db).ok
    assert [tuple(r) for r in reads] == [
        ("analyst-one", "analyst", "report.read", "R1", "testclient"),
        ("analyst-one", "analyst", "subject.read", "S1", "testclient"),
        ("supervisor-one", "supervisor", "report.read", "R1", "testclient"),
        ("supervisor-one", "supervisor", "subject.read", "S1", "testclient"),
    ]
