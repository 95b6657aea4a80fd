"""nova.import on real databases: a Nova-like source (tests/nova_layout.sql) into the shipped schema."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from psycopg import sql

from supadeploy.app import nova
from supadeploy.dburl import DbUrl

from . import nova_fixture as fx
from .conftest import ProjectDir, Server, _janitor, run_invoke

pytestmark = pytest.mark.e2e

TARGET_TABLES = ("auth.users", "public.profiles", *(f"public.{t}" for t in nova.TARGET_TABLES))
# api_tokens.token_hash is random per insert and never compared: everything else must be stable.
HASH_FREE = {"public.api_tokens": "token_hash"}


@pytest.fixture(scope="module")
def nova_source(pg_server: Server) -> Iterator[DbUrl]:
    """The Nova-like source database, shared: the import only reads it."""
    with _janitor(pg_server, "nova_source"):
        url = pg_server.url.with_dbname("nova_source")
        with psycopg.connect(url.raw, autocommit=True) as conn:
            fx.build(conn)
            # Read as Nova's own read-only role would, with a password the tests can look for in output.
            conn.execute("drop role if exists nova_reader")
            conn.execute("create role nova_reader login password 'n0va-Reader-pw'")
            conn.execute("grant select on all tables in schema public to nova_reader")
        yield DbUrl.parse(f"postgresql://nova_reader:n0va-Reader-pw@{url.host}:{url.port}/nova_source")


@pytest.fixture
def target(app_url: DbUrl) -> DbUrl:
    """A fresh database with the shipped schema and the Supabase accounts that exist before the import."""
    with psycopg.connect(app_url.raw, autocommit=True) as conn:
        fx.create_accounts(conn)
    return app_url


def snapshot(url: DbUrl) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables the import writes, in a stable order."""
    found = {}
    with psycopg.connect(url.raw) as conn:
        for table in TARGET_TABLES:
            schema, name = table.split(".")
            columns = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
                    "and column_name <> %s order by ordinal_position",
                    (schema, name, HASH_FREE.get(table, "")),
                )
            ]
            query = sql.SQL("select {} from {} order by 1, 2").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(schema, name)
            )
            found[table] = conn.execute(query).fetchall()
    return found


def by_table(report: nova.ImportReport) -> dict[str, nova.TableReport]:
    return {t.table: t for t in report.tables}


def run(source: DbUrl, target: DbUrl, **options: object) -> nova.ImportReport:
    return nova.run_import(source, target, "local", **options)  # type: ignore[arg-type]


def test_every_row_is_imported_or_skipped_with_its_reason(nova_source: DbUrl, target: DbUrl) -> None:
    report = run(nova_source, target)
    tables = by_table(report)
    assert report.balanced
    counts = {name: (t.source_rows, t.inserted, sum(t.skipped.values())) for name, t in tables.items()}
    assert counts == {
        "auth.users": (6, 0, 1),  # Ann twice (case), Bob, Dee, Eve matched; Cho has no account
        "teams": (3, 3, 0),
        "team_members": (8, 4, 4),
        "projects": (3, 2, 1),
        "deployments": (5, 3, 2),
        "api_tokens": (4, 3, 1),
    }
    assert tables["team_members"].skipped == {
        "orphan: team not in Nova": 1,
        "orphan: user not in Nova": 1,
        "same person as another membership (email differs only in case)": 1,
        "user has no Supabase account (--create-users creates it)": 1,
    }
    assert tables["deployments"].skipped == {
        "orphan: project not in Nova": 1,
        "orphan: the project's team is not in Nova": 1,
    }
    assert report.orphans == {
        "Project": ["clx0p00000000000000000032"],
        "Deployment": ["clx0d00000000000000000043", "clx0d00000000000000000044"],
        "ApiToken": ["clx0k00000000000000000053"],
    }
    assert report.users["unmatched"] == ["cho@nova.dev"]
    assert report.users["same_email_different_case"] == [
        {"email": "ann@nova.dev", "nova_ids": ["clx0ann000000000000000001", "clx0ann000000000000000002"]}
    ]
    assert report.owners_assigned == [
        {"team_id": str(nova.nova_uuid("Team", fx.TEAMS[1][0])), "team": "Beta", "owner": "bob@nova.dev"}
    ]
    assert [t["team"] for t in report.teams_without_members] == ["Empty"]
    assert sorted((t["team"], t["tokens"]) for t in report.reissue_tokens) == [
        ("Beta", ["deploy bot"]),
        ("Ålpha Studio 🎨", ["CI"]),
    ]


def test_rows_land_mapped_with_their_unicode_intact(nova_source: DbUrl, target: DbUrl) -> None:
    run(nova_source, target)
    alpha, beta = (nova.nova_uuid("Team", t[0]) for t in fx.TEAMS[:2])
    ann, bob = (
        next(i for i, e in fx.EXISTING_ACCOUNTS.items() if e == email) for email in ("ann@nova.dev", "bob@nova.dev")
    )
    with psycopg.connect(target.raw) as conn:
        assert conn.execute("select name from public.teams where id = %s", (alpha,)).fetchone() == ("Ålpha Studio 🎨",)
        members = conn.execute(
            "select team_id, user_id::text, role::text from public.team_members order by 1, 3 desc"
        ).fetchall()
        assert sorted((t, u, r) for t, u, r in members if t == alpha) == sorted(
            [(alpha, ann, "owner"), (alpha, bob, "member")]
        )
        assert (beta, bob, "owner") in members  # Beta had no owner: its admin became one
        first, second, third = (nova.nova_uuid("Deployment", d[0]) for d in fx.DEPLOYMENTS[:3])
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "select id, environment::text, status::text, commit_sha, created_by::text, started_at <= finished_at "
                "from public.deployments"
            )
        }
        assert rows[first] == ("production", "succeeded", "abcdef1", ann, True)  # second Ann account -> Ann
        assert rows[second] == ("staging", "running", None, bob, None)  # not a sha: dropped
        assert rows[third][:2] == ("local", "failed") and rows[third][4] is True  # finish before start: fixed
        tokens = conn.execute(
            "select display_prefix, revoked_at is not null, cardinality(scopes) from public.api_tokens"
        )
        assert set(tokens.fetchall()) == {("vsn_nova", True, 4)}
        # Nova let "old laptop" live 1010 days: imported, it lives the 366 days a token may.
        lives = conn.execute("select name, expires_at - created_at from public.api_tokens order by name").fetchall()
        assert lives[-1] == ("old laptop", timedelta(days=366))
        assert all(life <= timedelta(days=366) for _, life in lives)
        assert conn.execute("select count(*) from public.projects where name = 'Site ✓'").fetchone() == (1,)


def test_a_rerun_changes_nothing(nova_source: DbUrl, target: DbUrl) -> None:
    run(nova_source, target)
    before = snapshot(target)
    again = run(nova_source, target)
    assert snapshot(target) == before
    assert all(t.inserted == 0 and t.updated == 0 for t in again.tables), again.as_dict()
    assert again.balanced


def test_batches_of_one_row_give_the_same_result(nova_source: DbUrl, target: DbUrl) -> None:
    report = run(nova_source, target, batch_rows=1)
    assert report.balanced and by_table(report)["deployments"].inserted == 3
    assert run(nova_source, target).as_dict()["tables"] == [
        {**t.as_dict(), "inserted": 0, "unchanged": t.imported} for t in report.tables
    ]


def test_a_dry_run_changes_nothing_and_reports_what_the_import_does(nova_source: DbUrl, target: DbUrl) -> None:
    before = snapshot(target)
    dry = run(nova_source, target, dry_run=True, create_users=True)
    assert dry.dry_run and dry.balanced
    assert snapshot(target) == before
    real = run(nova_source, target, create_users=True)
    assert snapshot(target) != before

    def comparable(report: nova.ImportReport) -> dict[str, object]:
        return {k: v for k, v in report.as_dict().items() if k not in ("dry_run", "seconds")}

    assert comparable(dry) == comparable(real)


def test_create_users_makes_accounts_locally_with_stable_ids(nova_source: DbUrl, target: DbUrl) -> None:
    report = run(nova_source, target, create_users=True)
    assert report.users["accounts_created"] == 1 and report.users["unmatched"] == []
    cho = nova.user_uuid("cho@nova.dev")
    with psycopg.connect(target.raw) as conn:
        assert conn.execute("select email from auth.users where id = %s", (cho,)).fetchone() == ("cho@nova.dev",)
        assert conn.execute("select display_name from public.profiles where id = %s", (cho,)).fetchone() == ("趙 Cho",)
        assert conn.execute("select role::text from public.team_members where user_id = %s", (cho,)).fetchone() == (
            "viewer",
        )
    again = run(nova_source, target, create_users=True)
    assert again.users["accounts_created"] == 0
    assert by_table(again)["auth.users"].unchanged == 6


def test_the_task_reports_json_and_refuses_bad_sources(
    project_dir: ProjectDir, nova_source: DbUrl, target: DbUrl, pg_server: Server
) -> None:
    project_dir.set_env("local", SUPABASE_DB_URL=target.raw)
    ran = run_invoke(project_dir, "nova.import", "--json", "--dry-run", NOVA_DATABASE_URL=nova_source.raw)
    assert ran.returncode == 0, ran.output
    payload = json.loads(ran.stdout)
    assert payload["dry_run"] is True and payload["balanced"] is True
    assert 'copy "Deployment"' in ran.stderr  # progress on stderr
    assert nova_source.password not in ran.output and "****" in ran.stderr

    text = run_invoke(project_dir, "nova.import", "--from-url", nova_source.raw)
    assert text.returncode == 0, text.output
    assert "must re-issue: CI" in text.stdout and "Beta" in text.stdout

    with _janitor(pg_server, "nova_empty"):
        empty = pg_server.url.with_dbname("nova_empty")
        wrong = run_invoke(project_dir, "nova.import", "--from-url", empty.raw)
    unreachable = DbUrl.parse(f"postgresql://nova:s3cret-pw@127.0.0.1:{_closed_port()}/nova")
    respelled = target.with_address("localhost" if target.host != "localhost" else "127.0.0.1", target.port)
    for ran, expected in (
        (run_invoke(project_dir, "nova.import"), "no Nova database: pass --from-url or set NOVA_DATABASE_URL"),
        (wrong, 'missing table "User"'),
        (run_invoke(project_dir, "nova.import", "--from-url", unreachable.raw), "127.0.0.1"),
        (run_invoke(project_dir, "nova.import", "--from-url", "mysql://x"), "--from-url must start with postgresql://"),
        (run_invoke(project_dir, "nova.import", "--from-url", target.raw), "are the same database"),
        (run_invoke(project_dir, "nova.import", "--from-url", respelled.raw), "are the same database"),
    ):
        assert ran.returncode == 1, ran.output
        assert ran.stderr.strip().splitlines()[-1].startswith("error: ") and expected in ran.stderr, ran.output
        assert "s3cret-pw" not in ran.output and "Traceback" not in ran.output


def test_a_target_without_the_schema_is_refused_before_anything_is_read(nova_source: DbUrl, db_url: DbUrl) -> None:
    with pytest.raises(nova.NovaImportError, match="push the migrations first"):
        run(nova_source, db_url)


def test_ids_match_between_python_and_sql(target: DbUrl) -> None:
    with psycopg.connect(target.raw) as conn:
        for model, nova_id in (("Team", "clx0tal000000000000000010"), ("Deployment", "ünï-cødé")):
            (in_sql,) = conn.execute(
                "select extensions.uuid_generate_v5(%s::uuid, %s)", (str(nova.NAMESPACE), f"{model}:{nova_id}")
            ).fetchone()
            assert in_sql == nova.nova_uuid(model, nova_id)


def _closed_port() -> int:
    from supadeploy.local_backend import free_port

    return free_port()


class _GoTrue(BaseHTTPRequestHandler):
    """Supabase Auth's admin endpoint, as far as user creation goes: it writes auth.users like GoTrue."""

    target: DbUrl
    seen: list[dict[str, object]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        with psycopg.connect(self.target.raw, autocommit=True) as conn:
            conn.execute(
                "insert into auth.users (id, email, aud, role, raw_user_meta_data, created_at) "
                "values (%s, %s, 'authenticated', 'authenticated', %s, now())",
                (body["id"], body["email"], json.dumps(body["user_metadata"])),
            )
        user = {
            "id": body["id"],
            "email": body["email"],
            "aud": "authenticated",
            "app_metadata": {"provider": "email"},
            "user_metadata": body["user_metadata"],
            "created_at": "2026-11-25T00:00:00Z",
        }
        payload = json.dumps(user).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_create_users_on_a_supabase_project_goes_through_the_auth_admin_api(
    nova_source: DbUrl, target: DbUrl, pg_server: Server
) -> None:
    # GoTrue manages auth: only a superuser (GoTrue's own migrations, here) creates tables there.
    with psycopg.connect(pg_server.admin(target).raw, autocommit=True) as conn:
        conn.execute("create table auth.schema_migrations (version text primary key)")
    with pytest.raises(nova.NovaImportError, match="SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"):
        run(nova_source, target, create_users=True)
    handler = type("GoTrue", (_GoTrue,), {"target": target, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        admin = nova.gotrue_admin(f"http://127.0.0.1:{server.server_port}", "service-role-key-for-tests")
        report = run(nova_source, target, create_users=True, auth_admin=admin)
    finally:
        server.shutdown()
    (call,) = handler.seen
    cho = nova.user_uuid("cho@nova.dev")
    assert call["path"] == "/auth/v1/admin/users" and call["auth"] == "Bearer service-role-key-for-tests"
    assert call["body"]["id"] == str(cho) and call["body"]["email"] == "cho@nova.dev"
    assert report.users["accounts_created"] == 1 and report.users["unmatched"] == []
    assert (
        by_table(report)["team_members"].skipped.get("user has no Supabase account (--create-users creates it)") is None
    )


def test_the_task_reads_the_project_secrets_from_the_process_and_nova_from_the_env_file(
    project_dir: ProjectDir, nova_source: DbUrl, target: DbUrl, pg_server: Server
) -> None:
    # CI exports SUPABASE_URL and the secret key; they used to be read from .env files only, and ignored.
    with psycopg.connect(pg_server.admin(target).raw, autocommit=True) as conn:
        conn.execute("create table auth.schema_migrations (version text primary key)")  # GoTrue manages auth
    project_dir.set_env("local", SUPABASE_DB_URL=target.raw, NOVA_DATABASE_URL=nova_source.raw)
    handler = type("GoTrue", (_GoTrue,), {"target": target, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ran = run_invoke(
            project_dir,
            "nova.import",
            "--create-users",
            "--json",
            SUPABASE_URL=f"http://127.0.0.1:{server.server_port}",
            SUPABASE_SECRET_KEY="sb_secret_for-tests",
        )
    finally:
        server.shutdown()
    assert ran.returncode == 0, ran.output
    (call,) = handler.seen
    assert call["auth"] == "Bearer sb_secret_for-tests" and call["body"]["email"] == "cho@nova.dev"
    assert json.loads(ran.stdout)["users"]["accounts_created"] == 1
    assert "sb_secret_for-tests" not in ran.output and nova_source.password not in ran.output
