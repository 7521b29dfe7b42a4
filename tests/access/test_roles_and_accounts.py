"""The permission table, accounts and tokens, and their commands."""

from __future__ import annotations

import contextlib
import io
import json
import threading

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from safeguarding.access import accounts, audit
from safeguarding.access.audit import Actor
from safeguarding.access.roles import PERMISSIONS, Role, allowed
from safeguarding.errors import NotFoundError, ValidationError
from safeguarding.store import Store
from safeguarding.store.models.access import UserRow
from tests.cli_runner import invoke
from tests.web.conftest import PASSWORD, SETUP


def test_unknown_roles_and_permissions_are_denied() -> None:
    assert not allowed("superuser", "users.manage")
    assert not allowed(Role.ADMIN, "no.such.permission")
    assert allowed(Role.ADMIN, "users.manage")


def test_providers_and_counsellors_hold_only_their_one_job() -> None:
    for role, only in ((Role.PROVIDER, "report.submit"), (Role.COUNSELLOR, "helpline.entry")):
        held = {p for p in PERMISSIONS if allowed(role, p)}
        assert held == {"account.self", only}


def test_researchers_see_no_individual_records() -> None:
    for permission in ("report.read", "subject.read", "queue.read", "hashlist.read"):
        assert not allowed(Role.RESEARCHER, permission)


@given(st.text(max_size=80))
@example("ana\n")  # ``$`` also matches before a final newline
@example("a" * 64 + "\n")  # ... which made the name longer than its column on PostgreSQL
def test_account_names_follow_the_rule(name: str) -> None:
    valid = accounts.NAME_PATTERN.fullmatch(name) is not None and not name.endswith("\n")
    try:
        accounts.check_name(name)
        accepted = True
    except ValidationError as exc:
        assert exc.rule == "account-name"
        accepted = False
    assert accepted == valid


def test_duplicate_names_short_passwords_and_unknown_roles_are_refused(store: Store) -> None:
    with store.session() as db:
        accounts.add_user(db, "ana", "analyst", None, SETUP)
    for name, role, password, rule in (
        ("ana", "analyst", None, "unique-name"),
        ("bob", "analyst", "short", "password-length"),
        ("bob", "wizard", None, "known-role"),
        ("Bob", "analyst", None, "account-name"),
        ("bob\n", "analyst", None, "account-name"),
    ):
        with pytest.raises(ValidationError) as caught, store.session() as db:
            accounts.add_user(db, name, role, password, SETUP)
        assert caught.value.rule == rule
    with pytest.raises(NotFoundError), store.session() as db:
        accounts.disable_user(db, "nobody", SETUP)


def test_user_and_token_commands(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    added = invoke(capsys, "user", "add", "ana", "--role", "analyst", "--password-stdin")
    assert added.code == 0 and "added ana (analyst, can sign in)" in added.out
    assert invoke(capsys, "user", "add", "prov", "--role", "provider").code == 0
    bad = invoke(capsys, "user", "add", "eve", "--role", "wizard")
    assert bad.code == 2 and "--role" in bad.err
    again = invoke(capsys, "user", "add", "ana", "--role", "analyst")
    assert again.code == 1 and "already exists" in again.err
    listed = json.loads(invoke(capsys, "user", "list", "--json").out)
    assert [(u["name"], u["role"], u["can_sign_in"]) for u in listed] == [
        ("ana", "analyst", True),
        ("prov", "provider", False),
    ]
    created = invoke(capsys, "token", "create", "prov", "--label", "nightly upload")
    assert created.code == 0
    secret = created.out.strip().splitlines()[-1]
    assert secret.startswith("sgt_") and len(secret) > 40
    with store.session() as db:
        held = accounts.authenticate_token(db, secret)
        assert held is not None and held.user.name == "prov"
    tokens = json.loads(invoke(capsys, "token", "list", "--json").out)
    assert [(t["id"], t["user"], t["label"]) for t in tokens] == [(1, "prov", "nightly upload")]
    assert secret not in json.dumps(tokens)
    assert invoke(capsys, "token", "revoke", "1").code == 0
    with store.session() as db:
        assert accounts.authenticate_token(db, secret) is None
    assert invoke(capsys, "token", "revoke", "9").code == 1
    assert invoke(capsys, "user", "disable", "ana").code == 0
    assert json.loads(invoke(capsys, "user", "list", "--json").out)[0]["disabled"] is True
    log = json.loads(invoke(capsys, "audit", "verify", "--json").out)
    assert log["ok"] and log["checked"] == 5  # 2 adds, token create, revoke, disable


def test_the_last_enabled_administrator_is_not_disabled(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody could manage accounts any more: the command line could add an administrator
    again, but the web app would be left without one until someone did. An administrator
    without a password is no such one: it acts only with tokens, which expire."""
    with store.session() as db:
        accounts.add_user(db, "root", "admin", PASSWORD, SETUP)
        accounts.add_user(db, "root2", "admin", PASSWORD, SETUP)
        accounts.add_user(db, "robot", "admin", None, SETUP)
        accounts.add_user(db, "ana", "analyst", None, SETUP)
    assert invoke(capsys, "user", "disable", "root2").code == 0
    refused = invoke(capsys, "user", "disable", "root")
    assert refused.code == 1 and "last enabled administrator who signs in" in refused.err
    with pytest.raises(ValidationError) as caught, store.session() as db:
        accounts.disable_user(db, "root", SETUP)
    assert caught.value.rule == "last-admin"
    assert invoke(capsys, "user", "disable", "robot").code == 0  # not kept either
    assert invoke(capsys, "user", "disable", "ana").code == 0  # other roles: no such rule
    with store.session() as db:
        assert not accounts.get_user(db, "root").disabled
        assert accounts.disable_user(db, "root2", SETUP).disabled  # already: nothing to refuse


def test_two_administrators_disabling_each_other_at_once_leave_one_enabled(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request counts two enabled administrators, so each alone may go ahead; they must
    not both. Both are held after counting until the other has counted too, or for a second:
    without a lock taken before the count (SQLite took none) both counted two and both were
    disabled; with it, the second waits for the first to commit and is then refused."""
    with store.session() as db:
        accounts.add_user(db, "root", "admin", PASSWORD, SETUP)
        accounts.add_user(db, "root2", "admin", PASSWORD, SETUP)
    counted = threading.Barrier(2, timeout=1)
    count = accounts._keep_an_administrator

    def count_then_wait(session: Session, leaving: UserRow) -> None:
        count(session, leaving)
        # broken after a second when the other one is waiting for the lock, as it should
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait()

    monkeypatch.setattr(accounts, "_keep_an_administrator", count_then_wait)
    outcomes: dict[str, str] = {}

    def disable(actor: str, target: str) -> None:
        try:
            with store.session() as db:
                accounts.disable_user(db, target, Actor(actor, "admin", "test", via="session"))
            outcomes[target] = "disabled"
        except ValidationError as exc:
            outcomes[target] = exc.rule

    threads = [
        threading.Thread(target=disable, args=("root", "root2")),
        threading.Thread(target=disable, args=("root2", "root")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["disabled", "last-admin"]
    with store.session() as db:
        enabled = [u.name for u in accounts.list_users(db) if not u.disabled]
        assert enabled == [next(t for t, o in outcomes.items() if o == "last-admin")]
        disabled = [e.target_id for e in audit.events(db, action="user.disable")]
    assert disabled == [next(t for t, o in outcomes.items() if o == "disabled")]
