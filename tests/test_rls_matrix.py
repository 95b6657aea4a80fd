"""Every identity x every table x select/insert/update/delete, as PostgREST would run it, and every
attempt to move a row by changing its owner, team, project or attribution columns.

Each cell targets the team "Vision" (or a row in it) and expects allow or deny. Deny means the
statement touched no row or was refused with SQLSTATE 42501; allow means it touched exactly one.
service_role is allowed in every cell, so each deny is the rules' doing, not a broken statement.
The whole matrix runs twice: with Supabase's default privileges for new entities on, and off.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from supadeploy.dburl import DbUrl

from . import world
from .conftest import Server, database_from
from .postgrest import attempt, authenticator_url

pytestmark = pytest.mark.e2e

P = {
    "team": world.TEAM,
    "project": world.PROJECT,
    "deployment": world.DEPLOYMENT,
    "invitation": world.INVITATION,
    "generation": world.GENERATION,
    "model": world.MODEL,
    "subscription": world.SUBSCRIPTION,
    "campaign": world.CAMPAIGN,
    "other_member": world.OTHER_MEMBER,
    "admin": world.ADMIN,
    "newcomer": world.NEWCOMER,
    "token": world.TOKEN,
    "unbilled_team": world.uid(104),
}
# For inserts: the acting user, or (service_role) the other member.
ME = "coalesce((select auth.uid()), %(other_member)s)"

STATEMENTS: dict[str, dict[str, str]] = {
    "api_tokens": {
        "select": "select id, name, scopes from public.api_tokens where id = %(token)s",
        "insert": "insert into public.api_tokens (team_id, name, token_hash, display_prefix, scopes, expires_at) "
        "values (%(team)s, 'new', extensions.digest('other', 'sha256'), 'vsn_abcd', array['projects:read'], "
        "now() + interval '1 day')",
        "update": "update public.api_tokens set revoked_at = now() where id = %(token)s",
        "delete": "delete from public.api_tokens where id = %(token)s",
    },
    "profiles": {
        "select": "select id from public.profiles where id = %(admin)s",
        "insert": "insert into public.profiles (id, email) values (%(newcomer)s, 'x@y.z') "
        "on conflict (id) do update set email = excluded.email",
        "update": "update public.profiles set display_name = 'renamed' where id = %(admin)s",
        "delete": "delete from public.profiles where id = %(admin)s",
    },
    "teams": {
        "select": "select id from public.teams where id = %(team)s",
        "insert": f"insert into public.teams (name, created_by) values ('new team', {ME})",
        "update": "update public.teams set name = 'renamed' where id = %(team)s",
        # "Vision" has a subscription, so nobody may delete it (test_hostile_client): its twin has none.
        "delete": "delete from public.teams where id = %(unbilled_team)s",
    },
    "team_members": {
        "select": "select user_id from public.team_members where team_id = %(team)s and user_id = %(other_member)s",
        "insert": "insert into public.team_members (team_id, user_id, role) values (%(team)s, %(newcomer)s, 'member')",
        "update": "update public.team_members set role = 'viewer' "
        "where team_id = %(team)s and user_id = %(other_member)s",
        "delete": "delete from public.team_members where team_id = %(team)s and user_id = %(other_member)s",
    },
    "team_invitations": {
        "select": "select id from public.team_invitations where id = %(invitation)s",
        "insert": f"insert into public.team_invitations (team_id, email, role, token_hash, invited_by) "
        f"values (%(team)s, 'new@vision.test', 'member', extensions.digest('s2', 'sha256'), {ME})",
        "update": "update public.team_invitations set expires_at = now() + interval '1 day' where id = %(invitation)s",
        "delete": "delete from public.team_invitations where id = %(invitation)s",
    },
    "projects": {
        "select": "select id from public.projects where id = %(project)s",
        "insert": "insert into public.projects (team_id, name) values (%(team)s, 'another')",
        "update": "update public.projects set name = 'renamed' where id = %(project)s",
        "delete": "delete from public.projects where id = %(project)s",
    },
    "deployments": {
        "select": "select id from public.deployments where id = %(deployment)s",
        "insert": "insert into public.deployments (project_id, team_id, environment) "
        "values (%(project)s, %(team)s, 'production')",
        "update": "update public.deployments set status = 'failed' where id = %(deployment)s",
        "delete": "delete from public.deployments where id = %(deployment)s",
    },
    "ai_generations": {
        "select": "select id from public.ai_generations where id = %(generation)s",
        "insert": f"insert into public.ai_generations (user_id, team_id, prompt, model) "
        f"values ({ME}, %(team)s, 'a lamp', 'gen-3d-1')",
        "update": "update public.ai_generations set status = 'running' where id = %(generation)s",
        "delete": "delete from public.ai_generations where id = %(generation)s",
    },
    "models_3d": {
        "select": "select id from public.models_3d where id = %(model)s",
        "insert": f"insert into public.models_3d (user_id, team_id, name, storage_path, format, size_bytes) "
        f"values ({ME}, %(team)s, 'lamp', 'models/lamp.glb', 'glb', 10)",
        "update": "update public.models_3d set name = 'renamed' where id = %(model)s",
        "delete": "delete from public.models_3d where id = %(model)s",
    },
    "subscriptions": {
        "select": "select id from public.subscriptions where id = %(subscription)s",
        "insert": "insert into public.subscriptions (team_id, stripe_customer_id, plan, status) "
        "values (%(team)s, 'cus_X', 'pro', 'active')",
        "update": "update public.subscriptions set plan = 'free' where id = %(subscription)s",
        "delete": "delete from public.subscriptions where id = %(subscription)s",
    },
    "ad_campaigns": {
        "select": "select id from public.ad_campaigns where id = %(campaign)s",
        "insert": "insert into public.ad_campaigns (team_id, name) values (%(team)s, 'spring')",
        "update": "update public.ad_campaigns set budget_cents = 1 where id = %(campaign)s",
        "delete": "delete from public.ad_campaigns where id = %(campaign)s",
    },
}

TEAM_READERS = {"viewer", "member", "admin", "owner", "service_role"}
MEMBERS_UP = {"member", "admin", "owner", "service_role"}
ADMINS_UP = {"admin", "owner", "service_role"}
ALLOWED: dict[str, dict[str, set[str]]] = {
    "api_tokens": {
        "select": ADMINS_UP,
        "insert": {"service_role"},
        "update": {"service_role"},
        "delete": {"service_role"},
    },
    "profiles": {
        "select": TEAM_READERS,
        "insert": {"service_role"},
        "update": {"admin", "service_role"},
        "delete": {"service_role"},
    },
    "teams": {
        "select": TEAM_READERS,
        "insert": {"outsider", "viewer", "member", "admin", "owner", "service_role"},
        "update": ADMINS_UP,
        "delete": {"owner", "service_role"},
    },
    # Membership grows only through create_team and accepted invitations (issue 12, defect 1).
    "team_members": {"select": TEAM_READERS, "insert": {"service_role"}, "update": ADMINS_UP, "delete": ADMINS_UP},
    # Invitations are created only by create_invitation: no client-chosen hash or expiry (defect 5).
    "team_invitations": {
        "select": ADMINS_UP,
        "insert": {"service_role"},
        "update": {"service_role"},
        "delete": ADMINS_UP,
    },
    "projects": {"select": TEAM_READERS, "insert": ADMINS_UP, "update": ADMINS_UP, "delete": ADMINS_UP},
    "deployments": {"select": TEAM_READERS, "insert": MEMBERS_UP, "update": MEMBERS_UP, "delete": ADMINS_UP},
    "ai_generations": {"select": TEAM_READERS, "insert": MEMBERS_UP, "update": MEMBERS_UP, "delete": ADMINS_UP},
    "models_3d": {"select": TEAM_READERS, "insert": MEMBERS_UP, "update": MEMBERS_UP, "delete": ADMINS_UP},
    "subscriptions": {
        "select": ADMINS_UP,
        "insert": {"service_role"},
        "update": {"service_role"},
        "delete": {"service_role"},
    },
    "ad_campaigns": {"select": TEAM_READERS, "insert": MEMBERS_UP, "update": MEMBERS_UP, "delete": ADMINS_UP},
}
METHODS = {"select": "GET", "insert": "POST", "update": "PATCH", "delete": "DELETE"}
CELLS = [
    (table, op, who)
    for table in STATEMENTS
    for op in ("select", "insert", "update", "delete")
    for who in world.IDENTITIES
]


# Moves ------------------------------------------------------------------------------------------
# A team, and a project in it, owned by each signed-in identity; a stranger's team nobody else is in.
STRANGER = world.uid(8)
FOREIGN_TEAM, FOREIGN_PROJECT = world.uid(103), world.uid(303)
SPARE_PROJECT = world.uid(209)  # in "Vision", without deployments, so service_role can move it
OWNERS = {"outsider": world.OUTSIDER, "viewer": world.VIEWER, "member": world.MEMBER, "admin": world.ADMIN}
OWN_TEAMS = {label: (world.uid(110 + n), world.uid(310 + n)) for n, label in enumerate(("owner", *OWNERS))}
# Identities without a team of their own aim at the stranger's team instead.
for label in ("anon", "nosub", "service_role"):
    OWN_TEAMS[label] = (FOREIGN_TEAM, FOREIGN_PROJECT)

# The row each table's move targets, by its key.
ROWS: dict[str, str] = {
    "projects": "id = %(spare_project)s",
    "deployments": "id = %(deployment)s",
    "ad_campaigns": "id = %(campaign)s",
    "ai_generations": "id = %(generation)s",
    "models_3d": "id = %(model)s",
    "teams": "id = %(team)s",
    "team_members": "team_id = %(team)s and user_id = %(other_member)s",
    "team_invitations": "id = %(invitation)s",
    "api_tokens": "id = %(token)s",
    "subscriptions": "id = %(subscription)s",
    "profiles": "id = coalesce((select auth.uid()), %(admin)s)",
}
# Where each move sends the row: the new values of the moved columns, as SQL over the parameters.
TARGETS = {
    "own team": {"team_id": "%(own_team)s"},
    "foreign team": {"team_id": "%(foreign_team)s"},
    "no team": {"team_id": "null"},
    "own team and project": {"team_id": "%(own_team)s", "project_id": "%(own_project)s"},
    "foreign team and project": {"team_id": "%(foreign_team)s", "project_id": "%(foreign_project)s"},
    "another project of the team": {"project_id": "%(spare_project)s"},
    "another user": {"user_id": "%(stranger)s"},
    "me": {"user_id": "coalesce((select auth.uid()), %(stranger)s)"},
    "created by another user": {"created_by": "%(stranger)s"},
    "created by nobody": {"created_by": "null"},
    "invited by another user": {"invited_by": "%(stranger)s"},
    "a spoofed email": {"email": "'ceo@vision.test'"},
}
MOVES: dict[str, tuple[str, ...]] = {
    "projects": ("own team", "foreign team", "created by another user", "created by nobody"),
    "deployments": (
        "own team and project",
        "foreign team and project",
        "another project of the team",
        "created by another user",
        "created by nobody",
    ),
    "ad_campaigns": ("own team", "foreign team", "created by another user", "created by nobody"),
    "ai_generations": ("own team", "foreign team", "no team", "another user", "me"),
    "models_3d": ("own team", "foreign team", "no team", "another user", "me"),
    "teams": ("created by another user", "created by nobody"),
    "team_members": ("own team", "another user"),
    "team_invitations": ("own team", "invited by another user"),
    "api_tokens": ("own team", "created by another user"),
    "subscriptions": ("own team",),
    "profiles": ("a spoofed email",),
}
MOVE_CELLS = [(table, target, who) for table in MOVES for target in MOVES[table] for who in world.IDENTITIES]


def move_statement(table: str, target: str) -> sql.Composed:
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.SQL(value)) for column, value in TARGETS[target].items()
    )
    return sql.SQL("update {} set {} where {}").format(
        sql.Identifier("public", table), assignments, sql.SQL(ROWS[table])
    )


def build_move_world(owner: psycopg.Connection) -> None:
    """Own teams with a project each, the stranger's team, and a project with no deployments."""
    world.create_users(owner, {STRANGER: "stranger@elsewhere.test"})
    creators = {"owner": world.OWNER, "service_role": STRANGER, **OWNERS}
    for label, (team, project) in OWN_TEAMS.items():
        if label in ("anon", "nosub"):
            continue
        owner.execute(
            "insert into public.teams (id, name, created_by) values (%s, %s, %s)",
            (team, f"{label}'s team", creators[label]),
        )
        owner.execute("insert into public.projects (id, team_id, name) values (%s, %s, 'own')", (project, team))
    owner.execute(
        "insert into public.projects (id, team_id, name) values (%s, %s, 'spare')", (SPARE_PROJECT, world.TEAM)
    )


def build_unbilled_twin(owner: psycopg.Connection) -> None:
    """A team with Vision's members and no subscription: the one a delete can remove."""
    owner.execute(
        "insert into public.teams (id, name, created_by) values (%s, 'Vision twin', %s)",
        (P["unbilled_team"], world.OWNER),
    )
    owner.execute(
        "insert into public.team_members (team_id, user_id, role) select %s, user_id, role from public.team_members"
        " where team_id = %s and role <> 'owner'",
        (P["unbilled_team"], world.TEAM),
    )


@pytest.fixture(scope="module")
def world_url(pg_server: Server, exposure_template: str) -> Iterator[DbUrl]:
    with database_from(pg_server, exposure_template, "rls") as url:
        with psycopg.connect(url.raw, autocommit=True) as owner:
            world.build(owner)
            build_move_world(owner)
            build_unbilled_twin(owner)
        yield url


@pytest.fixture(scope="module")
def as_authenticator(world_url: DbUrl) -> Iterator[psycopg.Connection]:
    with psycopg.connect(authenticator_url(world_url).raw, autocommit=True) as conn:
        yield conn


def test_every_exposed_table_is_in_the_matrix(as_authenticator: psycopg.Connection) -> None:
    rows = as_authenticator.execute(
        "select c.relname, c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')"
    ).fetchall()
    assert {name for name, _ in rows} == set(STATEMENTS) == set(MOVES)
    assert all(rls for _, rls in rows)


def outcome(touched: int) -> str:
    return "allow" if touched == 1 else "deny" if touched in (0, -1) else f"touched {touched} rows"


@pytest.mark.parametrize(("table", "op", "who"), CELLS, ids=[f"{t}-{o}-{w}" for t, o, w in CELLS])
def test_access(as_authenticator: psycopg.Connection, table: str, op: str, who: str) -> None:
    touched = attempt(as_authenticator, world.IDENTITIES[who], STATEMENTS[table][op], P, METHODS[op])
    expected = "allow" if who in ALLOWED[table][op] else "deny"
    assert outcome(touched) == expected


@pytest.mark.parametrize(("table", "target", "who"), MOVE_CELLS, ids=[f"{t}-{m}-{w}" for t, m, w in MOVE_CELLS])
def test_move(as_authenticator: psycopg.Connection, table: str, target: str, who: str) -> None:
    """No client moves a row: owner, team, project and attribution columns change only by service_role."""
    own_team, own_project = OWN_TEAMS[who]
    params = {
        **P,
        "own_team": own_team,
        "own_project": own_project,
        "foreign_team": FOREIGN_TEAM,
        "foreign_project": FOREIGN_PROJECT,
        "spare_project": SPARE_PROJECT,
        "stranger": STRANGER,
    }
    touched = attempt(as_authenticator, world.IDENTITIES[who], move_statement(table, target), params, "PATCH")
    assert outcome(touched) == ("allow" if who == "service_role" else "deny")
