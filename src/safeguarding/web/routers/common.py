"""Helpers the routers share: the store of the app, auditing an action of the request, and the
form of a row id in a path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Path
from sqlalchemy.orm import Session
from starlette.requests import Request

from safeguarding.access import audit
from safeguarding.store import Store
from safeguarding.store.base import ROW_ID_MAX
from safeguarding.web.auth import Principal, auth_state

# A row id in a path: a larger number than the stores' ids (``ROW_ID_MAX``) is refused with a
# 422 naming the parameter instead of failing the request.
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]


def store_of(request: Request) -> Store:
    return auth_state(request).store


def record_read(
    request: Request,
    principal: Principal,
    target_kind: str,
    target_id: str,
    detail: Mapping[str, str] | None = None,
    *,
    session: Session | None = None,
) -> None:
    """Audit that ``principal`` saw a sensitive record (a report, a subject ...).

    Pass the request's ``session`` to commit the event with the read; otherwise it is written in a
    transaction of its own before the page is sent.
    """
    event = audit.Event(principal.actor(), f"{target_kind}.read", target_kind, target_id, detail)
    _record(request, event, session)


def record_list(
    request: Request,
    principal: Principal,
    kind: str,
    detail: Mapping[str, str],
    *,
    session: Session | None = None,
) -> None:
    """Audit that ``principal`` saw a page of a list of sensitive records (``<kind>.list``), with
    the filters and page in ``detail``: a list row shows much of a record (a subject's report
    count and providers, a work item's reports), so seeing the list is recorded as a read is."""
    _record(request, audit.Event(principal.actor(), f"{kind}.list", kind, "", detail), session)


def _record(request: Request, event: audit.Event, session: Session | None) -> None:
    if session is not None:
        audit.record_many(session, [event])
        return
    with store_of(request).session() as own:
        audit.record_many(own, [event])
