from __future__ import annotations

import pytest

from supadeploy import environments
from supadeploy.dburl import DbUrl
from supadeploy.errors import ConfigError, ConfirmationRequired
from supadeploy.project import Project, find_project

from .conftest import ProjectDir


def project_of(project_dir: ProjectDir) -> Project:
    return Project(project_dir.root)


def test_env_file_overrides_dotenv_and_process_overrides_both(project_dir: ProjectDir) -> None:
    (project_dir.root / ".env").write_text("SUPABASE_DB_URL=postgresql://u:a@base:5432/db\nSUPADEPLOY_PROTECTED=true\n")
    project_dir.set_env("staging", SUPABASE_DB_URL="postgresql://u:b@staging:5432/db")
    proj = project_of(project_dir)
    staging = environments.resolve(proj, "staging", environ={})
    assert staging.url.host == "staging"
    assert staging.source == ".env.staging"
    assert staging.protected  # from .env
    from_ci = environments.resolve(proj, "staging", environ={"SUPABASE_DB_URL": "postgresql://u:c@ci:6000/db"})
    assert (from_ci.url.host, from_ci.url.port) == ("ci", 6000)
    assert from_ci.source == "the process environment"


def test_unrelated_process_variables_are_not_read(project_dir: ProjectDir) -> None:
    project_dir.set_env("staging", SUPABASE_DB_URL="postgresql://u:b@staging:5432/db")
    environ = {"HOME": "/root", "PATH": "/bin", "SUPADEPLOY_UNKNOWN": "x"}
    env = environments.resolve(project_of(project_dir), "staging", environ=environ)
    assert env.url.host == "staging" and env.source == ".env.staging"


def test_local_defaults_to_the_local_backend(project_dir: ProjectDir) -> None:
    local = environments.resolve(project_of(project_dir), "local", environ={"SUPADEPLOY_LOCAL_PORT": "6543"})
    assert local.url.masked == "postgresql://postgres:****@127.0.0.1:6543/postgres"
    assert not local.protected


def test_unknown_environment_names_the_file_to_create(project_dir: ProjectDir) -> None:
    with pytest.raises(ConfigError) as caught:
        environments.resolve(project_of(project_dir), "prod", environ={})
    message = str(caught.value)
    assert "unknown environment 'prod'" in message and ".env.prod" in message
    assert "local, staging, production" in message


def test_missing_url_names_file_and_variable(project_dir: ProjectDir) -> None:
    with pytest.raises(ConfigError, match=r"'staging' has no SUPABASE_DB_URL: set it in \.env\.staging"):
        environments.resolve(project_of(project_dir), "staging", environ={})


def test_malformed_names_are_refused(project_dir: ProjectDir) -> None:
    with pytest.raises(ConfigError, match="invalid environment name"):
        environments.resolve(project_of(project_dir), "../etc", environ={})


def test_custom_environment_from_its_file(project_dir: ProjectDir) -> None:
    project_dir.set_env("qa", SUPABASE_DB_URL="postgresql://u:p@qa:5432/db", SUPADEPLOY_PROTECTED="yes")
    proj = project_of(project_dir)
    assert environments.expand(proj, "all") == ["local", "staging", "production", "qa"]
    qa = environments.resolve(proj, "qa", environ={})
    assert qa.protected


def test_production_is_always_protected(project_dir: ProjectDir) -> None:
    project_dir.set_env("production", SUPABASE_DB_URL="postgresql://u:p@prod:5432/db", SUPADEPLOY_PROTECTED="false")
    assert environments.resolve(project_of(project_dir), "production", environ={}).protected


def test_a_malformed_url_is_refused_without_echoing_it(project_dir: ProjectDir) -> None:
    project_dir.set_env("staging", SUPABASE_DB_URL="host=db password=hunter2 port=nope")
    with pytest.raises(ConfigError) as caught:
        environments.resolve(project_of(project_dir), "staging", environ={})
    assert "hunter2" not in str(caught.value)


def protected_env() -> environments.Environment:
    return environments.Environment.for_url("production", DbUrl.parse("postgresql://u:p@h/db"), protected=True)


def test_protected_needs_yes_when_not_interactive() -> None:
    with pytest.raises(ConfirmationRequired, match="pass --yes"):
        environments.confirm(protected_env(), action="push", yes=False, interactive=False)
    environments.confirm(protected_env(), action="push", yes=True, interactive=False)


def test_interactive_confirmation_needs_the_typed_name() -> None:
    environments.confirm(protected_env(), action="push", yes=False, interactive=True, ask=lambda _: "production")
    with pytest.raises(ConfirmationRequired, match="not confirmed"):
        environments.confirm(protected_env(), action="push", yes=False, interactive=True, ask=lambda _: "y")


def test_unprotected_needs_no_confirmation() -> None:
    env = environments.Environment.for_url("staging", DbUrl.parse("postgresql://u:p@h/db"))
    environments.confirm(env, action="push", yes=False, interactive=False, ask=lambda _: pytest.fail("asked"))


def test_project_found_upward_or_from_variable(project_dir: ProjectDir) -> None:
    nested = project_dir.root / "a" / "b"
    nested.mkdir(parents=True)
    assert find_project(nested, environ={}).root == project_dir.root.resolve()
    assert find_project(environ={"SUPADEPLOY_PROJECT_DIR": str(project_dir.root)}).root == project_dir.root.resolve()
    with pytest.raises(ConfigError, match="no supabase/config.toml"):
        find_project(project_dir.root.parent, environ={})


def test_a_named_process_variable_beats_the_generic_one(project_dir: ProjectDir) -> None:
    proj = project_of(project_dir)
    environ = {
        "SUPABASE_DB_URL": "postgresql://u:p@generic:5432/db",
        "SUPABASE_DB_URL_STAGING": "postgresql://u:p@stage:5432/db",
        "SUPABASE_DB_URL_PRODUCTION": "postgresql://u:p@prod:5432/db",
    }
    assert environments.resolve(proj, "staging", environ=environ).url.host == "stage"
    production = environments.resolve(proj, "production", environ=environ)
    assert (production.url.host, production.source) == ("prod", "SUPABASE_DB_URL_PRODUCTION")
    assert environments.resolve(proj, "local", environ=environ).url.host == "generic"


def test_restore_into_local_needs_nothing_anywhere_else_yes_and_protected_the_typed_name() -> None:
    local = environments.Environment.for_url("local", DbUrl.parse("postgresql://u:p@127.0.0.1/db"))
    environments.confirm_restore(local, yes=False, interactive=False, ask=lambda _: pytest.fail("asked"))
    staging = environments.Environment.for_url("staging", DbUrl.parse("postgresql://u:p@h/db"))
    with pytest.raises(ConfirmationRequired, match="restoring into staging replaces its data: pass --yes"):
        environments.confirm_restore(staging, yes=False, interactive=True, ask=lambda _: "staging")
    environments.confirm_restore(staging, yes=True, interactive=True, ask=lambda _: pytest.fail("asked"))
    production = protected_env()
    environments.confirm_restore(production, yes=True, interactive=False, ask=lambda _: pytest.fail("asked"))
    with pytest.raises(ConfirmationRequired, match="not confirmed"):
        environments.confirm_restore(production, yes=True, interactive=True, ask=lambda _: "yes")
    environments.confirm_restore(production, yes=True, interactive=True, ask=lambda _: "production")


def test_wiping_local_data_asks_as_if_local_were_protected() -> None:
    local = environments.Environment.for_url("local", DbUrl.parse("postgresql://u:p@127.0.0.1/db"))
    with pytest.raises(ConfirmationRequired, match="--yes"):
        environments.confirm_wipe(local, action="delete all local data", yes=False, interactive=False)
    with pytest.raises(ConfirmationRequired, match="not confirmed"):
        environments.confirm_wipe(local, action="delete all local data", yes=False, interactive=True, ask=lambda _: "y")
    environments.confirm_wipe(local, action="delete all local data", yes=False, interactive=True, ask=lambda _: "local")
    environments.confirm_wipe(local, action="delete all local data", yes=True, interactive=False)
