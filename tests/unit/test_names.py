"""Naming rules: nothing escapes its prefix."""

from __future__ import annotations

import pytest

from tufsync.names import (
    InvalidName,
    check_app_name,
    check_segment,
    check_version,
    file_extension,
    is_public_key,
    is_safe_key,
    target_path,
)


@pytest.mark.parametrize("name", ["..", "a/b", "-a", ".hidden", "a\\b", "a" * 65, "", "a..b"])
def test_bad_app_names(name: str) -> None:
    with pytest.raises(InvalidName):
        check_app_name(name)


def test_good_names() -> None:
    assert check_app_name("my-app.v2_x") == "my-app.v2_x"
    assert check_version("1.0.0+build.5") == "1.0.0+build.5"
    assert check_segment("", "channel") == ""
    with pytest.raises(InvalidName):
        check_segment("a/b", "channel")


def test_extensions() -> None:
    assert file_extension("app.tar.gz") == ".tar.gz"
    assert file_extension("App.DEB") == ".deb"
    assert file_extension("noext") == ""
    assert file_extension("../../evil.sh") == ".sh"
    assert file_extension("x.a-b") == ""


def test_target_path_and_public_keys() -> None:
    path = target_path("bob", "app", "1.0", "default", "linux", "x64", ".deb")
    assert path == "app-bob/default/linux/x64/app-1.0.deb"
    assert is_public_key(path)
    assert is_public_key("tuf_metadata/bob/app/1.root.json")
    for key in (
        "tuf_private/bob/app/settings.json",
        "app-bob/../tuf_private/x",
        "/etc/passwd",
        "app-bob/default/linux/x64/a\x00b",
        "secrets.json",
    ):
        assert not is_public_key(key), key
    assert not is_safe_key("a//b")
