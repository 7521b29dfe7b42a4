"""The ``[web]`` settings: defaults, accepted values, and one clear error for anything else."""

from __future__ import annotations

import pytest

from safeguarding.errors import ConfigError
from safeguarding.web.options import WebOptions


def test_defaults_are_secure() -> None:
    options = WebOptions.from_section({})
    assert options.secure_cookies is True
    assert options.login_burst == 5 and options.session_hours == 8.0
    assert options.threads == 40  # anyio's own default


def test_values_are_taken_with_their_types() -> None:
    options = WebOptions.from_section(
        {"secure_cookies": False, "submit_burst": 10, "login_per_minute": 2}
    )
    assert (options.secure_cookies, options.submit_burst, options.login_per_minute) == (
        False,
        10,
        2.0,
    )
    assert isinstance(options.login_per_minute, float)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"secure_cookie": True}, "unknown setting(s) secure_cookie"),
        ({"secure_cookies": "no"}, "secure_cookies: must be true or false"),
        ({"login_burst": 0}, "login_burst: must be a positive number"),
        ({"session_hours": True}, "session_hours: must be a positive number"),
        ({"submit_per_second": "fast"}, "submit_per_second: must be a positive number"),
        ({"submit_burst": 2.5}, "submit_burst: must be a whole number"),
        ({"threads": 0}, "threads: must be a positive number"),
    ],
)
def test_bad_values_are_refused(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        WebOptions.from_section(section)
