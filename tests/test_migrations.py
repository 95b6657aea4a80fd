from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from supadeploy.errors import MigrationFileError
from supadeploy.migrations import check_name, discover


def touch(folder: Path, name: str, body: str = "select 1;") -> None:
    (folder / name).write_text(body)


def test_discover_orders_versions_as_the_cli_does(tmp_path: Path) -> None:
    # supabase 3.1.0 compares versions as strings (it applies 10_x.sql before 9_x.sql), and so does the push.
    touch(tmp_path, "20240101000000_b.sql")
    touch(tmp_path, "9_a.sql")
    touch(tmp_path, "100_c.sql")
    found = discover(tmp_path)
    assert [m.version for m in found] == ["100", "20240101000000", "9"]
    assert [m.name for m in found] == ["c", "b", "a"]


def test_a_version_the_cli_cannot_repair_is_refused(tmp_path: Path) -> None:
    # `supabase migration repair` reads a version as a 64-bit integer; `db push` takes any digits, so a
    # longer version could be applied and then never marked reverted.
    touch(tmp_path, "9223372036854775807_largest.sql")
    touch(tmp_path, "09223372036854775807_padded.sql")
    assert len(discover(tmp_path)) == 2
    touch(tmp_path, "9223372036854775808_too_large.sql")
    with pytest.raises(MigrationFileError) as caught:
        discover(tmp_path)
    assert str(caught.value).count("9223372036854775808_too_large.sql") == 1
    assert "migration repair" in str(caught.value) and "\n" not in str(caught.value)


def test_hidden_files_and_folders_are_ignored(tmp_path: Path) -> None:
    touch(tmp_path, ".gitkeep", "")
    (tmp_path / "drafts").mkdir()
    touch(tmp_path, "1_one.sql")
    assert [m.filename for m in discover(tmp_path)] == ["1_one.sql"]


@pytest.mark.parametrize("bad", ["badname.sql", "2024_init.SQL", "v1_init.sql", "1-init.sql", "1_.sql", "1_x.txt"])
def test_malformed_file_names_are_refused(tmp_path: Path, bad: str) -> None:
    touch(tmp_path, "1_fine.sql")
    touch(tmp_path, bad)
    with pytest.raises(MigrationFileError) as caught:
        discover(tmp_path)
    assert f"malformed migration file name {bad}" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_duplicate_versions_are_refused_naming_both_files(tmp_path: Path) -> None:
    touch(tmp_path, "20240101000000_create_a.sql")
    touch(tmp_path, "20240101000000_create_b.sql")
    with pytest.raises(MigrationFileError) as caught:
        discover(tmp_path)
    message = str(caught.value)
    assert "duplicate migration version 20240101000000" in message
    assert "create_a.sql" in message and "create_b.sql" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    touch(tmp_path, "junk.sql")
    touch(tmp_path, "5_a.sql")
    touch(tmp_path, "5_b.sql")
    with pytest.raises(MigrationFileError) as caught:
        discover(tmp_path)
    assert len(caught.value.problems) == 2


def test_missing_folder_means_no_migrations(tmp_path: Path) -> None:
    assert discover(tmp_path / "nope") == []


@pytest.mark.parametrize("name", ["add_teams", "v2", "a"])
def test_good_migration_names(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize("name", ["Bad Name", "", "add-teams", "_x", "../escape", "x" * 101, "Teams"])
def test_bad_migration_names(name: str) -> None:
    with pytest.raises(MigrationFileError, match="invalid migration name"):
        check_name(name)


def test_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    touch(tmp_path, "1_a.sql", "create table a();")
    (migration,) = discover(tmp_path)
    assert migration.sha256() == hashlib.sha256(b"create table a();").hexdigest()


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    touch(tmp_path, "1_fine.sql")
    (tmp_path / "2_latin1.sql").write_bytes("-- caf\u00e9\nselect 1;\n".encode("latin-1"))
    with pytest.raises(MigrationFileError) as caught:
        discover(tmp_path)
    assert str(caught.value) == (
        "2_latin1.sql is not UTF-8 text (byte 0xe9 on line 1): PostgreSQL would refuse it; save the file as UTF-8"
    )


def test_a_dangling_symlink_is_named(tmp_path: Path) -> None:
    touch(tmp_path, "1_fine.sql")
    (tmp_path / "2_moved.sql").symlink_to(tmp_path / "elsewhere" / "2_moved.sql")
    with pytest.raises(MigrationFileError) as caught:
        discover(tmp_path)
    assert (
        str(caught.value)
        == f"2_moved.sql is a symbolic link to {tmp_path / 'elsewhere' / '2_moved.sql'}, which does not exist"
    )
