"""``safeguarding serve``: the web app and JSON API under uvicorn."""

from __future__ import annotations

import typer

from safeguarding.cli.common import console, settings
from safeguarding.store import open_store


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

    store = open_store(settings())
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
        uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
    finally:
        store.dispose()


def register(app: typer.Typer) -> None:
    app.command()(serve)
