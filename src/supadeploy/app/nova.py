"""Import Nova's data (Prisma tables on Neon) into the merged Supabase schema, idempotently.

Data flow: one read-only REPEATABLE READ snapshot of the Nova database is relayed, table by table,
with COPY into temporary staging tables on the target; set-based statements then map ids
(UUIDv5 of "<Model>:<nova id>" in NAMESPACE), match users to auth.users by email and upsert into
public tables, one transaction per batch. A rerun changes nothing. A dry run does all of it inside
one transaction that is rolled back. The Nova layout assumed here is docs/NOVA_IMPORT.md.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, LiteralString, Protocol, TypedDict

import psycopg
from psycopg import sql

from supadeploy.app import DEFAULT_BATCH_ROWS, TOKEN_SCOPES, app_sql
from supadeploy.database import connect, push_lock
from supadeploy.dburl import DbUrl
from supadeploy.errors import NovaImportError

# Fixed forever: changing it would make every rerun insert duplicates.
NAMESPACE = uuid.UUID("97ae8ba2-5f4a-5ad7-9931-eaaa3c5be821")
LISTED = 200  # at most this many ids/emails per list in the report


class Progress(Protocol):
    """Where the import reports how far it is (the task layer draws it with rich)."""

    def start(self, label: str, total: int) -> None:
        """A new step of `total` rows begins."""

    def advance(self, rows: int) -> None:
        """`rows` more rows of the current step are done."""


class _Silent:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass


@dataclass(frozen=True)
class Model:
    """One Nova (Prisma) table: its name and the columns we read, with their staging types."""

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def staging(self) -> sql.Identifier:
        """The temporary staging table on the target."""
        return sql.Identifier("pg_temp", f"nova_{self.name.lower()}")


MODELS = (
    Model("User", (("id", "text"), ("email", "text"), ("name", "text"), ("createdAt", "timestamp"))),
    Model(
        "Team",
        (("id", "text"), ("name", "text"), ("slug", "text"), ("createdAt", "timestamp"), ("updatedAt", "timestamp")),
    ),
    Model(
        "TeamMember",
        (("id", "text"), ("teamId", "text"), ("userId", "text"), ("role", "text"), ("createdAt", "timestamp")),
    ),
    Model(
        "Project",
        (
            ("id", "text"),
            ("teamId", "text"),
            ("name", "text"),
            ("description", "text"),
            ("createdAt", "timestamp"),
            ("updatedAt", "timestamp"),
        ),
    ),
    Model(
        "Deployment",
        (
            ("id", "text"),
            ("projectId", "text"),
            ("target", "text"),
            ("status", "text"),
            ("commitSha", "text"),
            ("url", "text"),
            ("createdById", "text"),
            ("createdAt", "timestamp"),
            ("startedAt", "timestamp"),
            ("finishedAt", "timestamp"),
        ),
    ),
    Model(
        "ApiToken",
        (
            ("id", "text"),
            ("teamId", "text"),
            ("name", "text"),
            ("createdById", "text"),
            ("createdAt", "timestamp"),
            ("expiresAt", "timestamp"),
            ("lastUsedAt", "timestamp"),
            ("revokedAt", "timestamp"),
        ),
    ),
)
BY_NAME = {m.name: m for m in MODELS}
TARGET_TABLES = ("teams", "team_members", "projects", "deployments", "api_tokens")
_WORK_TABLES = ("nova_user_map", "nova_member_plan", "nova_project_map")


def nova_uuid(model: str, nova_id: str) -> uuid.UUID:
    """The Supabase id a Nova row gets (the SQL below computes the same with uuid_generate_v5)."""
    return uuid.uuid5(NAMESPACE, f"{model}:{nova_id}")


def user_uuid(email: str) -> uuid.UUID:
    """The id of an auth user created for a Nova email (one per email, however many Nova users share it)."""
    return uuid.uuid5(NAMESPACE, f"User:{email.strip().lower()}")


@dataclass
class TableReport:
    """Reconciliation of one table: every source row is imported or skipped with a reason."""

    table: str
    source_table: str
    source_rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    target_rows: int = 0

    @property
    def imported(self) -> int:
        """Rows now present in the target from this source table."""
        return self.inserted + self.updated + self.unchanged

    @property
    def balanced(self) -> bool:
        """Every source row is accounted for."""
        return self.source_rows == self.imported + sum(self.skipped.values())

    def as_dict(self) -> dict[str, object]:
        """JSON form, with the derived totals."""
        return {**asdict(self), "imported": self.imported, "balanced": self.balanced}


class UnmatchedUser(TypedDict):
    """A Nova email with no Supabase account: what creating one needs."""

    email: str
    name: str | None
    created_at: datetime
    nova_ids: list[str]


class MergedUsers(TypedDict):
    """Nova users whose emails differ only in case: one Supabase user."""

    email: str
    nova_ids: list[str]


class UsersReport(TypedDict, total=False):
    """How Nova's users met Supabase's."""

    accounts_created: int
    unmatched: list[str]
    unmatched_count: int
    same_email_different_case: list[MergedUsers]


class Reissue(TypedDict):
    """A team whose live Nova tokens arrive revoked and must be issued again."""

    team_id: str
    team: str
    tokens: list[str]


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    source: str
    target: str
    tables: list[TableReport] = field(default_factory=list)
    users: UsersReport = field(default_factory=lambda: UsersReport())
    orphans: dict[str, list[str]] = field(default_factory=dict)
    owners_assigned: list[dict[str, str]] = field(default_factory=list)
    teams_without_members: list[dict[str, str]] = field(default_factory=list)
    reissue_tokens: list[Reissue] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        """Every table reconciles."""
        return all(t.balanced for t in self.tables)

    def as_dict(self) -> dict[str, object]:
        """JSON form (--json)."""
        payload = asdict(self)
        payload["tables"] = [t.as_dict() for t in self.tables]
        payload["balanced"] = self.balanced
        return payload


AuthAdmin = Callable[[list[UnmatchedUser]], int]


def _scalar(cursor: psycopg.Cursor[Any]) -> Any:
    """The first column of the one row a query returns."""
    row = cursor.fetchone()
    assert row is not None, "the query returns one row"
    return row[0]


# -- reading Nova ----------------------------------------------------------------------------------


def check_source(conn: psycopg.Connection, schema: str) -> None:
    """Refuse a source that lacks a table or column the import reads, naming all of them."""
    rows = conn.execute(
        "select table_name, column_name from information_schema.columns where table_schema = %s", (schema,)
    ).fetchall()
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(table, set()).add(column)
    missing = []
    for model in MODELS:
        if model.name not in present:
            missing.append(f'table "{model.name}"')
            continue
        missing += [f'"{model.name}"."{c}"' for c, _ in model.columns if c not in present[model.name]]
    if missing:
        raise NovaImportError(
            f"the source does not have Nova's layout in schema {schema!r}: missing {', '.join(missing)} "
            "(see docs/NOVA_IMPORT.md)"
        )


def check_target(conn: psycopg.Connection) -> None:
    """Refuse a target without the merged schema or uuid-ossp."""
    missing = [
        t
        for t in (*TARGET_TABLES, "auth.users")
        if _scalar(conn.execute("select to_regclass(%s)", (t if "." in t else f"public.{t}",))) is None
    ]
    if missing:
        raise NovaImportError(
            f"the target lacks {', '.join(missing)}: push the migrations first (invoke db.push --env ...)"
        )
    if _scalar(conn.execute("select to_regprocedure('extensions.uuid_generate_v5(uuid, text)')")) is None:
        raise NovaImportError('the target lacks extensions.uuid_generate_v5: create extension "uuid-ossp" first')


def _stage(
    source: psycopg.Connection, target: psycopg.Connection, schema: str, model: Model, progress: Progress
) -> int:
    """Relay one Nova table into its staging table with COPY; returns the number of rows."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c, _ in model.columns)
    target.execute(
        sql.SQL("create temporary table {} ({})").format(
            model.staging,
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in model.columns),
        )
    )
    table = sql.Identifier(schema, model.name)
    total = _scalar(source.execute(sql.SQL("select count(*) from {}").format(table)))
    progress.start(f'copy "{model.name}"', total)
    read = sql.SQL("copy (select {} from {}) to stdout").format(columns, table)
    write = sql.SQL("copy {} ({}) from stdin").format(model.staging, columns)
    with source.cursor().copy(read) as out, target.cursor().copy(write) as into:
        for chunk in out:
            into.write(chunk)
            progress.advance(bytes(chunk).count(b"\n"))
    target.execute(sql.SQL("analyze {}").format(model.staging))
    return int(total)


# -- the set-based steps ---------------------------------------------------------------------------

_NS = sql.Literal(str(NAMESPACE))


def _id(model: str, column: sql.Composable) -> sql.Composed:
    """uuid_generate_v5(NAMESPACE, '<model>:' || column)."""
    return sql.SQL("extensions.uuid_generate_v5({}::uuid, {} || {})").format(_NS, sql.Literal(f"{model}:"), column)


def _utc(column: str, alias: str = "s") -> sql.Composed:
    """Prisma stores DateTime as timestamp(3) in UTC."""
    return sql.SQL("({} at time zone 'UTC')").format(sql.Identifier(alias, column))


def _map_users(conn: psycopg.Connection) -> None:
    conn.execute("drop table if exists pg_temp.nova_user_map")
    conn.execute(app_sql("nova_user_map.sql"))
    conn.execute("create index on pg_temp.nova_user_map (nova_id)")
    conn.execute("analyze pg_temp.nova_user_map")


def _unmatched(conn: psycopg.Connection) -> list[UnmatchedUser]:
    rows = conn.execute(app_sql("nova_unmatched_users.sql")).fetchall()
    return [UnmatchedUser(email=e, name=n, created_at=c, nova_ids=ids) for e, n, c, ids in rows]


def _create_users_directly(conn: psycopg.Connection) -> int:
    """Insert the unmatched users into auth.users (the Docker-free backend, or a rolled-back dry run)."""
    return conn.execute(sql.SQL(app_sql("nova_create_users.sql")).format(ns=_NS)).rowcount


def _gotrue_manages_auth(conn: psycopg.Connection) -> bool:
    """True on a real Supabase project (or `supabase start`): GoTrue's own migrations table exists."""
    return bool(_scalar(conn.execute("select to_regclass('auth.schema_migrations') is not null")))


def _batches(conn: psycopg.Connection, staging: sql.Identifier, rows: int, batch_rows: int) -> Iterator[sql.Composed]:
    """Ctid page ranges of a staging table, about batch_rows rows each (PostgreSQL's TID range scan)."""
    pages = _scalar(
        conn.execute(
            sql.SQL("select greatest(pg_relation_size({}::regclass) / current_setting('block_size')::int, 1)").format(
                sql.Literal(staging.as_string(conn))
            )
        )
    )
    step = max(1, -(-pages * batch_rows // max(rows, 1)))
    for first in range(0, pages, step):
        yield sql.SQL("s.ctid >= {}::tid and s.ctid < {}::tid").format(
            sql.Literal(f"({first},0)"), sql.Literal(f"({first + step},0)")
        )


@dataclass(frozen=True)
class Upsert:
    """How one target table takes its mapped rows: by key, changing only `changeable` columns on a rerun.

    Per batch: an UPDATE of the rows that exist and differ, then an INSERT of those missing (an
    anti-join rather than ON CONFLICT: the push lock keeps other imports out, and uuid5 ids are
    never made by the app, so nothing else inserts these keys; a clash would fail the batch cleanly).
    """

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    changeable: tuple[str, ...]
    rows: str  # app/sql file: selects `columns` (named so) from staging alias s; {where} is the batch predicate

    def _same_key(self) -> sql.Composed:
        """t.<key> = m.<key>, for the target row t and the mapped row m."""
        return sql.SQL(" and ").join(
            sql.SQL("{} = {}").format(sql.Identifier("t", k), sql.Identifier("m", k)) for k in self.key
        )

    def statements(
        self, where: sql.Composable, parts: dict[str, sql.Composable], *, rerun: bool
    ) -> tuple[sql.Composed, sql.Composed]:
        """The UPDATE and the INSERT for one batch; without rerun, the INSERT needs no anti-join."""
        target = sql.Identifier("public", self.table)
        rows = sql.SQL(app_sql(self.rows)).format(where=where, **parts)
        mapped = sql.SQL("(select * from ({}) r offset 0)").format(rows)

        def cols(alias: str, names: tuple[str, ...]) -> sql.Composed:
            return sql.SQL(", ").join(sql.Identifier(alias, n) for n in names)

        same_key = self._same_key()
        update = sql.SQL(
            "update {target} t set ({names}) = row({new}) from {mapped} m "
            "where {same_key} and ({old}) is distinct from ({new})"
        ).format(
            target=target,
            names=sql.SQL(", ").join(sql.Identifier(n) for n in self.changeable),
            new=cols("m", self.changeable),
            old=cols("t", self.changeable),
            mapped=mapped,
            same_key=same_key,
        )
        insert = sql.SQL(
            "insert into {target} ({names}) select {values} from {mapped} m "
            + ("where not exists (select 1 from {target} t where {same_key})" if rerun else "")
        ).format(
            target=target,
            names=sql.SQL(", ").join(sql.Identifier(n) for n in self.columns),
            values=cols("m", self.columns),
            mapped=mapped,
            same_key=same_key,
        )
        return update, insert

    def any_present(self, parts: dict[str, sql.Composable]) -> sql.Composed:
        """Whether any mapped row is already in the target: if none is, no batch needs its UPDATE."""
        mapped = sql.SQL(app_sql(self.rows)).format(where=sql.SQL("true"), **parts)
        same_key = self._same_key()
        # count(*), not exists(): exists() makes the planner pick a fast-start nested loop that is
        # quadratic when nothing matches, which is the common case.
        return sql.SQL(
            "select exists (select 1 from {target})"
            " and (select count(*) from ({mapped}) m join {target} t on {key}) > 0"
        ).format(mapped=mapped, target=sql.Identifier("public", self.table), key=same_key)


def _upsert(
    conn: psycopg.Connection,
    report: TableReport,
    upsert: Upsert,
    parts: dict[str, sql.Composable],
    batches: list[sql.Composable],
    progress: Progress,
) -> None:
    """Run the upsert per batch, each batch in its own transaction (a savepoint inside a dry run)."""
    eligible = report.source_rows - sum(report.skipped.values())
    progress.start(f"upsert {report.table}", eligible)
    done = 0
    # Rows inserted by this run's earlier batches never match a later batch (Nova ids are unique), so
    # only rows present before the run can need an update or block an insert: when there are none,
    # the batches are plain INSERTs.
    rerun = _scalar(conn.execute(upsert.any_present(parts)))
    for number, where in enumerate(batches, start=1):
        update, insert = upsert.statements(where, parts, rerun=rerun)
        with conn.transaction():
            if rerun:
                report.updated += conn.execute(update).rowcount
            report.inserted += conn.execute(insert).rowcount
        share = eligible * number // len(batches) - done
        done += share
        progress.advance(share)
    report.unchanged = eligible - report.inserted - report.updated


def _skips(conn: psycopg.Connection, query: LiteralString) -> dict[str, int]:
    """Count skipped rows per reason: `query` yields (reason or null) per source row."""
    rows = conn.execute(
        sql.SQL("select reason, count(*) from ({}) r where reason is not null group by reason order by reason").format(
            sql.SQL(query)  # shipped with the package, never user input
        )
    ).fetchall()
    return {reason: int(n) for reason, n in rows}


TEAMS = Upsert(
    "teams",
    ("id",),
    ("id", "name", "created_at", "updated_at"),
    ("name", "created_at"),
    "nova_teams.sql",
)

MEMBERS = Upsert(
    "team_members",
    ("team_id", "user_id"),
    ("team_id", "user_id", "role", "created_at"),
    ("role",),
    "nova_members.sql",
)

PROJECTS = Upsert(
    "projects",
    ("id",),
    ("id", "team_id", "name", "description", "created_at", "updated_at"),
    ("name", "description", "created_at"),
    "nova_projects.sql",
)

# Nova's DeploymentTarget/DeploymentStatus enums map onto ours; a commit sha that is not 7-40 hex digits,
# or a url over 2048 characters, becomes null; a finish before the start moves the start to the finish.
DEPLOYMENTS = Upsert(
    "deployments",
    ("id",),
    (
        "id",
        "project_id",
        "team_id",
        "environment",
        "status",
        "commit_sha",
        "url",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ),
    ("status", "commit_sha", "url", "started_at", "finished_at"),
    "nova_deployments.sql",
)

# Nova's secrets cannot become valid vsn_ tokens: each is imported revoked, with a random hash nobody
# knows the preimage of, the display prefix vsn_nova, and every scope (it never authenticates).
TOKENS = Upsert(
    "api_tokens",
    ("id",),
    (
        "id",
        "team_id",
        "name",
        "token_hash",
        "display_prefix",
        "scopes",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ),
    ("name", "last_used_at"),
    "nova_tokens.sql",
)


def _orphans(conn: psycopg.Connection, skips_query: LiteralString) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            sql.SQL("select id from ({}) r where reason like 'orphan:%%' order by id limit {}").format(
                sql.SQL(skips_query), sql.Literal(LISTED)
            )
        )
    ]


def _count(conn: psycopg.Connection, table: str) -> int:
    schema, _, name = table.rpartition(".")
    return int(
        _scalar(conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema or "public", name))))
    )


def _users(
    conn: psycopg.Connection, report: ImportReport, rows: int, create_users: bool, auth_admin: AuthAdmin | None
) -> None:
    table = TableReport("auth.users", "User", source_rows=rows)
    _map_users(conn)
    matched_before = _scalar(conn.execute("select count(*) from pg_temp.nova_user_map where auth_id is not null"))
    created = 0
    if create_users and _unmatched(conn):
        if report.dry_run or not _gotrue_manages_auth(conn):
            created = _create_users_directly(conn)
        elif auth_admin is None:
            raise NovaImportError(
                "--create-users on a Supabase project goes through the Auth admin API: set SUPABASE_URL and "
                f"SUPABASE_SERVICE_ROLE_KEY or the newer SUPABASE_SECRET_KEY for environment {report.target!r}"
            )
        else:
            created = auth_admin(_unmatched(conn))
        _map_users(conn)
    matched_after = _scalar(conn.execute("select count(*) from pg_temp.nova_user_map where auth_id is not null"))
    table.unchanged = int(matched_before)
    table.inserted = int(matched_after - matched_before)
    no_email = int(
        _scalar(conn.execute("select count(*) from pg_temp.nova_user_map where coalesce(email_key, '') = ''"))
    )
    unmatched = _unmatched(conn)
    table.skipped = {
        k: v
        for k, v in {
            "user has no email": no_email,
            "no Supabase account (--create-users creates it)": int(rows - matched_after - no_email),
        }.items()
        if v
    }
    table.target_rows = _count(conn, "auth.users")
    merged = conn.execute(app_sql("nova_merged_users.sql")).fetchall()
    report.tables.append(table)
    report.users = UsersReport(
        accounts_created=created,
        unmatched=[u["email"] for u in unmatched][:LISTED],
        unmatched_count=len(unmatched),
        same_email_different_case=[MergedUsers(email=e, nova_ids=ids) for e, ids in merged][:LISTED],
    )


def _members(conn: psycopg.Connection, report: ImportReport, rows: int, batch_rows: int, progress: Progress) -> None:
    table = TableReport("team_members", "TeamMember", source_rows=rows)
    conn.execute("drop table if exists pg_temp.nova_member_plan")
    conn.execute(sql.SQL(app_sql("nova_member_plan.sql")).format(ns=_NS))
    conn.execute(app_sql("nova_member_deduplicate.sql"))
    conn.execute(app_sql("nova_member_promote.sql"))
    conn.execute("analyze pg_temp.nova_member_plan")
    table.skipped = _skips(conn, "select reason from pg_temp.nova_member_plan")
    plan = sql.Identifier("pg_temp", "nova_member_plan")
    _upsert(conn, table, MEMBERS, {}, list(_batches(conn, plan, rows, batch_rows)), progress)
    table.target_rows = _count(conn, "team_members")
    report.tables.append(table)
    report.owners_assigned = [
        {"team_id": str(team), "team": name, "owner": email}
        for team, name, email in conn.execute(app_sql("nova_owners_assigned.sql"))
    ]
    report.teams_without_members = [
        {"team_id": str(nova_uuid("Team", nova_id)), "team": name, "nova_id": nova_id}
        for nova_id, name in conn.execute(app_sql("nova_teams_without_members.sql"))
    ]


def _table(
    conn: psycopg.Connection,
    report: ImportReport,
    model: Model,
    upsert: Upsert,
    rows: int,
    batch_rows: int,
    progress: Progress,
    skips_query: LiteralString | None = None,
    **parts: sql.Composable,
) -> None:
    table = TableReport(upsert.table, model.name, source_rows=rows)
    if skips_query:
        table.skipped = _skips(conn, skips_query)
        orphans = _orphans(conn, skips_query)
        if orphans:
            report.orphans[model.name] = orphans
    _upsert(conn, table, upsert, parts, list(_batches(conn, model.staging, rows, batch_rows)), progress)
    table.target_rows = _count(conn, upsert.table)
    report.tables.append(table)


def _ids(model: str, column: str, alias: str = "s") -> sql.Composed:
    return _id(model, sql.Identifier(alias, column))


def run_import(
    source_url: DbUrl,
    target_url: DbUrl,
    target_name: str,
    *,
    schema: str = "public",
    dry_run: bool = False,
    create_users: bool = False,
    auth_admin: AuthAdmin | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Progress | None = None,
    lock_wait: float = 600.0,
) -> ImportReport:
    """Import Nova into the target; see the module docstring. Returns the reconciliation report."""
    if batch_rows < 1:
        raise NovaImportError("--batch-rows must be at least 1")
    if source_url.same_database(target_url):  # localhost or 127.0.0.1, the port written out or not
        raise NovaImportError(f"the Nova source and the target are the same database ({target_url.where})")
    progress = progress or _Silent()
    started = time.monotonic()
    report = ImportReport(dry_run=dry_run, source=source_url.masked, target=target_name)
    with ExitStack() as stack:
        source = stack.enter_context(connect(source_url))
        source.read_only = True
        source.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn = stack.enter_context(push_lock(target_url, wait_seconds=lock_wait, work="import"))
        with _source_errors(source, source_url):
            check_target(conn)
            conn.execute("set temp_buffers = '512MB'")
            if dry_run:
                stack.enter_context(conn.transaction(force_rollback=True))
            with source.transaction():  # one snapshot of Nova for every table
                check_source(source, schema)
                rows = {m.name: _stage(source, conn, schema, m, progress) for m in MODELS}
            _users(conn, report, rows["User"], create_users, auth_admin)
            _table(
                conn,
                report,
                BY_NAME["Team"],
                TEAMS,
                rows["Team"],
                batch_rows,
                progress,
                id=_ids("Team", "id"),
                created=_utc("createdAt"),
                updated=_utc("updatedAt"),
            )
            _members(conn, report, rows["TeamMember"], batch_rows, progress)
            _table(
                conn,
                report,
                BY_NAME["Project"],
                PROJECTS,
                rows["Project"],
                batch_rows,
                progress,
                app_sql("nova_project_skips.sql"),
                id=_ids("Project", "id"),
                team=_ids("Team", "teamId"),
                created=_utc("createdAt"),
                updated=_utc("updatedAt"),
            )
            conn.execute("drop table if exists pg_temp.nova_project_map")
            conn.execute(sql.SQL(app_sql("nova_project_map.sql")).format(ns=_NS))
            conn.execute("create index on pg_temp.nova_project_map (nova_id)")
            conn.execute("analyze pg_temp.nova_project_map")
            _table(
                conn,
                report,
                BY_NAME["Deployment"],
                DEPLOYMENTS,
                rows["Deployment"],
                batch_rows,
                progress,
                app_sql("nova_deployment_skips.sql"),
                id=_ids("Deployment", "id"),
                created=_utc("createdAt"),
                finished=_utc("finishedAt"),
            )
            _table(
                conn,
                report,
                BY_NAME["ApiToken"],
                TOKENS,
                rows["ApiToken"],
                batch_rows,
                progress,
                app_sql("nova_token_skips.sql"),
                id=_ids("ApiToken", "id"),
                team=_ids("Team", "teamId"),
                scopes=sql.Literal(list(TOKEN_SCOPES)),
                created=_utc("createdAt"),
                revoked=_utc("revokedAt"),
                last_used=_utc("lastUsedAt"),
            )
            report.reissue_tokens = [
                Reissue(team_id=str(nova_uuid("Team", nova_id)), team=name, tokens=names)
                for nova_id, name, names in conn.execute(app_sql("nova_reissue.sql"))
            ]
            if not dry_run:
                for staging in (*(m.staging for m in MODELS), *(sql.Identifier("pg_temp", t) for t in _WORK_TABLES)):
                    conn.execute(sql.SQL("drop table if exists {}").format(staging))
    report.seconds = round(time.monotonic() - started, 2)
    return report


@contextmanager
def _source_errors(source: psycopg.Connection, source_url: DbUrl) -> Iterator[None]:
    """Name the Nova side when it is the one that went away, and turn SQL failures into one line."""
    try:
        yield
    except psycopg.OperationalError as exc:
        if source.broken or source.closed:
            raise NovaImportError(
                f"lost the Nova database at {source_url.where}: {source_url.scrub(str(exc).strip())}; "
                "batches already committed stay, rerun to finish"
            ) from None
        raise
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc)
        raise NovaImportError(
            f"the import stopped: {source_url.scrub(message)} (SQLSTATE {exc.sqlstate}); batches already "
            "committed stay and a rerun continues (a dry run changed nothing)"
        ) from None


# -- Supabase Auth, for --create-users on a real project --------------------------------------------


def gotrue_admin(api_url: str, secret_key: str) -> AuthAdmin:
    """Create users through Supabase Auth's admin API (supabase-py), with the ids a direct insert would use.

    secret_key is the project's secret key (`sb_secret_...`) or its legacy service_role JWT.
    """

    def create(users: list[UnmatchedUser]) -> int:
        try:
            from supabase import create_client  # imported here: only this path needs it
        except ImportError:
            raise NovaImportError("supabase-py is missing: run scripts/bootstrap (or pip install supabase)") from None

        client = create_client(api_url, secret_key)
        created = 0
        for user in users:
            email = str(user["email"])
            try:
                client.auth.admin.create_user(
                    {
                        "id": str(user_uuid(email)),
                        "email": email,
                        "user_metadata": {"display_name": user["name"], "nova_user_id": user["nova_ids"][0]},
                    }
                )
            except Exception as exc:  # noqa: BLE001 - supabase-py raises its own AuthApiError family
                if "already" in str(exc).lower():
                    continue  # created meanwhile: the next match picks it up
                raise NovaImportError(f"Supabase Auth refused to create {email}: {exc}") from None
            created += 1
        return created

    return create
