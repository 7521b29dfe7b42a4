"""Request bodies: small for anyone, larger for signed-in accounts, uploads to their route's cap.

Without the limits an upload to a form route was parsed (and spooled to disk) whatever its size
before the route found out that nobody had signed in; those requests answered 401, now 413.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from fastapi.testclient import TestClient

from safeguarding.access import accounts
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.store.models.access import ApiTokenRow
from safeguarding.web.body_limits import ANONYMOUS_BYTES, DEFAULT_BYTES
from safeguarding.web.routers.platforms import MAX_UPLOAD_BYTES
from tests.web.conftest import SETUP, Account, make_app

MD5 = "0123456789abcdef0123456789abcdef"


def _padded_list(size: int) -> bytes:
    """A valid hash list of one entry, padded with comment lines to ``size`` bytes or more."""
    comment = b"# " + b"-" * 78 + b"\n"
    return b"hash,type\n" + comment * (size // len(comment) + 1) + f"{MD5},md5\n".encode()


def _chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // 4096 + 1):
        yield b"x" * 4096


def test_anonymous_bodies_stop_at_the_small_cap_before_any_route_reads_them(
    store: Store,
) -> None:
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        upload = {"file": ("list.csv", _padded_list(2 * ANONYMOUS_BYTES), "text/csv")}
        for path in ("/api/hashlists", "/hashlists"):
            refused = client.post(path, files=upload, data={"name": "x"})
            assert refused.status_code == 413, path
            assert refused.json() == {
                "detail": f"request body larger than {ANONYMOUS_BYTES} bytes from an account "
                "that is not signed in",
                "rule": "body_too_large",
            }
        streamed = client.post(
            "/api/hashlists",
            content=_chunks(2 * ANONYMOUS_BYTES),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 413
        # a small anonymous body still reaches its route, which asks for a sign-in
        small = client.post("/api/hashlists", files={"file": ("l.csv", b"x")}, data={"name": "x"})
        assert small.status_code == 401


def test_signed_in_bodies_get_their_routes_cap(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    supervisor = {"Authorization": f"Bearer {accounts_by_role[Role.SUPERVISOR].token}"}
    provider = {"Authorization": f"Bearer {accounts_by_role[Role.PROVIDER].token}"}
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        # a hash list may be larger than the default cap
        big_list = _padded_list(2 * DEFAULT_BYTES)
        imported = client.post(
            "/api/hashlists",
            files={"file": ("big.csv", big_list, "text/csv")},
            data={"name": "big", "kind": "known"},
            headers=supervisor,
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()["entries"] == 1
        # a policy may not
        policy = client.post(
            "/api/triage/run",
            files={"policy": ("p.toml", b"#" * (2 * DEFAULT_BYTES), "text/plain")},
            headers=supervisor,
        )
        assert policy.status_code == 413
        assert policy.json()["detail"] == f"request body larger than {DEFAULT_BYTES} bytes"
        # a register is refused by its declared length, not read whole first
        register = client.post(
            "/api/platforms/import?kind=register&filename=r.yaml",
            content=b"#" * (MAX_UPLOAD_BYTES + 1),
            headers=supervisor,
        )
        assert register.status_code == 413
        # a streamed body over the cap is cut off as it comes
        streamed = client.post(
            "/api/platforms/import?kind=register&filename=r.yaml",
            content=_chunks(MAX_UPLOAD_BYTES + 1),
            headers=supervisor,
        )
        assert streamed.status_code == 413
        # report submission keeps its own cap, the intake's document limit
        document = b"<report>" + b" " * (2 * DEFAULT_BYTES) + b"</report>"
        submitted = client.post(
            "/api/reports",
            content=document,
            headers={**provider, "Content-Type": "application/xml"},
        )
        assert submitted.status_code == 422, submitted.text


def test_a_routes_large_cap_is_only_for_roles_that_may_use_the_route(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """Any signed-in account was given a route's large cap: a provider's 40 MiB upload to the
    hash lists was read and spooled whole, then refused 403. A role without the route's
    permission keeps the default cap, so the body is refused by its size before it is read."""
    big_list = _padded_list(2 * DEFAULT_BYTES)
    too_large = {
        "detail": f"request body larger than {DEFAULT_BYTES} bytes",
        "rule": "body_too_large",
    }
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        for role in (Role.PROVIDER, Role.COUNSELLOR, Role.ANALYST, Role.RESEARCHER):
            bearer = {"Authorization": f"Bearer {accounts_by_role[role].token}"}
            upload = client.post(
                "/api/hashlists",
                files={"file": ("big.csv", big_list, "text/csv")},
                data={"name": "big"},
                headers=bearer,
            )
            assert (upload.status_code, upload.json()) == (413, too_large), role
            streamed = client.post(
                "/api/hashlists",
                content=_chunks(2 * DEFAULT_BYTES),
                headers={**bearer, "Content-Type": "multipart/form-data; boundary=b"},
            )
            assert streamed.status_code == 413, role
            # a small body still reaches the route, which refuses the role
            small = client.post(
                "/api/hashlists", files={"file": ("l.csv", b"x")}, data={"name": "x"},
                headers=bearer,
            )  # fmt: skip
            assert small.status_code == 403, role
        analyst = {"Authorization": f"Bearer {accounts_by_role[Role.ANALYST].token}"}
        document = b"<report>" + b" " * (2 * DEFAULT_BYTES) + b"</report>"
        submitted = client.post(
            "/api/reports", content=document, headers={**analyst, "Content-Type": "application/xml"}
        )
        assert (submitted.status_code, submitted.json()) == (413, too_large)


def test_a_refused_token_hears_why_whatever_the_size_of_its_body(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """An upload with an expired token was answered 413, 'from an account that is not signed
    in', so a provider's system whose token ran out was told to send less instead of being told
    to get a new token; it gets the 401 its route gives a small body."""
    with store.session() as db:
        expired = accounts.create_token(db, "provider-one", "old", SETUP)
        row = db.get(ApiTokenRow, expired.id)
        assert row is not None
        row.expires_at = accounts.now() - timedelta(seconds=1)
    unknown = accounts.TOKEN_PREFIX + "x" * 43
    ndjson = {"Content-Type": "application/x-ndjson"}
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        for token in (expired.secret, unknown):
            bearer = {"Authorization": f"Bearer {token}"}
            for path, body in (
                ("/api/reports", b"x" * (3 * ANONYMOUS_BYTES)),
                ("/api/hashlists", _padded_list(3 * ANONYMOUS_BYTES)),
            ):
                small = client.post(path, content=b"x", headers={**bearer, **ndjson})
                large = client.post(path, content=body, headers={**bearer, **ndjson})
                streamed = client.post(path, content=_chunks(len(body)), headers=bearer)
                for response in (large, streamed):
                    assert response.status_code == small.status_code == 401, (path, token)
                    assert response.json() == small.json()
                    assert response.headers["www-authenticate"] == small.headers["www-authenticate"]
            if token == expired.secret:
                assert f"API token {expired.id} expired on" in small.json()["detail"]
                assert small.headers["www-authenticate"] == 'Bearer error="invalid_token"'
