"""Everyone's own API tokens: a person who signs in makes, lists and revokes the tokens that act
as them, without an administrator.

An administrator may not create a token for a person's account (it would act as that person,
``accounts.create_token``), so without this page a person's scripts could get a token only from
an operator at the server. Creating needs the password's session: a token never makes a token of
its own account, or it could renew itself for ever. Revoking is open to a token too (a leaked
token is best revoked with whatever is at hand); another account's token is "not found".
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeguarding.access import accounts
from safeguarding.web.auth import Principal
from safeguarding.web.roles import require
from safeguarding.web.routers.common import RowId, store_of
from safeguarding.web.routers.users import IssuedTokenOut, NewToken, TokenOut, token_fields
from safeguarding.web.templating import render

router = APIRouter()
SELF = require("account.self")


def _page(
    request: Request, principal: Principal, *, issued: accounts.IssuedToken | None = None
) -> Response:
    with store_of(request).session() as db:
        tokens = [row for row, _owner in accounts.list_tokens(db, principal.name)]
    moment = accounts.now()
    context = {
        "tokens": tokens,
        "expired": {row.id for row in tokens if accounts.aware(row.expires_at) <= moment},
        "issued": issued,
        "default_token_days": accounts.DEFAULT_TOKEN_DAYS,
        "max_token_days": accounts.MAX_TOKEN_DAYS,
    }
    return render(request, "users/own_tokens.html", context)


@router.get("/account/tokens", include_in_schema=False)
def own_tokens_page(request: Request, principal: Principal = Depends(SELF)) -> Response:
    return _page(request, principal)


@router.post("/account/tokens", include_in_schema=False)
def create_own_token_form(
    request: Request,
    label: str = Form(..., max_length=accounts.MAX_LABEL),
    days: int = Form(accounts.DEFAULT_TOKEN_DAYS),
    principal: Principal = Depends(SELF),
) -> Response:
    with store_of(request).session() as db:
        issued = accounts.create_token(db, principal.name, label, principal.actor(), days=days)
    return _page(request, principal, issued=issued)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def revoke_own_token_form(
    request: Request, token_id: RowId, principal: Principal = Depends(SELF)
) -> Response:
    with store_of(request).session() as db:
        accounts.revoke_token(db, token_id, principal.actor(), owner_id=principal.user_id)
    return RedirectResponse("/account/tokens", status_code=303)


@router.get("/api/me/tokens", tags=["account"], summary="My API tokens")
def list_own_tokens(request: Request, principal: Principal = Depends(SELF)) -> list[TokenOut]:
    with store_of(request).session() as db:
        return [
            TokenOut(**token_fields(row, owner))
            for row, owner in accounts.list_tokens(db, principal.name)
        ]


@router.post("/api/me/tokens", tags=["account"], summary="Create my API token", status_code=201)
def create_own_token(
    request: Request, body: NewToken, principal: Principal = Depends(SELF)
) -> IssuedTokenOut:
    """Only signed in with the password (a session): with a token the answer is 422
    ``token-from-session``."""
    with store_of(request).session() as db:
        issued = accounts.create_token(
            db, principal.name, body.label, principal.actor(), days=body.days
        )
    return IssuedTokenOut.of(issued)


@router.post("/api/me/tokens/{token_id}/revoke", tags=["account"], summary="Revoke my API token")
def revoke_own_token(
    request: Request, token_id: RowId, principal: Principal = Depends(SELF)
) -> TokenOut:
    with store_of(request).session() as db:
        row = accounts.revoke_token(db, token_id, principal.actor(), owner_id=principal.user_id)
        return TokenOut(**token_fields(row, principal.name))
