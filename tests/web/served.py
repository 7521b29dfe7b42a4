"""The app served by uvicorn on loopback, as ``safeguarding serve`` serves it, for tests that need
a real server (a browser, a second process, requests racing a held lock)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from safeguarding.store import Store
from tests.web.conftest import make_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(store: Store, **options: object) -> Iterator[str]:
    """The app served by uvicorn in a thread, with ``[web]`` ``options``; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(store, **options), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
