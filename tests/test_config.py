"""Settings: environment over file, secrets with owner-only permissions, clear errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from safeguarding.config import load_settings
from safeguarding.errors import ConfigError


def test_environment_sets_home_and_default_sqlite_url(tmp_path: Path) -> None:
    settings = load_settings({"SAFEGUARDING_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'safeguarding.db'}"


def test_environment_wins_over_settings_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'database_url = "sqlite:////from/file.db"\n[triage]\nip_window_hours = 12\n'
    )
    from_file = load_settings({"SAFEGUARDING_HOME": str(tmp_path)})
    assert from_file.database_url == "sqlite:////from/file.db"
    assert from_file.section("triage") == {"ip_window_hours": 12}
    from_env = load_settings(
        {"SAFEGUARDING_HOME": str(tmp_path), "SAFEGUARDING_DATABASE_URL": "sqlite:////env.db"}
    )
    assert from_env.database_url == "sqlite:////env.db"


def test_unknown_setting_in_file_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("databse_url = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting.*databse_url"):
        load_settings({"SAFEGUARDING_HOME": str(tmp_path)})


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[triage]\npdq_treshold = 20\n", r"\[triage\] unknown setting\(s\) pdq_treshold; known: "),
        ("[triage]\nmax_image_pixel = 1\n", r"\[triage\] unknown setting\(s\) max_image_pixel"),
        ("[helpline]\nmin_cel = 3\n", r"\[helpline\] unknown setting\(s\) min_cel"),
        ("[store]\nbusy_timeout = 3\n", r"\[store\] unknown setting\(s\) busy_timeout"),
        ("[hashing]\nmax_image_pixels = 1\n", r"unknown setting\(s\) hashing"),
        ("triage = 5\n", r"triage = 5: must be a table, \[triage\]"),
        ("database_url = 5\n", r"database_url = 5: must be text"),
    ],
)
def test_a_setting_spelt_wrong_or_of_the_wrong_kind_is_refused(
    tmp_path: Path, text: str, said: str
) -> None:
    # Ignored, a mistyped limit (the decompression-bomb one, say) would stay at its default.
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=said):
        load_settings({"SAFEGUARDING_HOME": str(tmp_path)})


def test_broken_settings_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text("database_url = \n")
    with pytest.raises(ConfigError, match="custom.toml: not valid TOML"):
        load_settings({"SAFEGUARDING_HOME": str(tmp_path), "SAFEGUARDING_CONFIG": str(path)})


def test_secret_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    settings = load_settings({"SAFEGUARDING_HOME": str(tmp_path)})
    first = settings.secret("pseudonym")
    assert len(first) == 32
    path = tmp_path / "secrets" / "pseudonym.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.secret("pseudonym") == first
    assert settings.secret("session") != first
    assert first.hex() not in repr(settings)


def test_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = load_settings({"SAFEGUARDING_HOME": str(tmp_path)})
    settings.secret("session")
    path = tmp_path / "secrets" / "session.key"
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        settings.secret("session")


def test_unwritable_home_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = load_settings({"SAFEGUARDING_HOME": str(blocker / "home")})
    with pytest.raises(ConfigError, match="not writable"):
        settings.ensure_home()


def test_the_writable_check_shares_no_file_with_another_process(tmp_path: Path) -> None:
    """Every command checks the data directory by writing a file there. With one fixed name,
    two commands starting together removed each other's probe, and one was told the directory
    was not writable. Here the fixed name is taken (by a directory, so it cannot be written)."""
    (tmp_path / ".write-test").mkdir()
    settings = load_settings({"SAFEGUARDING_HOME": str(tmp_path)})
    assert settings.ensure_home() == tmp_path
    assert sorted(path.name for path in tmp_path.iterdir()) == [".write-test"]
