"""Accounts and API tokens: creating, listing, disabling, and checking credentials.

Passwords are hashed with argon2id (argon2-cffi's defaults); API tokens are 256-bit random strings
of which only the SHA-256 is stored, and the token itself is returned once, at creation. A token
expires (``DEFAULT_TOKEN_DAYS`` unless its creator chooses up to ``MAX_TOKEN_DAYS``), so a copy
left in an old script or ticket stops working without anyone having to remember it. A token for an
account that signs in with a password acts as that person, so only the person creates it, signed in
with the password rather than with a token (which could otherwise renew itself for ever), or an
operator at the server's command line, who holds the database anyway; administrators create tokens
for accounts without a password, the systems of providers. Every change is recorded in the audit
log in the same transaction, with the actor who made it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safeguarding.access import audit
from safeguarding.access.audit import Actor
from safeguarding.access.roles import Role, parse_role
from safeguarding.errors import NotFoundError, SafeguardingError, ValidationError
from safeguarding.store.models.access import ApiTokenRow, UserRow, WebSessionRow
from safeguarding.triage.formats.fields import UNSTORABLE, unstorable

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_LABEL = 120  # the size of the token label's column
TOKEN_PREFIX = "sgt_"  # noqa: S105  (a public prefix, not a secret)
# A token's last use is written at most this often, so busy API clients do not write per call.
LAST_USED_GRANULARITY = timedelta(minutes=1)
DEFAULT_TOKEN_DAYS = 90
# A year and a day: a provider's system renews its token at least yearly, on a date it can plan.
MAX_TOKEN_DAYS = 366

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so a wrong name costs as long as a
    wrong password and response times do not reveal which accounts exist. Made at the first
    sign-in, not at import: an argon2 hash costs every command a fifth of a second."""
    return _hasher.hash(secrets.token_urlsafe(16))


def prepare_sign_in() -> None:
    """Makes the stand-in hash now (the web app does, when it is created), so that even the
    first failed sign-in of a process takes as long as the others."""
    _dummy_hash()


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """``moment`` in UTC, as the messages and lists that show it say. SQLite gives back the
    stored times without their zone (they were stored in UTC); PostgreSQL gives them in the
    session's time zone, the server's own unless set, so they are converted."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """``name`` if it is an account name. The whole name must match: ``$`` also matches before
    a final newline, so ``ana\\n`` passed as a second account beside ``ana`` (and a 64-character
    name with it overran its column on PostgreSQL, where SQLite kept it)."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValidationError(
            f"account name {name!r}: 2–64 characters, lower-case letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
            location="name",
            rule="account-name",
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(
            f"password: must be {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            location="password",
            rule="password-length",
        )
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        matched = _hasher.verify(password_hash or _dummy_hash(), password)
        return matched and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def find_user(session: Session, name: str) -> UserRow | None:
    """The account named ``name``, or None. A name no store can hold (a NUL, a lone surrogate)
    names no account and is not looked up: PostgreSQL refuses a NUL in a query where SQLite
    finds nobody, so a NUL typed into the sign-in form was a server error on one backend only."""
    if unstorable(name):
        return None
    return session.scalar(select(UserRow).where(UserRow.name == name))


def get_user(session: Session, name: str) -> UserRow:
    user = find_user(session, name)
    if user is None:
        raise NotFoundError(f"no account named {name!r}")
    return user


def add_user(session: Session, name: str, role: str, password: str | None, actor: Actor) -> UserRow:
    """Create an account; without a password it can use API tokens but not sign in."""
    check_name(name)
    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise ValidationError(str(exc), location="role", rule="known-role") from None
    if find_user(session, name) is not None:
        raise ValidationError(
            f"account {name!r} already exists", location="name", rule="unique-name"
        )
    user = UserRow(
        name=name,
        role=parsed.value,
        password_hash=hash_password(password) if password is not None else None,
        disabled=False,
        created=now(),
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.add", "user", name, {"role": parsed.value})
    return user


def list_users(session: Session) -> list[UserRow]:
    return list(session.scalars(select(UserRow).order_by(UserRow.name)))


def disable_user(session: Session, name: str, actor: Actor) -> UserRow:
    """Disable an account: it can no longer sign in, its sessions end, its tokens stop working.
    The last enabled administrator who signs in with a password is not disabled: no one could
    manage accounts on the web any more. Administrators without a password do not count, nor
    are they kept: they act only through tokens, which expire (an account is given a password
    with ``safeguarding user add --password-stdin`` or ``safeguarding user password``)."""
    user = get_user(session, name)
    if not user.disabled:
        # The event is appended first: appending takes the audit log's write lock, which the
        # count below needs (see ``_keep_an_administrator``); a refusal rolls the event back.
        audit.record(session, actor, "user.disable", "user", name)
        if user.role == Role.ADMIN.value and user.password_hash is not None:
            _keep_an_administrator(session, user)
        user.disabled = True
        _end_sessions(session, user)
    return user


def _keep_an_administrator(session: Session, leaving: UserRow) -> None:
    """Refuse to disable ``leaving`` if no other enabled administrator signs in with a password.

    Called once the transaction holds the audit log's write lock (``disable_user`` appends its
    event first): the head row's update is a row lock on PostgreSQL and the database's write lock
    on SQLite, held until commit. That lock is what serialises two administrators disabling each
    other at once: the second waits for it, and its count then sees the first one's commit, so it
    is refused. Locking the counted rows (``FOR UPDATE``) serialises on PostgreSQL only: pysqlite
    starts no transaction for a SELECT, so on SQLite both counted two administrators before
    either wrote, and both were disabled."""
    enabled = session.scalars(
        select(UserRow.id).where(
            UserRow.role == Role.ADMIN.value,
            UserRow.disabled.is_(False),
            UserRow.password_hash.is_not(None),
        )
    ).all()
    if set(enabled) <= {leaving.id}:
        raise ValidationError(
            f"account {leaving.name!r} is the last enabled administrator who signs in; add"
            " another administrator with a password before disabling it",
            location="name",
            rule="last-admin",
        )


def set_password(session: Session, name: str, password: str, actor: Actor) -> UserRow:
    """A new password; the account's sessions end (a password is changed when the old one may
    be known to someone else, whose session would otherwise go on)."""
    user = get_user(session, name)
    user.password_hash = hash_password(password)
    _end_sessions(session, user)
    audit.record(session, actor, "user.password", "user", name)
    return user


def _end_sessions(session: Session, user: UserRow) -> None:
    session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.user_id == user.id, WebSessionRow.ended.is_(None))
        .values(ended=now())
    )


def authenticate_password(session: Session, name: str, password: str) -> UserRow | None:
    """The enabled account with this name and password, or None (same cost either way)."""
    user = find_user(session, name)
    matches = password_matches(user.password_hash if user else None, password)
    if user is None or user.disabled or not matches:
        return None
    return user


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token: ``secret`` is shown once and never stored."""

    id: int
    user: str
    label: str
    secret: str
    expires_at: datetime


def check_label(label: str) -> str:
    """A token's label, stripped, if the store can hold it on every backend: 1 to
    ``MAX_LABEL`` characters (PostgreSQL refuses a longer one, SQLite would keep it), without a
    NUL (PostgreSQL refuses it in text, SQLite keeps it) or a lone surrogate (which no UTF-8
    text holds). Refused here, naming the field and the rule, rather than by the database."""
    text = label.strip()
    if rule := unstorable(text):
        raise ValidationError(f"token label: {UNSTORABLE[rule]}", location="label", rule=rule)
    if not 1 <= len(text) <= MAX_LABEL:
        raise ValidationError(
            f"token label: 1 to {MAX_LABEL} characters", location="label", rule="label-length"
        )
    return text


def create_token(
    session: Session, name: str, label: str, actor: Actor, *, days: int = DEFAULT_TOKEN_DAYS
) -> IssuedToken:
    """A new token for ``name``, valid for ``days`` days.

    For an account that signs in with a password, only the person creates one, signed in with
    the password (a session; the account's API tokens page), or an operator at the command
    line. Never with a token of the same account: a token able to make its successor could be
    kept working for ever, which is what expiry prevents."""
    user = get_user(session, name)
    if user.disabled:
        raise SafeguardingError(f"account {name!r} is disabled")
    if actor.role != audit.CLI_ROLE:
        if user.password_hash is not None and actor.name != name:
            raise ValidationError(
                f"account {name!r} signs in with a password, so a token for it would act as"
                f" that person: only {name} may create one, signed in (their API tokens page),"
                " or an operator, with `safeguarding token create` on the server",
                location="name",
                rule="token-owner-only",
            )
        if actor.name == name and actor.via != "session":
            raise ValidationError(
                f"account {name!r}: its tokens are created signed in with its password (the"
                " API tokens page) or by an administrator, not with one of its own tokens, so"
                " that no token can renew itself",
                location="name",
                rule="token-from-session",
            )
    label = check_label(label)
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationError(
            f"token lifetime: 1 to {MAX_TOKEN_DAYS} days", location="days", rule="token-lifetime"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = now()
    row = ApiTokenRow(
        token_hash=sha256_hex(secret),
        user_id=user.id,
        label=label,
        created=created,
        expires_at=created + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "token.create",
        "token",
        str(row.id),
        {"user": name, "expires": row.expires_at.isoformat(timespec="seconds")},
    )
    return IssuedToken(id=row.id, user=name, label=label, secret=secret, expires_at=row.expires_at)


class TokenExpiredError(SafeguardingError):
    """A known, unrevoked token past its expiry: refused, and the caller told why, so that a
    system that stops working says what to do about it. Who gets the next token depends on
    the account (``create_token``): a person who signs in with a password makes it, since an
    administrator is refused; an administrator makes one for an account without a password.
    The message gives both ways, the same for every account: an expired token proves nothing
    about who holds it (old copies are what expiry is for), so naming the way that fits would
    tell anyone holding a copy whether the account is a person's, who signs in."""

    def __init__(self, token_id: int, expired: datetime) -> None:
        super().__init__(
            f"API token {token_id} expired on {expired:%Y-%m-%d %H:%M} UTC; if your account"
            " signs in with a password, create a new one signed in with it (My API tokens,"
            " /account/tokens) or have one made on the server with `safeguarding token create"
            " NAME --label L --days N`; otherwise ask an administrator for a new one"
        )
        self.token_id = token_id
        self.expired = expired


def revoke_token(
    session: Session, token_id: int, actor: Actor, *, owner_id: int | None = None
) -> ApiTokenRow:
    """Revoke a token (again: no change). ``owner_id``: only a token of that account, as when
    people revoke their own; another account's token is "not found", as a missing one is, so
    that nobody learns which ids exist."""
    row = session.get(ApiTokenRow, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        raise NotFoundError(f"no API token with id {token_id}")
    if row.revoked is None:
        row.revoked = now()
        audit.record(session, actor, "token.revoke", "token", str(token_id))
    return row


def list_tokens(session: Session, name: str | None = None) -> list[tuple[ApiTokenRow, str]]:
    query = select(ApiTokenRow, UserRow.name).join(UserRow, UserRow.id == ApiTokenRow.user_id)
    if name is not None:
        query = query.where(UserRow.name == name)
    return [(row, owner) for row, owner in session.execute(query.order_by(ApiTokenRow.id))]


@dataclass(frozen=True)
class TokenHolder:
    """The account a valid token acts for, and which token it is: the audit log names the
    token, so work done with it is told apart from the account's own sessions."""

    user: UserRow
    token_id: int


def authenticate_token(session: Session, secret: str) -> TokenHolder | None:
    """The enabled account owning this unrevoked token, with the token's id, or None; a token
    past its expiry raises ``TokenExpiredError``."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
        return None
    found = session.execute(
        select(ApiTokenRow, UserRow)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .where(ApiTokenRow.token_hash == sha256_hex(secret))
    ).one_or_none()
    if found is None:
        return None
    token, user = found
    if token.revoked is not None or user.disabled:
        return None
    moment = now()
    if aware(token.expires_at) <= moment:
        raise TokenExpiredError(token.id, aware(token.expires_at))
    last = token.last_used
    if last is None or moment - aware(last) > LAST_USED_GRANULARITY:
        token.last_used = moment
    return TokenHolder(user=user, token_id=token.id)


def role_of(user: UserRow) -> Role:
    return Role(user.role)
