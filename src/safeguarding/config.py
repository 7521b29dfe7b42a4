"""One settings object for the whole system.

Settings come from the environment and, optionally, from a TOML file (``config.toml`` in the data
directory, or the file named by ``SAFEGUARDING_CONFIG``). The environment wins over the file so that
an operator can override a single value without editing files.

Secrets (the pseudonymisation, notes and session keys) never live in the database or in the
settings file: they are random keys in files under ``<home>/secrets/`` with owner-only permissions,
created on first use. Their values are never printed; ``repr`` of the settings hides them. The
store records a fingerprint of each key it was written with, and commands take their keys from
the store (``Store.secret``), which refuses a key that is not that one (``store.keys``).
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from safeguarding.errors import ConfigError
from safeguarding.input_files import UNREADABLE, why_unreadable

ENV_HOME = "SAFEGUARDING_HOME"
ENV_DATABASE_URL = "SAFEGUARDING_DATABASE_URL"
ENV_CONFIG = "SAFEGUARDING_CONFIG"

SECRET_NAMES = ("pseudonym", "session", "notes")
_SECRET_BYTES = 32
# The settings file's tables and the keys each holds (``[web]`` checks its own, in
# ``web.options``). A key spelt wrong would otherwise be ignored without a word, leaving a
# limit such as ``max_image_pixels`` (decompression bombs) at its default.
_SECTION_KEYS: dict[str, frozenset[str] | None] = {
    "triage": frozenset({
        "pdq_threshold", "pdq_min_quality", "flood_share", "flood_min_files", "flood_window",
        "batch_size", "max_document_bytes", "max_image_pixels", "parse_workers", "ip_window_hours",
        "viral_min_reports", "capacity_hours_per_week", "min_cell",
    }),
    "helpline": frozenset({"min_cell", "note_retention_days", "dp_epsilon_budget"}),
    "store": frozenset({"busy_timeout_seconds"}),
    "web": None,
}  # fmt: skip
_KNOWN_FILE_KEYS = {"database_url", "home", *_SECTION_KEYS}


@dataclass(frozen=True)
class Settings:
    """Where the data lives, which database to use, and per-area options from the TOML file."""

    home: Path
    database_url: str
    options: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """Options of one area (``[triage]``, ``[helpline]`` ...) from the settings file."""
        value = self.options.get(name, {})
        return dict(value) if isinstance(value, dict) else {}

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def secret_file(self, name: str) -> Path:
        """Where the named key lives: ``<home>/secrets/NAME.key``."""
        if name not in SECRET_NAMES:
            raise ConfigError(f"unknown secret {name!r}; known: {', '.join(SECRET_NAMES)}")
        return self.secrets_dir / f"{name}.key"

    def secret(self, name: str) -> bytes:
        """The named key, created with owner-only permissions on first use. Commands use
        ``Store.secret``, which also checks the key against the store."""
        return _read_or_create_secret(self.secret_file(name))

    def existing_secret(self, name: str) -> bytes | None:
        """The named key, or None when its file is not there: never creates one, since a new
        key for a store written with another would be silently useless."""
        path = self.secret_file(name)
        try:
            return _read_secret(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot use secret file {path}: {exc.strerror or exc}") from exc

    def ensure_home(self) -> Path:
        """Create the data directory or fail with one clear line if it cannot be written. The
        probe is a temporary file of this process's own: with a fixed name, two commands
        starting together removed each other's and one was told the directory was unwritable.
        A home that is a file is named as such: ``mkdir`` fails on it with "File exists", which
        read as a directory without write permission and sent the user to fix the wrong thing."""
        if self.home.exists() and not self.home.is_dir():
            raise ConfigError(
                f"data directory {self.home} is a file, not a directory; "
                f"set {ENV_HOME} to a directory"
            )
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.home):
                pass
        except OSError as exc:
            raise ConfigError(
                f"data directory {self.home} is not writable ({exc.strerror or exc}); "
                f"set {ENV_HOME} to a writable directory"
            ) from exc
        return self.home


def _read_secret(path: Path) -> bytes:
    """A key file's key, refused when others may read it or it is too short; ``OSError``
    (``FileNotFoundError`` when it is not there) for the caller to word."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"secret file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    data = path.read_bytes()
    if len(data) < _SECRET_BYTES:
        raise ConfigError(f"secret file {path} is shorter than {_SECRET_BYTES} bytes")
    return data


def _read_or_create_secret(path: Path) -> bytes:
    try:
        if path.exists():
            return _read_secret(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = secrets.token_bytes(_SECRET_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return data
    except FileExistsError:
        # Another process created it between our check and our create: read theirs.
        return _read_or_create_secret(path)
    except OSError as exc:
        raise ConfigError(f"cannot use secret file {path}: {exc.strerror or exc}") from exc


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("safeguarding", appauthor=False))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _load_file(path: Path) -> dict[str, Any]:
    try:
        # An editor may start the file with a byte-order mark, which TOML itself refuses.
        data = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except UNREADABLE as exc:
        raise ConfigError(f"{path}: not TOML we read ({why_unreadable(exc)})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read settings file ({exc.strerror or exc})") from exc
    unknown = sorted(set(data) - _KNOWN_FILE_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_KNOWN_FILE_KEYS))}"
        )
    for name in ("database_url", "home"):
        if name in data and not isinstance(data[name], str):
            raise ConfigError(f"{path}: {name} = {data[name]!r}: must be text")
    for name, keys in _SECTION_KEYS.items():
        section = data.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: {name} = {section!r}: must be a table, [{name}]")
        wrong = sorted(set(section) - keys) if keys is not None else []
        if wrong:
            raise ConfigError(
                f"{path}: [{name}] unknown setting(s) {', '.join(wrong)}; "
                f"known: {', '.join(sorted(keys or ()))}"
            )
    return data


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: the process environment) and the optional TOML file."""
    environ = dict(os.environ if env is None else env)
    home_env = environ.get(ENV_HOME)
    home = Path(home_env).expanduser() if home_env else default_home()
    config_path = Path(environ[ENV_CONFIG]) if environ.get(ENV_CONFIG) else home / "config.toml"
    file_data: dict[str, Any] = {}
    if environ.get(ENV_CONFIG) or config_path.is_file():
        file_data = _load_file(config_path)
        if not home_env and isinstance(file_data.get("home"), str):
            home = Path(file_data["home"]).expanduser()
    database_url = (
        environ.get(ENV_DATABASE_URL)
        or (
            file_data.get("database_url")
            if isinstance(file_data.get("database_url"), str)
            else None
        )
        or sqlite_url(home / "safeguarding.db")
    )
    options = {k: v for k, v in file_data.items() if k not in {"home", "database_url"}}
    return Settings(home=home, database_url=str(database_url), options=options)
