"""Naming rules: nothing escapes its prefix."""

from __future__ import annotations

from itertools import product

import pytest
from tuf.api.metadata import DelegatedRole

from tufsync.names import (
    InvalidName,
    check_app_name,
    check_segment,
    check_updater,
    check_version,
    file_extension,
    is_public_key,
    is_safe_key,
    owner_of_path,
    target_path,
    target_patterns,
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
    # As faynoSync's UploadToS3: from the last dot, case kept.
    assert file_extension("app.tar.gz") == ".gz"
    assert file_extension("App.DEB") == ".DEB"
    assert file_extension("x.AppImage") == ".AppImage"
    assert file_extension("noext") == ""
    assert file_extension("../../evil.sh") == ".sh"
    assert file_extension("..\\evil.sh") == ".sh"
    assert file_extension("x.a-b") == ".a-b"
    for hostile in ("x.", "x.a b", "x.-a", "x.a%2f", "x." + "a" * 33, "dir.d/file"):
        assert file_extension(hostile) == "", hostile


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


def test_target_path_leaves_out_empty_segments() -> None:
    for channel, platform, arch in product(("", "beta"), ("", "linux"), ("", "x64")):
        folders = "".join(f"{s}/" for s in (channel, platform, arch) if s)
        path = target_path("bob", "app", "1.0", channel, platform, arch, ".deb")
        assert path == f"app-bob/{folders}app-1.0.deb"
        assert is_public_key(path)


def test_default_delegation_covers_every_depth() -> None:
    role = DelegatedRole("default", [], 1, True, paths=target_patterns("bob", "app"))
    for folders in ("", "a/", "a/b/", "a/b/c/"):
        assert role.is_delegated_path(f"app-bob/{folders}app-1.0.deb"), folders
    assert not role.is_delegated_path("app-bob/a/b/c/d/app-1.0.deb")
    assert not role.is_delegated_path("app-bobby/app-1.0.deb")
    assert not role.is_delegated_path("other-bob/app-1.0.deb")


def test_unoffered_updaters() -> None:
    assert check_updater("") == "" and check_updater("manual") == "manual"
    for updater in ("electron-builder", "squirrel_windows", "velopack", "sparkle", "x"):
        with pytest.raises(InvalidName):
            check_updater(updater)


def test_owner_of_path_reads_admin_and_app_back() -> None:
    path = target_path("bob_1", "my-app.x", "1.0", "beta", "", "", ".deb")
    assert owner_of_path(path) == ("bob_1", "my-app.x")
    for bad in ("p/lost-old", "noslash-bob", "app-bo/x", "-bob/x", "app-b!b/x"):
        assert owner_of_path(bad) is None, bad
