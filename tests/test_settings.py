"""Settings: one typed value per environment, parsed once, from files and an explicit list of process variables."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from supadeploy import settings
from supadeploy.errors import ConfigError
from supadeploy.settings import ProcessSettings, load

from .conftest import REPO

URL = "postgresql://u:pw@db:5432/app"


def write(root: Path, name: str, **values: str) -> None:
    (root / name).write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def test_defaults_for_a_bare_local(tmp_path: Path) -> None:
    local = load(tmp_path, "local", {})
    assert local.db_url.masked == "postgresql://postgres:****@127.0.0.1:54322/postgres"
    assert (local.lock_wait, local.lock_timeout, local.statement_timeout, local.lock_retries) == (
        600.0,
        "500ms",
        "15min",
        10,
    )
    assert (local.local_backend, local.protected, local.secret_key, local.nova_url) == ("auto", False, None, None)


def test_the_service_secrets_exported_in_the_process_are_read(tmp_path: Path) -> None:
    # The bug this replaces: SUPABASE_URL and the service key were read from .env files only, so CI's were ignored.
    write(tmp_path, ".env.staging", SUPABASE_DB_URL=URL)
    environ = {"SUPABASE_URL": "https://ref.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "legacy-jwt"}
    staging = load(tmp_path, "staging", environ)
    assert (staging.api_url, staging.secret_key) == ("https://ref.supabase.co", "legacy-jwt")
    newer = load(tmp_path, "staging", {**environ, "SUPABASE_SECRET_KEY": "sb_secret_abc"})
    assert newer.secret_key == "sb_secret_abc"  # the new key wins over the legacy one
    assert "sb_secret_abc" not in repr(newer) and "legacy-jwt" not in repr(staging) and ":pw@" not in repr(newer)


def test_nova_url_comes_from_the_env_files_too(tmp_path: Path) -> None:
    write(tmp_path, ".env", NOVA_DATABASE_URL="postgresql://nova:n0va@neon:5432/nova")
    local = load(tmp_path, "local", {})
    assert local.nova_url is not None and local.nova_url.host == "neon"
    exported = load(tmp_path, "local", {"NOVA_DATABASE_URL": "postgresql://nova:x@elsewhere/nova"})
    assert exported.nova_url is not None and exported.nova_url.host == "elsewhere"


def test_files_then_process_with_sources(tmp_path: Path) -> None:
    write(tmp_path, ".env", SUPABASE_DB_URL=URL, SUPADEPLOY_LOCK_WAIT="30")
    write(tmp_path, ".env.qa", SUPADEPLOY_LOCK_WAIT="45", SUPADEPLOY_LOCK_TIMEOUT="300ms")
    qa = load(tmp_path, "qa", {"SUPADEPLOY_LOCK_RETRIES": "1", "SUPADEPLOY_SOMETHING_ELSE": "x"})
    assert (qa.lock_wait, qa.lock_timeout, qa.lock_retries, qa.db_url_source) == (45.0, "300ms", 1, ".env")
    named = load(tmp_path, "qa", {"SUPABASE_DB_URL": "postgresql://u@generic/x", "SUPABASE_DB_URL_QA": URL})
    assert (named.db_url.host, named.db_url_source) == ("db", "SUPABASE_DB_URL_QA")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SUPADEPLOY_LOCK_WAIT", "soon", "SUPADEPLOY_LOCK_WAIT must be a number of seconds"),
        ("SUPADEPLOY_LOCK_WAIT", "-1", "must not be negative"),
        ("SUPADEPLOY_LOCAL_PORT", "port", "SUPADEPLOY_LOCAL_PORT must be a whole number"),
        ("SUPADEPLOY_LOCAL_PORT", "70000", "between 1 and 65535"),
        ("SUPADEPLOY_LOCK_RETRIES", "many", "SUPADEPLOY_LOCK_RETRIES must be a whole number"),
        ("SUPADEPLOY_LOCK_TIMEOUT", "5 s; drop table x", "SUPADEPLOY_LOCK_TIMEOUT must be a PostgreSQL duration"),
        ("SUPADEPLOY_PROTECTED", "maybe", "SUPADEPLOY_PROTECTED must be true or false"),
        ("SUPADEPLOY_LOCAL_BACKEND", "podman", "must be auto, docker or cluster"),
        ("SUPADEPLOY_SCRATCH_URL", "mysql://u:s3cret@h/db", "SUPADEPLOY_SCRATCH_URL must start with postgresql://"),
        ("SUPABASE_DB_URL", "host=h password=s3cret port=x", "SUPABASE_DB_URL has an invalid port"),
    ],
)
def test_a_malformed_value_names_its_variable(tmp_path: Path, variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)) as caught:
        load(tmp_path, "local", {variable: value})
    assert "s3cret" not in str(caught.value)


def test_production_is_protected_whatever_the_variable_says(tmp_path: Path) -> None:
    write(tmp_path, ".env.production", SUPABASE_DB_URL=URL, SUPADEPLOY_PROTECTED="false")
    assert load(tmp_path, "production", {}, always_protected=True).protected
    assert not load(tmp_path, "production", {}).protected


def test_process_settings() -> None:
    parsed = ProcessSettings.from_environ(
        {"SUPADEPLOY_DEBUG": "1", "GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat", "GITHUB_SHA": "abc"}
    )
    assert (parsed.debug, parsed.github_actions, parsed.actor, parsed.sha, parsed.step_summary) == (
        True,
        True,
        "octocat",
        "abc",
        None,
    )
    assert ProcessSettings.from_environ({"SUPADEPLOY_DEBUG": "yes"}).debug is False


def test_every_variable_the_code_reads_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    read = settings.variables_read()
    assert {"SUPABASE_DB_URL", "SUPABASE_SECRET_KEY", "NOVA_DATABASE_URL", "GITHUB_SHA"} <= read
    assert sorted(name for name in read if f"`{name}`" not in readme) == []


ENVIRON_READS = ("environ", "getenv", "environb")


def test_no_module_but_settings_reads_the_environment_by_name() -> None:
    """So that variables_read() above sees every read: elsewhere os.environ may only be copied whole."""
    offenders = []
    for path in sorted((REPO / "src" / "supadeploy").rglob("*.py")):
        if path.name == "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            target = None
            if isinstance(node, ast.Subscript):
                target = node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get",):
                target = node.func.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "getenv":
                target = node.func
            if target is None:
                continue
            text = ast.unparse(target)
            if any(text.endswith(name) for name in ENVIRON_READS):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


def test_an_env_file_that_is_not_utf8_is_named_in_one_line(tmp_path: Path) -> None:
    # Windows editors save UTF-16 with a byte order mark; the file's secret never reaches the message.
    secret = "Sekr1t-utf16-pw"
    (tmp_path / ".env.staging").write_text(f"SUPABASE_DB_URL=postgresql://u:{secret}@db/app\n", encoding="utf-16")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "staging", {})
    message = str(caught.value)
    assert ".env.staging is not UTF-8 text" in message and "\n" not in message and secret not in message
