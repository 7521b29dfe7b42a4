"""``safeguarding user``, ``token``, ``audit`` and ``serve``: accounts, API tokens, the audit log,
and the web app.

Changes made here are recorded in the audit log with the operating-system user as the actor.
"""

from __future__ import annotations

import sys
from datetime import datetime

import typer

from safeguarding.access import accounts
from safeguarding.access.audit import cli_actor
from safeguarding.access.roles import Role
from safeguarding.cli import audit as audit_cli
from safeguarding.cli import serve as serve_cli
from safeguarding.cli.common import console, print_json, print_table, store
from safeguarding.errors import ValidationError
from safeguarding.store.base import ROW_ID_MAX
from safeguarding.store.models.access import ApiTokenRow

user_app = typer.Typer(help="Accounts of the web app and API.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)

ROLES = ", ".join(r.value for r in Role)


def _read_password() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise ValidationError(
            "password: nothing on standard input", location="stdin", rule="password-length"
        )
    return password


@user_app.command("add")
def add(
    name: str = typer.Argument(..., help="Account name: lower-case letters, digits, . _ -"),
    role: str = typer.Option(..., "--role", help=f"One of: {ROLES}."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password (12+ characters) from standard input."
    ),
) -> None:
    """Add an account. Without a password it can use API tokens but cannot sign in.

    Example: printf '%s\\n' "$PASSWORD" | safeguarding user add ana --role analyst --password-stdin
    """
    if role not in {r.value for r in Role}:
        raise typer.BadParameter(f"must be one of {ROLES}", param_hint="--role")
    password = _read_password() if password_stdin else None
    with store() as opened, opened.session() as db:
        user = accounts.add_user(db, name, role, password, cli_actor())
        signs_in = "can sign in" if user.password_hash else "API tokens only"
    console.print(f"added {name} ({role}, {signs_in})")


@user_app.command("list")
def list_users(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the accounts.

    Example: safeguarding user list --json
    """
    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as db:
        rows = [
            {
                "name": u.name,
                "role": u.role,
                "disabled": u.disabled,
                "can_sign_in": u.password_hash is not None,
                "created": u.created,
            }
            for u in accounts.list_users(db)
        ]
    if json_out:
        print_json(rows)
        return
    print_table(
        f"{len(rows)} accounts",
        ["name", "role", "status", "signs in", "created"],
        (
            [
                r["name"],
                r["role"],
                "disabled" if r["disabled"] else "active",
                "yes" if r["can_sign_in"] else "API only",
                f"{r['created']:%Y-%m-%d %H:%M}",
            ]
            for r in rows
        ),
    )


@user_app.command("disable")
def disable(name: str = typer.Argument(..., help="The account to disable.")) -> None:
    """Disable an account: it can no longer sign in, and its sessions and tokens stop working.

    Example: safeguarding user disable ana
    """
    with store(must_exist=True) as opened, opened.session() as db:
        accounts.disable_user(db, name, cli_actor())
    console.print(f"disabled {name}")


@user_app.command("password")
def password(
    name: str = typer.Argument(..., help="The account."),
) -> None:
    """Set an account's password, read from standard input (12+ characters).

    Example: printf '%s\\n' "$PASSWORD" | safeguarding user password ana
    """
    secret = _read_password()
    with store(must_exist=True) as opened, opened.session() as db:
        accounts.set_password(db, name, secret, cli_actor())
    console.print(f"password of {name} set")


@token_app.command("create")
def create(
    name: str = typer.Argument(..., help="The account the token acts as."),
    label: str = typer.Option(..., "--label", help="What the token is for, e.g. the system."),
    days: int = typer.Option(
        accounts.DEFAULT_TOKEN_DAYS,
        "--days",
        help=f"How long the token works (1 to {accounts.MAX_TOKEN_DAYS} days).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an API token and print it once; only its SHA-256 is stored. It stops working
    after --days days (default 90): create the next one before then.

    Example: safeguarding token create provider-a --label "nightly upload" --days 365
    """
    with store() as opened, opened.session() as db:
        issued = accounts.create_token(db, name, label, cli_actor(), days=days)
    if json_out:
        print_json(
            {
                "id": issued.id,
                "user": issued.user,
                "label": issued.label,
                "expires_at": issued.expires_at,
                "token": issued.secret,
            }
        )
        return
    console.print(
        f"token {issued.id} for {issued.user} ({issued.label}), expires"
        f" {issued.expires_at:%Y-%m-%d %H:%M} UTC; shown only this once:"
    )
    sys.stdout.write(issued.secret + "\n")


def _token_status(row: ApiTokenRow, moment: datetime) -> str:
    if row.revoked is not None:
        return "revoked"
    return "expired" if accounts.aware(row.expires_at) <= moment else "active"


@token_app.command("list")
def list_tokens(
    name: str | None = typer.Option(None, "--user", help="Only this account's tokens."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List API tokens (never the tokens themselves).

    Example: safeguarding token list --user provider-a
    """
    moment = accounts.now()
    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as db:
        rows = [
            {
                "id": t.id,
                "user": owner,
                "label": t.label,
                "created": t.created,
                "last_used": t.last_used,
                "revoked": t.revoked,
                "expires_at": accounts.aware(t.expires_at),
                "status": _token_status(t, moment),
            }
            for t, owner in accounts.list_tokens(db, name)
        ]
    if json_out:
        print_json(rows)
        return
    print_table(
        f"{len(rows)} tokens",
        ["id", "account", "label", "created", "last used", "expires", "status"],
        (
            [
                r["id"],
                r["user"],
                r["label"],
                f"{r['created']:%Y-%m-%d %H:%M}",
                f"{r['last_used']:%Y-%m-%d %H:%M}" if r["last_used"] else "never",
                f"{r['expires_at']:%Y-%m-%d %H:%M}",
                r["status"],
            ]
            for r in rows
        ),
    )


@token_app.command("revoke")
def revoke(
    token_id: int = typer.Argument(
        ..., min=1, max=ROW_ID_MAX, metavar="TOKEN", help="The token's id (see token list)."
    ),
) -> None:
    """Revoke an API token; calls with it are refused from now on.

    Example: safeguarding token revoke 3
    """
    with store(must_exist=True) as opened, opened.session() as db:
        accounts.revoke_token(db, token_id, cli_actor())
    console.print(f"revoked token {token_id}")


def register(app: typer.Typer) -> None:
    """Add the access commands: user, token, audit and serve."""
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(audit_cli.app, name="audit")
    serve_cli.register(app)
