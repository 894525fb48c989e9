"""`pausewatch.settings`: where the settings come from (the environment and options only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from pausewatch.settings import Settings, default_data_dir

DOTENV = "PAUSEWATCH_LOG_ORIGIN=evil.example/log\nPAUSEWATCH_DATA_DIR={evil}\nPAUSEWATCH_PORT=9\n"


def clean_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No PAUSEWATCH_* variables; XDG data under ``home``."""
    for name in list(os.environ):
        if name.startswith("PAUSEWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(home))


def test_dotenv_in_the_working_directory_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A .env file in the working directory is not read: origin, data directory and port keep
    their defaults (ADR 0014)."""
    clean_env(monkeypatch, tmp_path / "xdg")
    (tmp_path / ".env").write_text(DOTENV.format(evil=tmp_path / "evil"))
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.log_origin == "pausewatch.local/log"
    assert settings.data_dir == default_data_dir() == tmp_path / "xdg" / "pausewatch"
    assert settings.port == 8080


def test_environment_still_sets_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PAUSEWATCH_* environment variables still set the settings."""
    clean_env(monkeypatch, tmp_path / "xdg")
    monkeypatch.setenv("PAUSEWATCH_LOG_ORIGIN", "example.org/log")
    monkeypatch.setenv("PAUSEWATCH_DATA_DIR", str(tmp_path / "d"))
    settings = Settings()
    assert (settings.log_origin, settings.data_dir) == ("example.org/log", tmp_path / "d")


def test_cli_ignores_a_dotenv_in_the_working_directory(tmp_path: Path) -> None:
    """`pausewatch keys new`, run where a .env names another data directory, writes the key to
    the default data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAUSEWATCH_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    (tmp_path / ".env").write_text(DOTENV.format(evil=tmp_path / "evil"))
    done = subprocess.run(
        [sys.executable, "-m", "pausewatch.cli", "keys", "new", "clerk"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "xdg" / "pausewatch" / "keys" / "clerk.pub").exists()
    assert not (tmp_path / "evil").exists()


def test_the_upload_lock_timeout_defaults_to_30_s_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``upload_lock_timeout_s`` is 30 s unless PAUSEWATCH_UPLOAD_LOCK_TIMEOUT_S says
    otherwise."""
    clean_env(monkeypatch, tmp_path / "xdg")
    assert Settings().upload_lock_timeout_s == 30.0
    monkeypatch.setenv("PAUSEWATCH_UPLOAD_LOCK_TIMEOUT_S", "2.5")
    assert Settings().upload_lock_timeout_s == 2.5


@pytest.mark.parametrize("seconds", [0, -1.0])
def test_an_upload_lock_timeout_of_zero_or_less_is_refused(
    seconds: float, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No wait at all, or a negative one, is refused: PostgreSQL reads a ``lock_timeout`` of
    0 as no bound."""
    clean_env(monkeypatch, tmp_path / "xdg")
    with pytest.raises(ValidationError, match="upload_lock_timeout_s"):
        Settings(upload_lock_timeout_s=seconds)
