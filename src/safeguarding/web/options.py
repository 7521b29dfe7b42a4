"""The web app's settings: the ``[web]`` section of the settings file, checked once at start."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from safeguarding.errors import ConfigError


@dataclass(frozen=True)
class WebOptions:
    """Cookie, session and rate-limit settings.

    ``secure_cookies`` marks cookies Secure (HTTPS only); switch it off only for plain HTTP on the
    loopback interface. Rate limits are token buckets: ``*_burst`` requests at once, refilled at
    ``*_per_minute`` (login, per account and address; assessment runs on request and monitor
    reports, per account) or ``*_per_second`` (submission, per account and address). A run on
    request costs up to a few seconds of CPU per scenario and a monitor report a few seconds
    whatever its data, so an account cannot keep the server's cores busy with them.
    ``queue_refresh_seconds``: how often the served queue checks for a triage run or outcomes
    recorded elsewhere and rebuilds itself ahead of the next page request.
    ``threads``: the worker threads that do the routes' store and file work (anyio's default,
    40). A write waiting for another process's lock keeps one for up to the busy timeout, and
    with all of them waiting no other page is answered meanwhile: a server that expects more
    writes at once while commands write raises it.
    """

    secure_cookies: bool = True
    session_hours: float = 8.0
    login_burst: int = 5
    login_per_minute: float = 5.0
    submit_burst: int = 200
    submit_per_second: float = 100.0
    assess_run_burst: int = 3
    assess_run_per_minute: float = 6.0
    monitor_burst: int = 5
    monitor_per_minute: float = 6.0
    queue_refresh_seconds: float = 5.0
    threads: int = 40

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> WebOptions:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(section) - set(known))
        if unknown:
            raise ConfigError(
                f"[web]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for name, value in section.items():
            default = getattr(cls, name)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"[web] {name}: must be true or false")
            elif not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"[web] {name}: must be a positive number")
            elif isinstance(default, int) and not isinstance(value, int):
                raise ConfigError(f"[web] {name}: must be a whole number")
            values[name] = type(default)(value)
        return cls(**values)
