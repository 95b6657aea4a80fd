"""Property: over random teams and memberships, no user reads or writes a row of a team they are not in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supadeploy.dburl import DbUrl

from . import world
from .postgrest import authenticator_url, request, user

pytestmark = pytest.mark.e2e

USERS = [uuid.UUID(int=5000 + i) for i in range(6)]
TEAMS = [uuid.UUID(int=6000 + i) for i in range(4)]
ROLES = ("viewer", "member", "admin", "owner")
TEAM_TABLES = ("projects", "deployments", "ad_campaigns", "team_members", "team_invitations", "subscriptions")

memberships = st.dictionaries(
    keys=st.tuples(st.sampled_from(TEAMS), st.sampled_from(USERS)), values=st.sampled_from(ROLES), max_size=14
)


@pytest.fixture(scope="module")
def property_db(pg_server, schema_template) -> Iterator[DbUrl]:  # noqa: ANN001
    from .conftest import database_from

    with database_from(pg_server, schema_template, "prop") as url:
        with psycopg.connect(url.raw, autocommit=True) as owner:
            world.create_users(owner, {u: f"u{i}@prop.test" for i, u in enumerate(USERS)})
        yield url


def populate(owner: psycopg.Connection, members: dict[tuple[uuid.UUID, uuid.UUID], str]) -> None:
    """As the database owner: every team with content, then the drawn memberships."""
    for n, team in enumerate(TEAMS):
        project = uuid.UUID(int=7000 + n)
        owner.execute("insert into public.teams (id, name) values (%s, %s)", (team, f"team {n}"))
        owner.execute("insert into public.projects (id, team_id, name) values (%s, %s, 'p')", (project, team))
        owner.execute(
            "insert into public.deployments (project_id, team_id, environment) values (%s, %s, 'local')",
            (project, team),
        )
        owner.execute("insert into public.ad_campaigns (team_id, name) values (%s, 'c')", (team,))
        owner.execute(
            "insert into public.team_invitations (team_id, email, token_hash) "
            "values (%s, %s, extensions.digest(%s, 'sha256'))",
            (team, f"x{n}@prop.test", f"s{n}"),
        )
        owner.execute(
            "insert into public.subscriptions (team_id, stripe_customer_id, plan, status) "
            "values (%s, %s, 'team', 'active')",
            (team, f"cus_{n}"),
        )
    for (team, member), role in members.items():
        owner.execute(
            "insert into public.team_members (team_id, user_id, role) values (%s, %s, %s)", (team, member, role)
        )


# A column each client may update (owner, team and timestamp columns are not client-writable).
WRITABLE = {"projects": "name", "deployments": "status", "ad_campaigns": "name", "team_members": "role"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=memberships, actor=st.sampled_from(USERS), target=st.sampled_from(TEAMS))
def test_no_access_outside_ones_teams(property_db: DbUrl, members, actor, target) -> None:  # noqa: ANN001
    mine = {team for (team, u) in members if u == actor}
    who = user("actor", actor, "actor@prop.test")
    with (
        psycopg.connect(property_db.raw, autocommit=True) as owner,
        psycopg.connect(authenticator_url(property_db).raw, autocommit=True) as api,
    ):
        with owner.transaction():
            populate(owner, members)
        try:
            with request(api, who) as c:
                for table in TEAM_TABLES:
                    seen = {t for (t,) in c.execute(f"select team_id from public.{table}")}  # noqa: S608
                    assert seen <= mine, f"{table}: read rows of teams {seen - mine}"
            if target in mine:
                return
            for table, column in WRITABLE.items():
                with request(api, who, method="PATCH") as c:
                    changed = c.execute(
                        f"update public.{table} set {column} = {column} where team_id = %s",  # noqa: S608
                        (target,),
                    ).rowcount
                    assert changed == 0, f"{table}: updated rows of a team {actor} is not in"
                with request(api, who, method="DELETE") as c:
                    removed = c.execute(f"delete from public.{table} where team_id = %s", (target,)).rowcount  # noqa: S608
                    assert removed == 0, f"{table}: deleted rows of a team {actor} is not in"
            for insert in (
                "insert into public.ad_campaigns (team_id, name) values (%s, 'intrusion')",
                "insert into public.projects (team_id, name) values (%s, 'intrusion')",
                "insert into public.team_members (team_id, user_id, role) values (%s, %s, 'owner')",
            ):
                with request(api, who, method="POST") as c:
                    params = (target, actor) if "team_members" in insert else (target,)
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        c.execute(insert, params)
        finally:
            owner.execute("delete from public.subscriptions")  # billing rows keep their team otherwise
            owner.execute("delete from public.teams")
