"""Accounts and API tokens, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeguarding.access import accounts
from safeguarding.access.roles import ROLE_DESCRIPTIONS, Role
from safeguarding.errors import ValidationError
from safeguarding.store.models.access import ApiTokenRow, UserRow
from safeguarding.web.auth import Principal
from safeguarding.web.roles import require
from safeguarding.web.routers.common import RowId, store_of
from safeguarding.web.templating import render

router = APIRouter()
MANAGE = require("users.manage")


def _user(row: UserRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "role": row.role,
        "disabled": row.disabled,
        "can_sign_in": row.password_hash is not None,
        "created": row.created,
    }


def token_fields(row: ApiTokenRow, owner: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "user": owner,
        "label": row.label,
        "created": row.created,
        "last_used": row.last_used,
        "revoked": row.revoked,
        "expires_at": accounts.aware(row.expires_at),  # with its zone, as clients compare it
    }


def _not_self(principal: Principal, name: str) -> None:
    if principal.name == name:
        raise ValidationError(
            "you cannot disable your own account", location="name", rule="not-self"
        )


def _page(request: Request, *, issued: accounts.IssuedToken | None = None) -> Response:
    with store_of(request).session() as db:
        users = accounts.list_users(db)
        tokens = accounts.list_tokens(db)
    moment = accounts.now()
    context = {
        "users": users,
        "tokens": tokens,
        "expired": {row.id for row, _ in tokens if accounts.aware(row.expires_at) <= moment},
        "roles": ROLE_DESCRIPTIONS,
        "issued": issued,
        "default_token_days": accounts.DEFAULT_TOKEN_DAYS,
        "max_token_days": accounts.MAX_TOKEN_DAYS,
    }
    return render(request, "users/list.html", context)


@router.get("/users", dependencies=[Depends(MANAGE)], include_in_schema=False)
def users_page(request: Request) -> Response:
    return _page(request)


@router.post("/users", include_in_schema=False)
def add_user_form(
    request: Request,
    name: str = Form(..., max_length=64),
    role: str = Form(..., max_length=32),
    password: str = Form("", max_length=accounts.MAX_PASSWORD),
    principal: Principal = Depends(MANAGE),
) -> Response:
    with store_of(request).session() as db:
        accounts.add_user(db, name, role, password or None, principal.actor())
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{name}/disable", include_in_schema=False)
def disable_user_form(
    request: Request, name: str, principal: Principal = Depends(MANAGE)
) -> Response:
    _not_self(principal, name)
    with store_of(request).session() as db:
        accounts.disable_user(db, name, principal.actor())
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{name}/tokens", include_in_schema=False)
def create_token_form(
    request: Request,
    name: str,
    label: str = Form(..., max_length=accounts.MAX_LABEL),
    days: int = Form(accounts.DEFAULT_TOKEN_DAYS),
    principal: Principal = Depends(MANAGE),
) -> Response:
    with store_of(request).session() as db:
        issued = accounts.create_token(db, name, label, principal.actor(), days=days)
    return _page(request, issued=issued)


@router.post("/tokens/{token_id}/revoke", include_in_schema=False)
def revoke_token_form(
    request: Request, token_id: RowId, principal: Principal = Depends(MANAGE)
) -> Response:
    with store_of(request).session() as db:
        accounts.revoke_token(db, token_id, principal.actor())
    return RedirectResponse("/users", status_code=303)


class NewUser(BaseModel):
    name: str = Field(max_length=64)
    role: Role
    password: str | None = Field(None, max_length=accounts.MAX_PASSWORD)


class NewToken(BaseModel):
    label: str = Field(max_length=accounts.MAX_LABEL)
    days: int = Field(
        accounts.DEFAULT_TOKEN_DAYS,
        description=f"How long the token works: 1 to {accounts.MAX_TOKEN_DAYS} days.",
    )


class UserOut(BaseModel):
    name: str
    role: str
    disabled: bool
    can_sign_in: bool
    created: datetime


class TokenOut(BaseModel):
    id: int
    user: str
    label: str
    created: datetime
    last_used: datetime | None
    revoked: datetime | None
    expires_at: datetime


class IssuedTokenOut(BaseModel):
    id: int
    user: str
    label: str
    expires_at: datetime
    token: str = Field(description="The token itself: shown this once, never stored.")

    @classmethod
    def of(cls, issued: accounts.IssuedToken) -> IssuedTokenOut:
        return cls(
            id=issued.id,
            user=issued.user,
            label=issued.label,
            expires_at=issued.expires_at,
            token=issued.secret,
        )


@router.get("/api/users", dependencies=[Depends(MANAGE)], tags=["users"], summary="Accounts")
def list_users(request: Request) -> list[UserOut]:
    with store_of(request).session() as db:
        return [UserOut(**_user(row)) for row in accounts.list_users(db)]


@router.post("/api/users", tags=["users"], summary="Add an account", status_code=201)
def add_user(request: Request, body: NewUser, principal: Principal = Depends(MANAGE)) -> UserOut:
    with store_of(request).session() as db:
        row = accounts.add_user(db, body.name, body.role.value, body.password, principal.actor())
        return UserOut(**_user(row))


@router.post("/api/users/{name}/disable", tags=["users"], summary="Disable an account")
def disable_user(request: Request, name: str, principal: Principal = Depends(MANAGE)) -> UserOut:
    _not_self(principal, name)
    with store_of(request).session() as db:
        return UserOut(**_user(accounts.disable_user(db, name, principal.actor())))


@router.get("/api/tokens", dependencies=[Depends(MANAGE)], tags=["users"], summary="API tokens")
def list_tokens(request: Request) -> list[TokenOut]:
    with store_of(request).session() as db:
        return [TokenOut(**token_fields(row, owner)) for row, owner in accounts.list_tokens(db)]


@router.post(
    "/api/users/{name}/tokens", tags=["users"], summary="Create an API token", status_code=201
)
def create_token(
    request: Request, name: str, body: NewToken, principal: Principal = Depends(MANAGE)
) -> IssuedTokenOut:
    with store_of(request).session() as db:
        issued = accounts.create_token(db, name, body.label, principal.actor(), days=body.days)
    return IssuedTokenOut.of(issued)


@router.post("/api/tokens/{token_id}/revoke", tags=["users"], summary="Revoke an API token")
def revoke_token(
    request: Request, token_id: RowId, principal: Principal = Depends(MANAGE)
) -> TokenOut:
    with store_of(request).session() as db:
        row = accounts.revoke_token(db, token_id, principal.actor())
        owner = db.get(UserRow, row.user_id)
        return TokenOut(**token_fields(row, owner.name if owner else ""))
