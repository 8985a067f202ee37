"""The CLI for people: signup, --version, shell completion, XDG_CONFIG_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import PASSWORD, ServerProcess, run_server, unique_name
from tufsync import __version__


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose signup key is generated into its data dir (as ``./run.sh`` does)."""
    with run_server(tmp_path_factory.mktemp("people"), {"TUFSYNC_SIGNUP_KEY": ""}) as server:
        yield server


def tufsync(
    *args: str, env: dict[str, str], cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TUFSYNC_", "XDG_"))}
    done = subprocess.run(
        [sys.executable, "-m", "tufsync", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert done.returncode == 0, done.stderr + done.stdout
    return done


def test_signup_login_and_config_under_xdg(local_server: ServerProcess, tmp_path: Path) -> None:
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}
    admin = unique_name("ppl")
    url = ["--url", local_server.url]

    # No key given and no local data dir with one: a sentence saying where to find it.
    missing = tufsync(
        "signup", "-u", admin, "-p", PASSWORD, *url, env=env, cwd=tmp_path, check=False
    )
    assert missing.returncode == 1 and "--signup-key" in missing.stderr
    wrong = tufsync(
        "signup",
        "-u",
        admin,
        "-p",
        PASSWORD,
        "--signup-key",
        "nope",
        *url,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert wrong.returncode == 1 and "401" in wrong.stderr

    # Next to the server's data dir the key is read from secrets.json.
    local = {**env, "TUFSYNC_DATA_DIR": str(local_server.data_dir)}
    created = tufsync("signup", "-u", admin, "-p", PASSWORD, *url, env=local, cwd=tmp_path)
    assert f"account {admin} created" in created.stdout
    taken = tufsync(
        "signup", "-u", admin, "-p", PASSWORD, *url, env=local, cwd=tmp_path, check=False
    )
    assert taken.returncode == 1 and "409" in taken.stderr

    tufsync("login", "-u", admin, "-p", PASSWORD, *url, env=env, cwd=tmp_path)
    assert (xdg / "tufsync" / "cli.json").is_file()
    assert (xdg / "tufsync" / "cli.json").stat().st_mode & 0o777 == 0o600
    assert not (home / ".config").exists()
    # A relative XDG_CONFIG_HOME is ignored (XDG base directory rule): ~/.config is used.
    relative = {"HOME": str(home), "XDG_CONFIG_HOME": "relative/dir"}
    tufsync("login", "-u", admin, "-p", PASSWORD, *url, env=relative, cwd=tmp_path)
    assert (home / ".config" / "tufsync" / "cli.json").is_file()
    assert not (tmp_path / "relative").exists()
    # The saved token works for the other commands.
    audit = tufsync("audit", "--app", "none", env=env, cwd=tmp_path, check=False)
    assert audit.returncode == 1 and "404" in audit.stderr


def test_version_and_completion(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert tufsync("--version", env=env, cwd=tmp_path).stdout.strip() == f"tufsync {__version__}"
    script = tufsync("--show-completion", "bash", env=env, cwd=tmp_path).stdout
    assert "_TUFSYNC_COMPLETE" in script and "complete" in script
    listed = tufsync(
        env={
            **env,
            "_TUFSYNC_COMPLETE": "complete_bash",
            "COMP_WORDS": "tufsync au",
            "COMP_CWORD": "1",
        },
        cwd=tmp_path,
    ).stdout
    assert "audit" in listed.split()
    help_text = tufsync("--help", env=env, cwd=tmp_path).stdout
    assert "--install-completion" in help_text
