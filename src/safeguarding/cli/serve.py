"""``safeguarding serve``: the web app and JSON API under uvicorn."""

from __future__ import annotations

import errno
import socket

import typer

from safeguarding.cli.common import console, given_text, settings
from safeguarding.errors import ValidationError
from safeguarding.store import open_store


def listening(host: str, port: int) -> list[socket.socket]:
    """Sockets listening at ``port`` on every address of ``host``, bound as asyncio binds them
    for uvicorn (``SO_REUSEADDR``; IPv6 sockets for IPv6 only). Bound here, before anything is
    printed, and handed to uvicorn: it bound them itself only after "serving on" had been
    printed, and a port in use then ended the command with exit 3 and uvicorn's log line."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValidationError(f"--host {host}: cannot listen there ({exc.strerror})") from exc
    bound: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, protocol)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen()
    except OSError as exc:
        for sock in bound:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ValidationError(
                f"--port {port}: already in use on {host}; stop what listens there or choose "
                "another port"
            ) from exc
        raise ValidationError(
            f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})"
        ) from exc
    return bound


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the web app and the JSON API (sign in with an account from `user add`).

    Example: safeguarding serve --host 127.0.0.1 --port 8000
    """
    # The web stack is imported here, not with the command line: every other command would pay
    # its start-up (about half a second) for nothing.
    import uvicorn

    from safeguarding.web.app import create_app
    from safeguarding.web.options import WebOptions

    sockets = listening(given_text(host, "--host"), port)
    try:
        # A store that is not there is refused, not made: an empty one, served from a mistyped
        # data directory, would look like a working app with no data in it.
        store = open_store(settings(), must_exist=True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    try:
        options = WebOptions.from_section(store.settings.section("web"))
        app = create_app(store, options)
        # One line however long the database's address: it is copied from here.
        console.print(
            f"serving on http://{host}:{port} (database {store.display_url})", soft_wrap=True
        )
        if options.secure_cookies:
            console.print(
                "cookies are Secure: sign in through an HTTPS proxy, or set "
                "[web] secure_cookies = false for plain HTTP on loopback"
            )
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", server_header=False)
        uvicorn.Server(config).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
        store.dispose()


def register(app: typer.Typer) -> None:
    app.command()(serve)
