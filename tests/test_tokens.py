"""Team API tokens: format, issuing rules, the pre-request, and token identities in the access matrix."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from supadeploy.app import tokens
from supadeploy.dburl import DbUrl

from . import world
from .conftest import ProjectDir, Server, database_from, run_invoke
from .postgrest import ANON, Identity, authenticator_url, request

pytestmark = pytest.mark.e2e


def issue(owner: psycopg.Connection, team: uuid.UUID, scopes: list[str], lifetime: str = "1 day") -> str:
    row = owner.execute(
        "select private.operator_issue_api_token(%s, 'test', %s, %s::interval)", (team, scopes, lifetime)
    ).fetchone()
    return str(row[0])


def issuable(scopes: Collection[str]) -> bool:
    """Whether a token may be issued with these scopes today: each write scope with its read scope."""
    return all(f"{s.split(':')[0]}:read" in scopes for s in scopes if s.endswith(":write"))


def issue_any(owner: psycopg.Connection, team: uuid.UUID, scopes: Collection[str]) -> str:
    """A token with exactly these scopes, even a write scope alone: one issued before that was refused
    (20261126001400), which production may still hold; the policies must bound it all the same."""
    wanted = sorted(scopes)
    if issuable(wanted):
        return issue(owner, team, wanted)
    secret = issue(owner, team, sorted({*wanted, *(f"{s.split(':')[0]}:read" for s in wanted)}))
    owner.execute(
        "update public.api_tokens set scopes = %s where token_hash = extensions.digest(%s, 'sha256')", (wanted, secret)
    )
    return secret


def with_token(token: str | None, label: str = "token") -> Identity:
    """A request with the anon key, presenting the token in x-api-token as PostgREST passes headers."""
    headers = {} if token is None else {"x-api-token": token}
    return Identity(label, "anon", headers=headers)


def tampered(token: str) -> str:
    return token[:-1] + ("Y" if token[-1] == "Z" else "Z")


def run_as_postgrest(api: psycopg.Connection, who: Identity, statement: str, params: dict, method: str) -> str:
    """One request: set role/claims/headers, run the pre-request as PostgREST does, then the statement."""
    with request(api, who, method=method) as c:
        try:
            with c.transaction():
                c.execute("select private.authenticate_api_token()")
        except psycopg.errors.RaiseException as exc:
            return "401" if exc.sqlstate == "PT401" else f"error {exc.sqlstate}"
        except psycopg.Error as exc:
            if exc.sqlstate == "PT401":
                return "401"
            raise
        try:
            with c.transaction():
                cur = c.execute(statement, params)
                touched = len(cur.fetchall()) if cur.description else cur.rowcount
        except psycopg.errors.InsufficientPrivilege:
            return "deny"
        return "allow" if touched >= 1 else "deny"


@pytest.fixture(scope="module")
def token_world(pg_server: Server, exposure_template: str) -> Iterator[tuple[DbUrl, dict[str, str]]]:
    """Tokens of every kind for team "Vision", in each exposure mode (new entities exposed or not)."""
    with database_from(pg_server, exposure_template, "tok") as url:
        with psycopg.connect(url.raw, autocommit=True) as owner:
            world.build(owner)
            full = ["projects:read", "projects:write", "deployments:read", "deployments:write"]
            made = {
                "valid-scoped": issue(owner, world.TEAM, full),
                "valid-unscoped": issue(owner, world.TEAM, ["projects:read"]),
                "other-team": issue(owner, world.OTHER_TEAM, full),
                "expired": issue(owner, world.TEAM, full),
                "revoked": issue(owner, world.TEAM, full),
            }
            owner.execute(
                "update public.api_tokens set created_at = now() - interval '2 days', "
                "expires_at = now() - interval '1 day' where token_hash = extensions.digest(%s, 'sha256')",
                (made["expired"],),
            )
            owner.execute(
                "update public.api_tokens set revoked_at = now() where token_hash = extensions.digest(%s, 'sha256')",
                (made["revoked"],),
            )
            made["bad-checksum"] = tampered(made["valid-scoped"])
        yield url, made


STATEMENTS = {
    ("deployments", "select"): "select id from public.deployments where id = %(deployment)s",
    ("deployments", "insert"): "insert into public.deployments (project_id, team_id, environment) "
    "values (%(project)s, %(team)s, 'production')",
    ("deployments", "update"): "update public.deployments set status = 'failed' where id = %(deployment)s",
    ("deployments", "delete"): "delete from public.deployments where id = %(deployment)s",
    ("projects", "select"): "select id from public.projects where id = %(project)s",
    ("projects", "insert"): "insert into public.projects (team_id, name) values (%(team)s, 'from ci')",
    ("projects", "update"): "update public.projects set name = 'renamed' where id = %(project)s",
    ("projects", "delete"): "delete from public.projects where id = %(project)s",
}
METHODS = {"select": "GET", "insert": "POST", "update": "PATCH", "delete": "DELETE"}
EXPECTED = {
    "valid-scoped": {
        ("deployments", "select"): "allow",
        ("deployments", "insert"): "allow",
        ("deployments", "update"): "allow",
        ("projects", "select"): "allow",
        ("projects", "insert"): "allow",
        ("projects", "update"): "allow",
    },
    "valid-unscoped": {("projects", "select"): "allow"},
    "other-team": {},
    "no-token": {},
    "expired": "401",
    "revoked": "401",
    "bad-checksum": "401",
}
CELLS = [(who, table, op) for who in EXPECTED for (table, op) in STATEMENTS]


@pytest.mark.parametrize(("who", "table", "op"), CELLS, ids=[f"{w}-{t}-{o}" for w, t, o in CELLS])
def test_token_access(token_world: tuple[DbUrl, dict[str, str]], who: str, table: str, op: str) -> None:
    url, made = token_world
    params = {"deployment": world.DEPLOYMENT, "project": world.PROJECT, "team": world.TEAM}
    identity = with_token(made.get(who))
    with psycopg.connect(authenticator_url(url).raw, autocommit=True) as api:
        outcome = run_as_postgrest(api, identity, STATEMENTS[(table, op)], params, METHODS[op])
    expected = EXPECTED[who]
    assert outcome == (expected if isinstance(expected, str) else expected.get((table, op), "deny"))


def visible(c: psycopg.Connection, table: str = "deployments") -> set[uuid.UUID]:
    """The teams whose rows of `table` this request sees."""
    return {t for (t,) in c.execute(sql.SQL("select team_id from {}").format(sql.Identifier("public", table)))}


def test_what_the_pre_request_holds_counts_only_for_the_token_presented(
    token_world: tuple[DbUrl, dict[str, str]],
) -> None:
    url, made = token_world
    held_for_team = f"{'ab' * 32} {world.TEAM} deployments:read,projects:read"
    with psycopg.connect(authenticator_url(url).raw, autocommit=True) as api:
        # No token, but a held value naming a team: nothing.
        with request(api, with_token(None)) as c:
            c.execute("select set_config('supadeploy.api_token', %s, true)", (held_for_team,))
            assert visible(c) == set()
        # Another team's token, verified, then the held value swapped for a different token's: the
        # helper ignores it and falls back to the presented token's own team.
        with request(api, with_token(made["other-team"])) as c:
            c.execute("select private.authenticate_api_token()")
            c.execute("select set_config('supadeploy.api_token', %s, true)", (held_for_team,))
            assert visible(c, "projects") == {world.OTHER_TEAM}
        # The pre-request holds the team and scopes of the token it verified.
        with request(api, with_token(made["valid-unscoped"])) as c:
            c.execute("select private.authenticate_api_token()")
            held = c.execute("select current_setting('supadeploy.api_token')").fetchone()[0].split(" ")
            assert held[1:] == [str(world.TEAM), "projects:read"]
            assert visible(c) == set()


def test_policies_do_their_own_lookup_when_the_pre_request_did_not_run(
    token_world: tuple[DbUrl, dict[str, str]],
) -> None:
    url, made = token_world
    with psycopg.connect(authenticator_url(url).raw, autocommit=True) as api:
        with request(api, with_token(made["valid-scoped"])) as c:
            assert visible(c) == {world.TEAM}
            assert visible(c, "projects") == {world.TEAM}
        for refused in ("expired", "revoked", "bad-checksum", "valid-unscoped"):
            with request(api, with_token(made[refused])) as c:
                assert visible(c) == set(), refused


def test_format_matches_between_sql_and_python(app_url: DbUrl) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as conn:
        made = [conn.execute("select private.new_api_token()").fetchone()[0] for _ in range(50)]
        for token in made:
            assert token.startswith("vsn_") and len(token) == 40 and tokens.well_formed(token)
            assert conn.execute("select private.api_token_well_formed(%s)", (token,)).fetchone() == (True,)
            assert not tokens.well_formed(tampered(token))
        assert len(set(made)) == 50


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.text(alphabet=tokens.ALPHABET, min_size=30, max_size=30), st.integers(0, 29), st.sampled_from(tokens.ALPHABET)
)
def test_a_changed_character_always_fails_the_checksum(random_part: str, position: int, replacement: str) -> None:
    token = "vsn_" + random_part + tokens.base62(__import__("zlib").crc32(random_part.encode()), 6)
    assert tokens.well_formed(token)
    changed = random_part[:position] + replacement + random_part[position + 1 :]
    assert tokens.well_formed("vsn_" + changed + token[34:]) == (changed == random_part)


def test_only_admins_issue_within_their_role_and_never_with_a_token(app_url: DbUrl) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as owner:
        world.build(owner)
        existing = issue(owner, world.TEAM, ["deployments:read"])
    with psycopg.connect(authenticator_url(app_url).raw, autocommit=True) as api:
        with request(api, world.IDENTITIES["member"], method="POST") as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only team admins"):
                c.execute("select public.create_api_token(%s, 'x', array['deployments:read'])", (world.TEAM,))
        with request(api, world.IDENTITIES["admin"], method="POST") as c:
            secret = c.execute(
                "select public.create_api_token(%s, 'x', array['deployments:read', 'deployments:write'])",
                (world.TEAM,),
            ).fetchone()[0]
            assert tokens.well_formed(secret)
        admin_with_token = Identity(
            "admin", "authenticated", world.ADMIN, world.EMAILS[world.ADMIN], headers={"x-api-token": existing}
        )
        with request(api, admin_with_token, method="POST") as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="cannot create tokens"):
                c.execute("select public.create_api_token(%s, 'x', array['deployments:read'])", (world.TEAM,))
        with request(api, world.IDENTITIES["admin"], method="POST") as c:
            with pytest.raises(psycopg.errors.CheckViolation, match="unknown scope"):
                c.execute("select public.create_api_token(%s, 'x', array['admin:all'])", (world.TEAM,))


WRITE_WITHOUT_READ = [
    (["deployments:write"], "deployments:write needs deployments:read"),
    (["projects:write", "deployments:read", "deployments:write"], "projects:write needs projects:read"),
]


@pytest.mark.parametrize(("scopes", "message"), WRITE_WITHOUT_READ)
def test_a_write_scope_without_its_read_scope_is_refused_on_every_path(
    app_url: DbUrl, project_dir: ProjectDir, scopes: list[str], message: str
) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as owner:
        world.build(owner)
        before = owner.execute("select count(*) from public.api_tokens").fetchone()
        with pytest.raises(psycopg.errors.CheckViolation, match=f"{message} .*: add {message.split()[-1]}"):
            owner.execute("select private.operator_issue_api_token(%s, 'ops', %s, '1 day')", (world.TEAM, scopes))
    with psycopg.connect(authenticator_url(app_url).raw, autocommit=True) as api:
        with request(api, world.IDENTITIES["admin"], method="POST") as c:
            with pytest.raises(psycopg.errors.CheckViolation, match=message):
                c.execute("select public.create_api_token(%s, 'x', %s)", (world.TEAM, scopes))
    project_dir.set_env("local", SUPABASE_DB_URL=app_url.raw)
    ran = run_invoke(
        project_dir, "tokens.create", "--team", str(world.TEAM), "--name", "ci", "--scopes", ",".join(scopes)
    )
    assert ran.returncode == 1, ran.output
    assert ran.stdout == "" and ran.stderr.splitlines() == [
        f"error: {message} (a token updates only rows it may read): add {message.split()[-1]} to --scopes"
    ]
    with psycopg.connect(app_url.raw) as owner:
        assert owner.execute("select count(*) from public.api_tokens").fetchone() == before


def test_no_secret_or_hash_is_readable_by_clients(app_url: DbUrl) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as owner:
        world.build(owner)
    with psycopg.connect(authenticator_url(app_url).raw, autocommit=True) as api:
        with request(api, world.IDENTITIES["owner"]) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("select token_hash from public.api_tokens")
        with request(api, world.IDENTITIES["owner"]) as c:
            assert c.execute("select count(*) from public.api_tokens").fetchone() == (1,)
        with request(api, ANON) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("select id from public.api_tokens")


def test_last_used_is_written_on_writes_at_most_once_a_minute(app_url: DbUrl) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as owner:
        world.build(owner)
        secret = issue(owner, world.TEAM, ["deployments:read"])

    def last_used() -> object:
        with psycopg.connect(app_url.raw) as conn:
            return conn.execute(
                "select last_used_at from public.api_tokens where token_hash = extensions.digest(%s, 'sha256')",
                (secret,),
            ).fetchone()[0]

    def call(read_only: bool) -> None:
        with psycopg.connect(authenticator_url(app_url).raw) as api:
            if read_only:
                api.read_only = True
            api.execute(
                "select set_config('role', 'anon', true), set_config('request.headers', %s, true)",
                (json.dumps({"x-api-token": secret}),),
            )
            api.execute("select private.authenticate_api_token()")
            api.commit()

    call(read_only=True)
    assert last_used() is None  # a GET runs read-only: nothing written, nothing failed
    call(read_only=False)
    first = last_used()
    assert first is not None
    call(read_only=False)
    assert last_used() == first


def test_operator_tasks_print_the_token_once_and_never_the_hash(project_dir: ProjectDir, app_url: DbUrl) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as owner:
        world.build(owner)
    project_dir.set_env("local", SUPABASE_DB_URL=app_url.raw)
    made = run_invoke(
        project_dir,
        "tokens.create",
        "--team",
        str(world.TEAM),
        "--name",
        "deploy bot",
        "--scopes",
        "deployments:read,deployments:write",
        "--expires-in",
        "30d",
    )
    assert made.returncode == 0, made.output
    secret = made.stdout.strip()
    assert tokens.well_formed(secret) and secret not in made.stderr
    listed = run_invoke(project_dir, "tokens.list", "--team", str(world.TEAM), "--json")
    rows = json.loads(listed.stdout)
    mine = next(r for r in rows if r["name"] == "deploy bot")
    assert mine["prefix"] == secret[:8] and mine["revoked_at"] is None
    with psycopg.connect(app_url.raw) as conn:
        (digest,) = conn.execute(
            "select encode(token_hash, 'hex') from public.api_tokens where name = 'deploy bot'"
        ).fetchone()
    for output in (listed.output, run_invoke(project_dir, "tokens.list").output):
        assert secret not in output and digest not in output
    revoked = run_invoke(project_dir, "tokens.revoke", "--id", mine["id"])
    assert revoked.returncode == 0, revoked.output
    bad = [
        run_invoke(project_dir, "tokens.create", "--team", "nope", "--name", "x", "--scopes", "deployments:read"),
        run_invoke(project_dir, "tokens.create", "--team", str(world.TEAM), "--name", "x", "--scopes", "root"),
        run_invoke(
            project_dir,
            "tokens.create",
            "--team",
            str(world.TEAM),
            "--name",
            "x",
            "--scopes",
            "projects:read",
            "--expires-in",
            "forever",
        ),
        run_invoke(project_dir, "tokens.revoke", "--id", str(uuid.uuid4())),
    ]
    for ran in bad:
        assert ran.returncode == 1 and ran.stderr.startswith("error: ") and "Traceback" not in ran.output


TEAMS = [world.TEAM, world.OTHER_TEAM]
ALL_SCOPES = list(tokens.SCOPES)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    team=st.sampled_from(TEAMS), scopes=st.sets(st.sampled_from(ALL_SCOPES), min_size=1), target=st.sampled_from(TEAMS)
)
def test_a_token_never_reaches_outside_its_team_and_scopes(
    token_world: tuple[DbUrl, dict[str, str]], team: uuid.UUID, scopes: set[str], target: uuid.UUID
) -> None:
    url, _ = token_world
    with psycopg.connect(url.raw, autocommit=True) as owner:
        secret = issue_any(owner, team, scopes)
    try:
        who = with_token(secret)
        with psycopg.connect(authenticator_url(url).raw, autocommit=True) as api:
            with request(api, who) as c:
                c.execute("select private.authenticate_api_token()")
                for table in ("projects", "deployments"):
                    seen = {t for (t,) in c.execute(f"select team_id from public.{table}")}  # noqa: S608
                    readable = f"{table}:read" in scopes
                    assert seen <= ({team} if readable else set()), (table, seen)
            for table, insert in (
                ("projects", "insert into public.projects (team_id, name) values (%(t)s, 'p')"),
                (
                    "deployments",
                    "insert into public.deployments (project_id, team_id, environment) "
                    "select id, team_id, 'local' from public.projects where team_id = %(t)s limit 1",
                ),
            ):
                may_write = f"{table}:write" in scopes and target == team
                with request(api, who, method="POST") as c:
                    c.execute("select private.authenticate_api_token()")
                    try:
                        with c.transaction():
                            written = c.execute(insert, {"t": target}).rowcount
                    except psycopg.errors.InsufficientPrivilege:
                        written = 0
                    if not may_write:
                        assert written == 0, (table, scopes, team, target)
                with request(api, who, method="PATCH") as c:
                    c.execute("select private.authenticate_api_token()")
                    column = "name" if table == "projects" else "status"
                    changed = c.execute(
                        f"update public.{table} set {column} = {column} where team_id = %s",  # noqa: S608
                        (target,),
                    ).rowcount
                    if not may_write:
                        assert changed == 0
                with request(api, who, method="DELETE") as c:
                    c.execute("select private.authenticate_api_token()")
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # tokens never delete
                        c.execute(f"delete from public.{table} where team_id = %s", (target,))  # noqa: S608
    finally:
        with psycopg.connect(url.raw, autocommit=True) as owner:
            owner.execute("delete from public.api_tokens where token_hash = extensions.digest(%s, 'sha256')", (secret,))
