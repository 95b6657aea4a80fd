"""What a Supabase database is before the first migration (supabase_platform.toml), and the same facts read live."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

FACTS_FILE = Path(__file__).with_name("supabase_platform.toml")
ROLE_ATTRIBUTES = ("superuser", "inherit", "createrole", "createdb", "login", "replication", "bypassrls")


@dataclass(frozen=True)
class PlatformFacts:
    """The checked-in facts: the platform's side, and where the Docker-free database knowingly differs."""

    raw: dict[str, Any]

    @property
    def privileged_extensions(self) -> tuple[str, ...]:
        """Extensions postgres may create on Supabase (supautils.privileged_extensions)."""
        return tuple(self.raw["extensions"]["privileged"])

    @property
    def shared_preload_libraries(self) -> tuple[str, ...]:
        """The platform's shared_preload_libraries, in order."""
        return tuple(self.raw["server"]["shared_preload_libraries"])

    @property
    def server_settings(self) -> dict[str, str]:
        """Other server settings the platform sets (cron.database_name, wal_level, TimeZone)."""
        return dict(self.raw["server"]["settings"])

    @property
    def local(self) -> dict[str, Any]:
        """The [local] table: documented differences of the Docker-free database."""
        return dict(self.raw["local"])

    def expected_locally(self) -> dict[str, Any]:
        """The facts as the Docker-free database should show them: the platform's, less [local]'s differences."""
        local = self.local
        roles = {}
        for name, role in self.raw["roles"].items():
            settings = {
                k: v for k, v in role["settings"].items() if k not in local["missing_role_settings"].get(name, [])
            }
            settings.update(local["extra_role_settings"].get(name, {}))
            roles[name] = {
                "attributes": sorted(role["attributes"]),
                "member_of": sorted(role["member_of"]),
                "settings": settings,
            }
        missing_ext = set(local["missing_installed_extensions"])
        missing_schemas = set(local["missing_schemas"])
        return {
            "shared_preload_libraries": [
                lib for lib in self.shared_preload_libraries if lib not in local["missing_preload_libraries"]
            ],
            "server_settings": self.server_settings,
            "roles": roles,
            "database_owner": self.raw["database"]["owner"],
            "schemas": {k: v for k, v in self.raw["database"]["schemas"].items() if k not in missing_schemas},
            "installed_extensions": {
                k: v for k, v in self.raw["extensions"]["installed"].items() if k not in missing_ext
            },
            "available_privileged_extensions": sorted(local["available_privileged_extensions"]),
            "publications": self.raw["publications"],
            "columns": self.raw["columns"],
        }


@functools.cache
def facts() -> PlatformFacts:
    """The checked-in platform facts."""
    return PlatformFacts(tomllib.loads(FACTS_FILE.read_text()))


def _role_settings(conn: psycopg.Connection, role: str) -> dict[str, str]:
    row = conn.execute(
        "select s.setconfig from pg_db_role_setting s join pg_roles r on r.oid = s.setrole "
        "where r.rolname = %s and s.setdatabase = 0",
        (role,),
    ).fetchone()
    settings: dict[str, str] = {}
    for item in (row[0] if row else None) or []:
        key, _, value = item.partition("=")
        settings[key] = value
    return settings


def observe(conn: psycopg.Connection) -> dict[str, Any]:
    """The same facts, read from a live database (the shape of PlatformFacts.expected_locally())."""
    wanted = facts()
    roles: dict[str, Any] = {}
    for name in wanted.raw["roles"]:
        row = conn.execute(
            "select rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls "
            "from pg_roles where rolname = %s",
            (name,),
        ).fetchone()
        if row is None:
            roles[name] = None
            continue
        # From PostgreSQL 16 a grant may carry ADMIN OPTION alone (neither privileges nor SET ROLE).
        member = "am.inherit_option or am.set_option" if conn.info.server_version >= 160000 else "true"
        member_of = [
            g
            for (g,) in conn.execute(
                "select g.rolname from pg_auth_members am join pg_roles g on g.oid = am.roleid "
                f"join pg_roles m on m.oid = am.member where m.rolname = %s and ({member})",
                (name,),
            )
        ]
        roles[name] = {
            "attributes": sorted(attr for attr, on in zip(ROLE_ATTRIBUTES, row, strict=True) if on),
            "member_of": sorted(member_of),
            "settings": _role_settings(conn, name),
        }
    schemas: dict[str, str] = dict(
        conn.execute(
            "select nspname, pg_get_userbyid(nspowner) from pg_namespace "
            "where nspname not like 'pg\\_%%' and nspname <> 'information_schema'"
        ).fetchall()
    )
    publications = {}
    for name, owner, all_tables, ins, upd, dele, trunc in conn.execute(
        "select pubname, pg_get_userbyid(pubowner), puballtables, pubinsert, pubupdate, pubdelete, pubtruncate "
        "from pg_publication"
    ):
        flags = zip(("insert", "update", "delete", "truncate"), (ins, upd, dele, trunc), strict=True)
        tables = [
            t
            for (t,) in conn.execute(
                "select schemaname || '.' || tablename from pg_publication_tables where pubname = %s", (name,)
            )
        ]
        publications[name] = {
            "owner": owner,
            "all_tables": all_tables,
            "publish": [flag for flag, on in flags if on],
            "tables": sorted(tables),
        }
    columns = {}
    for table in wanted.raw["columns"]:
        columns[table] = [
            line
            for (line,) in conn.execute(
                "select a.attname || ' ' || format_type(a.atttypid, a.atttypmod)"
                " || case when a.attnotnull then ' not null' else '' end"
                " || coalesce(case when a.attgenerated = 's' then ' generated ' else ' default ' end"
                "             || pg_get_expr(d.adbin, d.adrelid), '')"
                " from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum"
                " where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped order by a.attnum",
                (table,),
            )
        ]
    available = {n for (n,) in conn.execute("select name from pg_available_extensions")}
    preload = conn.execute("show shared_preload_libraries").fetchone()
    owner = conn.execute(
        "select pg_get_userbyid(datdba) from pg_database where datname = current_database()"
    ).fetchone()
    return {
        "shared_preload_libraries": [
            lib.strip() for lib in str(preload[0] if preload else "").split(",") if lib.strip()
        ],
        "server_settings": {
            key: str(conn.execute("select current_setting(%s)", (key,)).fetchone()[0])  # type: ignore[index]
            for key in wanted.server_settings
        },
        "roles": roles,
        "database_owner": owner[0] if owner else None,
        "schemas": schemas,
        "installed_extensions": dict(
            conn.execute("select extname, extnamespace::regnamespace::text from pg_extension").fetchall()
        ),
        "available_privileged_extensions": sorted(available & set(wanted.privileged_extensions)),
        "publications": publications,
        "columns": columns,
    }
