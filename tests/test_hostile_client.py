"""Issue 12: the eight holes a hostile client found through PostgREST, one test (or a few) per hole.

Every request here is impersonated as PostgREST runs it (tests/postgrest.py); account deletion is
done as Supabase Auth does it, by deleting the auth.users row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from supadeploy.database import DbUrl

from . import world
from .postgrest import ANON, SERVICE, Identity, authenticator_url, request, user
from .test_tokens import issue, issue_any, run_as_postgrest, with_token

pytestmark = pytest.mark.e2e

FULL_SCOPES = ["projects:read", "projects:write", "deployments:read", "deployments:write"]


@pytest.fixture
def owner_conn(app_url: DbUrl) -> Iterator[psycopg.Connection]:
    """The database owner (Supabase Auth, the Stripe webhook, migrations): no RLS."""
    with psycopg.connect(app_url.raw, autocommit=True) as conn:
        world.build(conn)
        yield conn


@pytest.fixture
def api(app_url: DbUrl, owner_conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    with psycopg.connect(authenticator_url(app_url).raw, autocommit=True) as conn:
        yield conn


def me(label: str) -> Identity:
    return world.IDENTITIES[label]


def call(api: psycopg.Connection, who: Identity, statement: str, params: tuple[object, ...] = ()) -> object:
    """One POST that must succeed and commit; its first value."""
    with api.transaction():
        api.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
            " set_config('request.headers', '{}', true)",
            (who.role, json.dumps(who.claims())),
        )
        cur = api.execute(statement, params)
        row = cur.fetchone() if cur.description else None
    return None if row is None else row[0]


def refused(api: psycopg.Connection, who: Identity, statement: str, params: tuple[object, ...] = ()) -> str:
    """Run one request that must fail; the SQLSTATE it failed with."""
    with request(api, who, method="POST") as c:
        try:
            with c.transaction():
                c.execute(statement, params)
        except psycopg.Error as exc:
            return str(exc.sqlstate)
    pytest.fail(f"{who.label} was allowed: {statement}")


def sees(api: psycopg.Connection, who: Identity, statement: str, params: tuple[object, ...] = ()) -> int:
    with request(api, who) as c:
        return len(c.execute(statement, params).fetchall())


# 1. Membership without consent -------------------------------------------------------------------------
def test_a_stranger_cannot_put_someone_into_their_team_and_read_their_profile(api: psycopg.Connection) -> None:
    trap = call(api, me("outsider"), "select public.create_team('trap')")
    assert (
        refused(
            api,
            me("outsider"),
            "insert into public.team_members (team_id, user_id, role) values (%s, %s, 'member')",
            (trap, world.ADMIN),
        )
        == "42501"
    )
    assert sees(api, me("outsider"), "select email from public.profiles where id = %s", (world.ADMIN,)) == 0


def test_adding_a_member_does_not_tell_whether_a_uuid_is_an_account(api: psycopg.Connection) -> None:
    insert = "insert into public.team_members (team_id, user_id, role) values (%s, %s, 'viewer')"
    for candidate in (world.OUTSIDER, uuid.uuid4()):  # an account, and no account
        assert refused(api, me("owner"), insert, (world.TEAM, candidate)) == "42501"


def test_membership_grows_by_invitation(api: psycopg.Connection) -> None:
    secret = call(
        api, me("admin"), "select public.create_invitation(%s, %s)", (world.TEAM, world.EMAILS[world.NEWCOMER])
    )
    newcomer = user("newcomer", world.NEWCOMER, world.EMAILS[world.NEWCOMER])
    assert call(api, newcomer, "select public.accept_invitation(%s)", (secret,)) == world.TEAM


# 2. Rows moved by updating their owner columns ---------------------------------------------------------
@pytest.mark.parametrize("table", ["ai_generations", "models_3d"])
@pytest.mark.parametrize("actor", ["member", "admin"])
def test_a_teammate_cannot_hand_a_row_to_an_outsider(api: psycopg.Connection, table: str, actor: str) -> None:
    row = world.GENERATION if table == "ai_generations" else world.MODEL
    statement = f"update public.{table} set user_id = %s where id = %s"  # noqa: S608
    assert refused(api, me(actor), statement, (world.OUTSIDER, row)) == "42501"
    assert sees(api, me("outsider"), f"select id from public.{table}") == 0  # noqa: S608


@pytest.mark.parametrize("table", ["ai_generations", "models_3d"])
def test_a_member_cannot_take_a_teammates_row(api: psycopg.Connection, table: str) -> None:
    row = world.GENERATION if table == "ai_generations" else world.MODEL
    statement = f"update public.{table} set user_id = %s, team_id = null where id = %s"  # noqa: S608
    assert refused(api, me("member"), statement, (world.MEMBER, row)) == "42501"


@pytest.mark.parametrize(
    ("table", "row", "assignment"),
    [
        ("deployments", world.DEPLOYMENT, "team_id = %(team)s, project_id = %(project)s"),
        ("ad_campaigns", world.CAMPAIGN, "team_id = %(team)s"),
        ("ai_generations", world.GENERATION, "team_id = %(team)s"),
        ("models_3d", world.MODEL, "team_id = %(team)s"),
    ],
)
def test_a_member_cannot_move_team_rows_to_a_team_they_own(
    api: psycopg.Connection, owner_conn: psycopg.Connection, table: str, row: uuid.UUID, assignment: str
) -> None:
    mine = call(api, me("member"), "select public.create_team('my own')")
    project = call(
        api, me("member"), "insert into public.projects (team_id, name) values (%s, 'p') returning id", (mine,)
    )
    # Not even the member's own teams admit it: a moved row escapes "only admins delete" of "Vision".
    statement = f"update public.{table} set {assignment} where id = %(row)s"  # noqa: S608
    with request(api, me("member"), method="PATCH") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement, {"team": mine, "project": project, "row": row})
    (team,) = owner_conn.execute(f"select team_id from public.{table} where id = %s", (row,)).fetchone()  # noqa: S608
    assert team == world.TEAM


def test_the_owner_shares_personal_content_through_the_rpc_only(api: psycopg.Connection) -> None:
    # The generation belongs to OTHER_MEMBER; "Vision" is its team.
    other = user("other", world.OTHER_MEMBER, world.EMAILS[world.OTHER_MEMBER])
    for who in (me("member"), me("admin"), me("owner")):
        assert refused(api, who, "select public.share_ai_generation(%s, null)", (world.GENERATION,)) == "P0002"
    call(api, other, "select public.share_ai_generation(%s, null)", (world.GENERATION,))
    assert sees(api, me("member"), "select id from public.ai_generations where id = %s", (world.GENERATION,)) == 0
    # Back into a team the owner belongs to; never into one they do not.
    assert refused(api, other, "select public.share_model_3d(%s, %s)", (world.MODEL, world.OTHER_TEAM)) == "42501"
    call(api, other, "select public.share_ai_generation(%s, %s)", (world.GENERATION, world.TEAM))
    assert sees(api, me("viewer"), "select id from public.ai_generations where id = %s", (world.GENERATION,)) == 1


# 3. Token RPCs fail open ---------------------------------------------------------------------------------
def test_a_jwt_without_sub_mints_and_revokes_nothing(api: psycopg.Connection, owner_conn: psycopg.Connection) -> None:
    nosub = world.NO_SUB
    create = "select public.create_api_token(%s, 'x', %s)"
    for team in (world.TEAM, world.OTHER_TEAM):
        assert refused(api, nosub, create, (team, FULL_SCOPES)) == "42501"
    assert refused(api, nosub, "select public.revoke_api_token(%s)", (world.TOKEN,)) == "42501"
    assert owner_conn.execute("select revoked_at from public.api_tokens where id = %s", (world.TOKEN,)).fetchone() == (
        None,
    )
    assert owner_conn.execute("select count(*) from public.api_tokens").fetchone() == (1,)


@pytest.mark.parametrize(
    "statement",
    [
        "select private.operator_issue_api_token(%s, 'x', array['projects:write'], '1 day')",
        "select private.store_api_token(%s, 'x', array['projects:write'], '1 day', null)",
        "select private.operator_revoke_api_token(%s)",
    ],
)
@pytest.mark.parametrize("who", ["admin", "nosub", "anon"])
def test_clients_cannot_take_the_operator_path(api: psycopg.Connection, statement: str, who: str) -> None:
    target = world.TOKEN if "revoke" in statement else world.TEAM
    assert refused(api, me(who), statement, (target,)) == "42501"


def test_the_old_functions_with_a_caller_chosen_issuer_are_gone(api: psycopg.Connection) -> None:
    for statement in (
        "select private.issue_api_token(%s, 'x', array['projects:write'], '1 day', %s)",
        "select private.revoke_api_token(%s, %s)",
    ):
        assert refused(api, me("member"), statement, (world.TEAM, world.MEMBER)) == "42883"


# 4. A sole owner can be deleted -----------------------------------------------------------------------------
def test_deleting_the_sole_owner_passes_the_team_to_the_highest_ranked_member(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    owner_conn.execute("delete from auth.users where id = %s", (world.OWNER,))
    roles = dict(
        owner_conn.execute("select user_id, role::text from public.team_members where team_id = %s", (world.TEAM,))
    )
    assert roles == {world.ADMIN: "owner", world.MEMBER: "member", world.VIEWER: "viewer", world.OTHER_MEMBER: "member"}
    assert sees(api, me("admin"), "select id from public.projects where team_id = %s", (world.TEAM,)) == 1


def test_without_an_admin_the_longest_standing_member_takes_over(owner_conn: psycopg.Connection) -> None:
    owner_conn.execute("delete from public.team_members where team_id = %s and user_id = %s", (world.TEAM, world.ADMIN))
    # MEMBER joined first; OTHER_MEMBER joined later at the same rank.
    owner_conn.execute(
        "update public.team_members set created_at = now() - interval '1 day' where team_id = %s and user_id = %s",
        (world.TEAM, world.MEMBER),
    )
    owner_conn.execute("delete from auth.users where id = %s", (world.OWNER,))
    owners = owner_conn.execute(
        "select user_id from public.team_members where team_id = %s and role = 'owner'", (world.TEAM,)
    ).fetchall()
    assert owners == [(world.MEMBER,)]


def test_a_team_with_nobody_left_goes_with_its_owners_account(owner_conn: psycopg.Connection) -> None:
    # OUTSIDER alone owns "Elsewhere", which holds a project.
    owner_conn.execute("delete from auth.users where id = %s", (world.OUTSIDER,))
    for table in ("teams", "projects"):
        column = "id" if table == "teams" else "team_id"
        count = owner_conn.execute(
            f"select count(*) from public.{table} where {column} = %s",  # noqa: S608
            (world.OTHER_TEAM,),
        ).fetchone()
        assert count == (0,), table


def test_the_last_owner_still_cannot_just_leave(api: psycopg.Connection) -> None:
    statement = "delete from public.team_members where team_id = %s and user_id = %s"
    assert refused(api, me("owner"), statement, (world.TEAM, world.OWNER)) == "23514"


# 5. Invitations ------------------------------------------------------------------------------------------
def test_an_invitation_lives_at_most_30_days(api: psycopg.Connection) -> None:
    invite = "select public.create_invitation(%s, 'x@vision.test', 'member', %s::interval)"
    for lifetime in ("100 years", "31 days", "0 seconds", "-1 hour"):
        assert refused(api, me("admin"), invite, (world.TEAM, lifetime)) == "23514", lifetime
    assert call(api, me("admin"), invite, (world.TEAM, "30 days")).startswith("inv_")


def test_no_direct_insert_chooses_a_hash_or_an_expiry(api: psycopg.Connection) -> None:
    statement = (
        "insert into public.team_invitations (team_id, email, role, token_hash, invited_by, expires_at) "
        "values (%s, 'x@vision.test', 'member', extensions.digest('mine', 'sha256'), %s, 'infinity')"
    )
    assert refused(api, me("owner"), statement, (world.TEAM, world.OWNER)) == "42501"


@pytest.mark.parametrize(
    "lapse",
    [
        "update public.team_members set role = 'member' where team_id = %(team)s and user_id = %(admin)s",
        "delete from public.team_members where team_id = %(team)s and user_id = %(admin)s",
        "delete from auth.users where id = %(admin)s",
    ],
    ids=["inviter-demoted", "inviter-removed", "inviter-account-deleted"],
)
def test_an_invitation_dies_with_its_senders_right_to_invite(
    api: psycopg.Connection, owner_conn: psycopg.Connection, lapse: str
) -> None:
    secret = call(
        api, me("admin"), "select public.create_invitation(%s, %s)", (world.TEAM, world.EMAILS[world.NEWCOMER])
    )
    owner_conn.execute(lapse, {"team": world.TEAM, "admin": world.ADMIN})
    newcomer = user("newcomer", world.NEWCOMER, world.EMAILS[world.NEWCOMER])
    assert refused(api, newcomer, "select public.accept_invitation(%s)", (secret,)) == "28000"


def test_an_owner_invitation_dies_when_its_sender_is_no_longer_owner(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    invite = "select public.create_invitation(%s, %s, 'owner')"
    secret = call(api, me("owner"), invite, (world.TEAM, world.EMAILS[world.NEWCOMER]))
    call(api, me("owner"), "select public.transfer_ownership(%s, %s)", (world.TEAM, world.ADMIN))
    newcomer = user("newcomer", world.NEWCOMER, world.EMAILS[world.NEWCOMER])
    assert refused(api, newcomer, "select public.accept_invitation(%s)", (secret,)) == "28000"


def test_accepting_needs_a_confirmed_email_of_the_account(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    unconfirmed = world.uid(950)
    world.create_users(owner_conn, {unconfirmed: "late@vision.test"}, confirmed=False)
    secret = call(api, me("admin"), "select public.create_invitation(%s, 'late@vision.test')", (world.TEAM,))
    who = user("late", unconfirmed, "late@vision.test")
    assert refused(api, who, "select public.accept_invitation(%s)", (secret,)) == "42501"
    # A token whose email claim names the invitee does not help an account with another address.
    impostor = user("impostor", world.OUTSIDER, "late@vision.test")
    assert refused(api, impostor, "select public.accept_invitation(%s)", (secret,)) == "28000"
    owner_conn.execute("update auth.users set email_confirmed_at = now() where id = %s", (unconfirmed,))
    assert call(api, who, "select public.accept_invitation(%s)", (secret,)) == world.TEAM


# 6. Tokens outlive their issuer's rights -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "alive"),
    [
        ("update public.team_members set role = 'member' where team_id = %(team)s and user_id = %(admin)s", False),
        ("update public.team_members set role = 'viewer' where team_id = %(team)s and user_id = %(admin)s", False),
        ("delete from public.team_members where team_id = %(team)s and user_id = %(admin)s", False),
        ("delete from auth.users where id = %(admin)s", False),
        ("update public.team_members set role = 'owner' where team_id = %(team)s and user_id = %(admin)s", True),
        ("update public.team_members set role = 'member' where team_id = %(team)s and user_id = %(member)s", True),
    ],
    ids=["demoted-to-member", "demoted-to-viewer", "removed", "account-deleted", "promoted", "someone-else-changed"],
)
def test_a_token_lives_only_while_its_issuer_may_issue_it(
    api: psycopg.Connection, owner_conn: psycopg.Connection, change: str, alive: bool
) -> None:
    secret = call(api, me("admin"), "select public.create_api_token(%s, 'ci', %s)", (world.TEAM, FULL_SCOPES))
    read = "select id from public.projects where id = %(project)s"
    params = {"project": world.PROJECT}
    assert run_as_postgrest(api, with_token(secret), read, params, "GET") == "allow"
    owner_conn.execute(change, {"team": world.TEAM, "admin": world.ADMIN, "member": world.MEMBER})
    assert run_as_postgrest(api, with_token(secret), read, params, "GET") == ("allow" if alive else "401")


def test_operator_tokens_have_no_issuer_to_lose(api: psycopg.Connection, owner_conn: psycopg.Connection) -> None:
    (secret,) = owner_conn.execute(
        "select private.operator_issue_api_token(%s, 'ops', array['projects:read'], '1 day')", (world.TEAM,)
    ).fetchone()
    owner_conn.execute("delete from auth.users where id = %s", (world.ADMIN,))
    read = "select id from public.projects where id = %(project)s"
    assert run_as_postgrest(api, with_token(secret), read, {"project": world.PROJECT}, "GET") == "allow"


# 7. Spoofable attribution -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "insert into public.projects (team_id, name, created_by) values (%(team)s, 'p', %(someone)s)",
        "insert into public.deployments (project_id, team_id, environment, created_by) "
        "values (%(project)s, %(team)s, 'local', %(someone)s)",
        "insert into public.ad_campaigns (team_id, name, created_by) values (%(team)s, 'c', %(someone)s)",
        "insert into public.teams (name, created_by) values ('t', %(someone)s)",
        "insert into public.ai_generations (user_id, prompt, model) values (%(someone)s, 'x', 'm')",
        "update public.projects set created_by = %(someone)s where id = %(project)s",
        "update public.deployments set created_by = %(someone)s where id = %(deployment)s",
        "update public.teams set created_by = %(someone)s where id = %(team)s",
    ],
)
def test_attribution_comes_from_the_session(api: psycopg.Connection, statement: str) -> None:
    params = {
        "team": world.TEAM,
        "project": world.PROJECT,
        "deployment": world.DEPLOYMENT,
        "someone": world.OTHER_MEMBER,
    }
    with request(api, me("owner"), method="POST") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement, params)


def test_a_client_may_name_itself_or_nobody(api: psycopg.Connection, owner_conn: psycopg.Connection) -> None:
    call(api, me("admin"), "insert into public.projects (team_id, name) values (%s, 'mine')", (world.TEAM,))
    call(
        api,
        me("admin"),
        "insert into public.projects (team_id, name, created_by) values (%s, 'also mine', %s)",
        (world.TEAM, world.ADMIN),
    )
    creators = owner_conn.execute("select created_by from public.projects where name in ('mine', 'also mine')")
    assert {c for (c,) in creators} == {world.ADMIN}


def test_profile_emails_come_from_auth(api: psycopg.Connection, owner_conn: psycopg.Connection) -> None:
    with request(api, me("admin"), method="PATCH") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("update public.profiles set email = 'ceo@vision.test' where id = %s", (world.ADMIN,))
    call(
        api,
        me("admin"),
        "update public.profiles set display_name = 'Ada' where id = %s returning id",
        (world.ADMIN,),
    )
    # Supabase Auth changes the address (after the user confirmed it): teammates see the new one.
    owner_conn.execute("update auth.users set email = 'ada@vision.test' where id = %s", (world.ADMIN,))
    with request(api, me("viewer")) as c:
        row = c.execute("select email, display_name from public.profiles where id = %s", (world.ADMIN,)).fetchone()
        assert row == ("ada@vision.test", "Ada")


# 8. Default privileges ----------------------------------------------------------------------------------
def test_anon_writes_only_the_columns_a_token_needs(api: psycopg.Connection) -> None:
    for statement in (
        "update public.projects set team_id = %(team)s",
        "update public.deployments set created_by = null",
        "insert into public.projects (team_id, name, created_by) values (%(team)s, 'x', null)",
        "delete from public.projects",
    ):
        with request(api, ANON, method="POST") as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement, {"team": world.TEAM})


def test_service_role_cannot_truncate(api: psycopg.Connection) -> None:
    assert refused(api, SERVICE, "truncate public.deployments") == "42501"


# Attacking the fix: upserts, odd RPC arguments ------------------------------------------------------------
@pytest.mark.parametrize(
    ("who", "conflict_update"),
    [
        ("outsider", "status = excluded.status"),  # take over another team's row through ON CONFLICT
        ("member", "team_id = excluded.team_id, project_id = excluded.project_id"),  # move it that way
        ("member", "created_by = excluded.created_by"),
    ],
)
def test_an_upsert_neither_takes_over_nor_moves_a_row(
    api: psycopg.Connection, owner_conn: psycopg.Connection, who: str, conflict_update: str
) -> None:
    team = call(api, me(who), "select public.create_team('mine')")
    project = call(api, me(who), "insert into public.projects (team_id, name) values (%s, 'p') returning id", (team,))
    statement = (
        "insert into public.deployments (id, project_id, team_id, environment, status) "  # noqa: S608
        f"values (%s, %s, %s, 'local', 'failed') on conflict (id) do update set {conflict_update}"
    )
    with request(api, me(who), method="POST") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement, (world.DEPLOYMENT, project, team))
    row = owner_conn.execute("select team_id, status from public.deployments where id = %s", (world.DEPLOYMENT,))
    assert row.fetchone() == (world.TEAM, "succeeded")


@pytest.mark.parametrize(
    "statement",
    [
        "select public.create_invitation(%(team)s, 'x@vision.test', null)",
        "select public.create_invitation(%(team)s, 'x@vision.test', 'member', null)",
        "select public.create_invitation(null, 'x@vision.test')",
        "select public.create_invitation(%(team)s, 'not an email')",
        "select public.create_api_token(%(team)s, 'x', null)",
        "select public.create_api_token(%(team)s, 'x', '{}'::text[])",
        "select public.create_api_token(%(team)s, 'x', array['projects:read'], null)",
        "select public.create_api_token(%(team)s, 'x', array['projects:read'], '367 days')",
        "select public.transfer_ownership(%(team)s, null)",
        "select public.transfer_ownership(%(team)s, %(outsider)s)",
        "select public.share_ai_generation(%(generation)s, %(other_team)s)",
        "select public.accept_invitation(null)",
        "select public.create_team(null)",
    ],
)
def test_rpcs_refuse_odd_arguments_and_write_nothing(
    api: psycopg.Connection, owner_conn: psycopg.Connection, statement: str
) -> None:
    def census() -> tuple[int, ...]:
        return owner_conn.execute(
            "select (select count(*) from public.team_invitations), (select count(*) from public.api_tokens),"
            " (select count(*) from public.teams), (select count(*) from public.team_members where role = 'owner'),"
            " (select count(*) from public.ai_generations where team_id = %s)",
            (world.TEAM,),
        ).fetchone()

    before = census()
    params = {
        "team": world.TEAM,
        "other_team": world.OTHER_TEAM,
        "outsider": world.OUTSIDER,
        "generation": world.GENERATION,
    }
    with request(api, me("owner"), method="POST") as c:
        with pytest.raises(psycopg.Error):
            with c.transaction():
                c.execute(statement, params)
    assert census() == before


# The red team's second pass, on the fix (F1-F4), and the billing rule ----------------------------------------
def refusal(
    api: psycopg.Connection, who: Identity, statement: str, params: tuple[object, ...] = (), *, timezone: str = "UTC"
) -> tuple[str, str]:
    """Run one request that must fail, in the time zone a client may pick (`Prefer: timezone`); its error."""
    with request(api, who, method="POST") as c:
        c.execute("select set_config('timezone', %s, true)", (timezone,))
        try:
            with c.transaction():
                c.execute(statement, params)
        except psycopg.Error as exc:
            return str(exc.sqlstate), exc.diag.message_primary or ""
    pytest.fail(f"{who.label} was allowed: {statement}")


def call_in(api: psycopg.Connection, who: Identity, timezone: str, statement: str, params: tuple[object, ...]) -> None:
    """One POST that must succeed and commit, sent with `Prefer: timezone=<timezone>`."""
    with api.transaction():
        api.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
            " set_config('request.headers', '{}', true), set_config('timezone', %s, true)",
            (who.role, json.dumps(who.claims()), timezone),
        )
        api.execute(statement, params)


# F1: a lifetime is elapsed time, whatever the interval says
@pytest.mark.parametrize(
    "lifetime",
    [
        "3000000 months -89999634 days",  # compares as 366 days; added, it reaches the year 5616
        "1 year 6 days",  # compares as 366 days; added, it is 371
        "12 months 7 days",
        "367 days",
        "1000000000 months",  # beyond PostgreSQL's last timestamp
        "1 month -30 days",  # compares as 0; added, nothing or less
        "-1 hour",
    ],
)
def test_a_token_lives_at_most_366_days_whatever_the_interval_says(
    api: psycopg.Connection, owner_conn: psycopg.Connection, lifetime: str
) -> None:
    create = "select public.create_api_token(%s, 'long', array['projects:read'], %s::interval)"
    assert refusal(api, me("admin"), create, (world.TEAM, lifetime)) == (
        "23514",
        "tokens live between 1 hour and 366 days",
    )
    with pytest.raises(psycopg.errors.CheckViolation):
        owner_conn.execute(
            "select private.operator_issue_api_token(%s, 'ops', array['projects:read'], %s::interval)",
            (world.TEAM, lifetime),
        )
    assert owner_conn.execute("select count(*) from public.api_tokens").fetchone() == (1,)


def test_the_longest_token_lives_366_days_in_any_time_zone(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    create = "select public.create_api_token(%s, %s, array['projects:read'], %s::interval)"
    for name, lifetime, zone in (
        ("a", "366 days", "UTC"),
        ("b", "366 days", "America/New_York"),
        ("c", "1 year", "UTC"),
    ):
        call_in(api, me("admin"), zone, create, (world.TEAM, name, lifetime))
    lives = dict(owner_conn.execute("select name, expires_at - created_at from public.api_tokens where name <> 'ci'"))
    assert lives["a"] == lives["b"] == timedelta(days=366)
    assert lives["c"] in (timedelta(days=365), timedelta(days=366))


@pytest.mark.parametrize("lifetime", ["1000 months -29970 days", "31 days", "0 seconds"])
def test_an_invitation_lives_at_most_30_days_whatever_the_interval_says(api: psycopg.Connection, lifetime: str) -> None:
    invite = "select public.create_invitation(%s, 'x@vision.test', 'member', %s::interval)"
    assert refusal(api, me("admin"), invite, (world.TEAM, lifetime)) == (
        "23514",
        "invitations live between 1 hour and 30 days",
    )


def test_the_lifetime_checks_give_one_answer_in_every_time_zone(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    # Both rows live their full allowance, as the RPCs make them from UTC. Between them, each span
    # crosses clock changes in New York that do not cancel out (one spring-forward too many).
    owner_conn.execute(
        "insert into public.team_invitations (team_id, email, role, token_hash, invited_by, created_at, expires_at)"
        " values (%s, %s, 'member', extensions.digest('tz', 'sha256'), %s, '2027-03-01 00:00+00',"
        " '2027-03-01 00:00+00'::timestamptz + interval '720 hours')",
        (world.TEAM, world.EMAILS[world.NEWCOMER], world.ADMIN),
    )
    owner_conn.execute(
        "insert into public.api_tokens (team_id, name, token_hash, display_prefix, scopes, created_by, created_at,"
        " expires_at) values (%s, 'tz', extensions.digest('tz', 'sha256'), 'vsn_tzzz', array['projects:read'], %s,"
        " '2027-03-13 12:00+00', '2027-03-13 12:00+00'::timestamptz + interval '8784 hours')",
        (world.TEAM, world.ADMIN),
    )
    # Accepting and revoking rewrite the rows, so their checks run again, in the client's time zone.
    newcomer = user("newcomer", world.NEWCOMER, world.EMAILS[world.NEWCOMER])
    call_in(api, newcomer, "America/New_York", "select public.accept_invitation('tz')", ())
    (token_id,) = owner_conn.execute("select id from public.api_tokens where name = 'tz'").fetchone()
    call_in(api, me("admin"), "America/New_York", "select public.revoke_api_token(%s)", (token_id,))
    assert owner_conn.execute(
        "select (select accepted_at is not null from public.team_invitations where email = %s),"
        " (select revoked_at is not null from public.api_tokens where name = 'tz')",
        (world.EMAILS[world.NEWCOMER],),
    ).fetchone() == (True, True)


# F2: an invitation is good for one membership, once
def invite_newcomer(api: psycopg.Connection, who: str = "admin", role: str = "admin") -> str:
    statement = "select public.create_invitation(%s, %s, %s::public.team_role)"
    return str(call(api, me(who), statement, (world.TEAM, world.EMAILS[world.NEWCOMER], role)))


NEWCOMER = user("newcomer", world.NEWCOMER, world.EMAILS[world.NEWCOMER])
ACCEPT = "select public.accept_invitation(%s)"
REMOVE_NEWCOMER = "delete from public.team_members where team_id = %s and user_id = %s"


def test_accepting_one_invitation_revokes_the_spares(api: psycopg.Connection, owner_conn: psycopg.Connection) -> None:
    first, spare = invite_newcomer(api), invite_newcomer(api)  # a "resend"
    call(api, NEWCOMER, ACCEPT, (first,))
    with request(api, me("admin")) as c:  # what admins see, as soon as the first is accepted
        states = c.execute(
            "select accepted_at is not null, revoked_at is not null from public.team_invitations where email = %s",
            (world.EMAILS[world.NEWCOMER],),
        ).fetchall()
        assert sorted(states) == [(False, True), (True, False)]
    call(api, me("owner"), REMOVE_NEWCOMER, (world.TEAM, world.NEWCOMER))
    assert refused(api, NEWCOMER, ACCEPT, (spare,)) == "28000"


@pytest.mark.parametrize(
    ("change", "who"),
    [
        ("delete from public.team_members where team_id = %(team)s and user_id = %(newcomer)s", "owner"),
        ("delete from public.team_members where team_id = %(team)s and user_id = %(newcomer)s", "newcomer"),
        ("update public.team_members set role = 'viewer' where team_id = %(team)s and user_id = %(newcomer)s", "admin"),
    ],
    ids=["removed", "left", "demoted"],
)
def test_a_member_who_is_removed_or_demoted_loses_the_invitations_to_their_address(
    api: psycopg.Connection, owner_conn: psycopg.Connection, change: str, who: str
) -> None:
    call(api, NEWCOMER, ACCEPT, (invite_newcomer(api, role="member"),))
    later = invite_newcomer(api)  # sent while they are a member: a way back in, at admin
    actor = NEWCOMER if who == "newcomer" else me(who)
    with api.transaction():
        api.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(actor.claims()),),
        )
        assert api.execute(change, {"team": world.TEAM, "newcomer": world.NEWCOMER}).rowcount == 1
    owner_conn.execute(
        "delete from public.team_members where team_id = %s and user_id = %s", (world.TEAM, world.NEWCOMER)
    )
    assert refused(api, NEWCOMER, ACCEPT, (later,)) == "28000"


@pytest.mark.parametrize("moved", ["away", "onto"])
def test_a_member_who_moves_their_address_keeps_no_way_back(
    api: psycopg.Connection, owner_conn: psycopg.Connection, moved: str
) -> None:
    call(api, NEWCOMER, ACCEPT, (invite_newcomer(api, role="viewer"),))
    move = "update auth.users set email = %s where id = %s"  # as Supabase Auth does, once confirmed
    if moved == "away":  # sent to her address while she is a viewer; she moves, is removed, moves back
        later = invite_newcomer(api)
        owner_conn.execute(move, ("elsewhere@vision.test", world.NEWCOMER))
    else:  # sent to an address she then takes, and leaves before she is removed, to take it back after
        later = str(
            call(api, me("admin"), "select public.create_invitation(%s, 'spare@vision.test', 'admin')", (world.TEAM,))
        )
        owner_conn.execute(move, ("spare@vision.test", world.NEWCOMER))
        owner_conn.execute(move, ("elsewhere@vision.test", world.NEWCOMER))
    call(api, me("owner"), REMOVE_NEWCOMER, (world.TEAM, world.NEWCOMER))
    owner_conn.execute(move, ("spare@vision.test" if moved == "onto" else world.EMAILS[world.NEWCOMER], world.NEWCOMER))
    back = user("newcomer", world.NEWCOMER, "any@vision.test")  # the JWT's email counts for nothing
    assert refused(api, back, ACCEPT, (later,)) == "28000"


@pytest.mark.parametrize("role", ["member", "admin", "owner"])
def test_a_lapsed_invitation_stays_lapsed_when_its_sender_gets_the_right_back(
    api: psycopg.Connection, owner_conn: psycopg.Connection, role: str
) -> None:
    sender = "owner" if role == "owner" else "admin"
    secret = invite_newcomer(api, sender, role)
    if sender == "admin":
        set_role = "update public.team_members set role = %s where team_id = %s and user_id = %s"
        owner_conn.execute(set_role, ("member", world.TEAM, world.ADMIN))
        owner_conn.execute(set_role, ("admin", world.TEAM, world.ADMIN))
    else:  # ownership passes to the admin and back
        transfer = "select public.transfer_ownership(%s, %s)"
        call(api, me("owner"), transfer, (world.TEAM, world.ADMIN))
        call(api, me("admin"), transfer, (world.TEAM, world.OWNER))
    assert refused(api, NEWCOMER, ACCEPT, (secret,)) == "28000"


def test_an_invitation_whose_senders_account_is_deleted_is_revoked(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    invite_newcomer(api)
    owner_conn.execute("delete from auth.users where id = %s", (world.ADMIN,))
    row = owner_conn.execute(
        "select invited_by, revoked_at is not null from public.team_invitations where email = %s",
        (world.EMAILS[world.NEWCOMER],),
    )
    assert row.fetchone() == (None, True)


# F3: a token updates only what it may read
def postgrest_patch(table: str, column: str) -> sql.Composed:
    """PostgREST's PATCH with no filter and `Prefer: return=minimal`: an UPDATE that reads no row."""
    return sql.SQL(
        "with pgrst_source as (update {table} set {column} = pgrst_body.{column}"
        " from (select %s::json as json_data) pgrst_payload"
        " cross join lateral (select {column} from json_populate_record(null::{table}, json_data)) pgrst_body"
        " returning 1) select '' as total_result_set, pg_catalog.count(_postgrest_t) as page_total"
        " from (select * from pgrst_source) _postgrest_t"
    ).format(table=sql.Identifier("public", table), column=sql.Identifier(column))


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [("deployments", "status", "cancelled"), ("projects", "name", "pwned")],
)
def test_a_write_only_token_cannot_rewrite_its_team_without_a_filter(
    api: psycopg.Connection, owner_conn: psycopg.Connection, table: str, column: str, value: str
) -> None:
    body = json.dumps({column: value})
    patch = postgrest_patch(table, column)
    for scopes, rewritten in (([f"{table}:write"], 0), ([f"{table}:write", f"{table}:read"], 1)):
        secret = issue_any(owner_conn, world.TEAM, scopes)  # write alone: a token issued before 20261126001400
        with request(api, with_token(secret), method="PATCH") as c:
            c.execute("select private.authenticate_api_token()")
            assert c.execute(patch, (body,)).fetchone()[1] == rewritten, scopes
    count = sql.SQL("select count(*) from {} where {} = %s").format(
        sql.Identifier("public", table), sql.Identifier(column)
    )
    assert owner_conn.execute(count, (value,)).fetchone() == (0,)  # each request was rolled back


# F4: the database chooses ids
@pytest.mark.parametrize(
    ("who", "statement"),
    [
        ("outsider", "insert into public.teams (id, name) values (%(id)s, 'x')"),
        ("admin", "insert into public.projects (id, team_id, name) values (%(id)s, %(team)s, 'x')"),
        (
            "member",
            "insert into public.deployments (id, project_id, team_id, environment) "
            "values (%(id)s, %(project)s, %(team)s, 'local')",
        ),
        ("member", "insert into public.ad_campaigns (id, team_id, name) values (%(id)s, %(team)s, 'x')"),
        (
            "outsider",
            "insert into public.ai_generations (id, prompt, model) values (%(id)s, 'p', 'm') "
            "on conflict (id) do nothing",
        ),
        (
            "outsider",
            "insert into public.models_3d (id, name, storage_path, format, size_bytes) "
            "values (%(id)s, 'm', 'm.glb', 'glb', 1) on conflict (id) do nothing",
        ),
    ],
)
def test_no_client_chooses_an_id_so_none_learns_which_exist(api: psycopg.Connection, who: str, statement: str) -> None:
    taken = {
        "teams": world.TEAM,
        "projects": world.OTHER_PROJECT,
        "deployments": world.DEPLOYMENT,
        "ad_campaigns": world.CAMPAIGN,
        "ai_generations": world.GENERATION,
        "models_3d": world.MODEL,
    }[statement.split()[2].removeprefix("public.")]
    # An id in use (another team's row) and a fresh one get the same answer.
    for candidate in (taken, uuid.uuid4()):
        params = {"id": candidate, "team": world.TEAM, "project": world.PROJECT}
        with request(api, me(who), method="POST") as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement, params)


def test_a_token_chooses_no_id_either(api: psycopg.Connection, owner_conn: psycopg.Connection) -> None:
    secret = issue(owner_conn, world.TEAM, ["projects:read", "projects:write"])
    with request(api, with_token(secret), method="POST") as c:
        c.execute("select private.authenticate_api_token()")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "insert into public.projects (id, team_id, name) values (%s, %s, 'x')",
                (world.OTHER_PROJECT, world.TEAM),
            )


def test_return_representation_gives_back_the_id_the_database_chose(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    secret = issue(owner_conn, world.TEAM, ["projects:read", "projects:write"])
    inserts = [
        (me("admin"), "insert into public.projects (team_id, name) values (%s, 'mine') returning id", (world.TEAM,)),
        (me("member"), "insert into public.ai_generations (prompt, model) values ('p', 'm') returning id", ()),
        (
            with_token(secret),
            "insert into public.projects (team_id, name) values (%s, 'from ci') returning id",
            (world.TEAM,),
        ),
    ]
    for who, statement, params in inserts:
        with api.transaction():
            api.execute(
                "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
                " set_config('request.headers', %s, true)",
                (who.role, json.dumps(who.claims()), json.dumps(who.headers)),
            )
            api.execute("select private.authenticate_api_token()")
            (new_id,) = api.execute(statement, params).fetchone()
        table = statement.split()[2]
        assert owner_conn.execute(f"select count(*) from {table} where id = %s", (new_id,)).fetchone() == (1,)  # noqa: S608
    team = call(api, me("outsider"), "select public.create_team('chosen by the database')")
    role = owner_conn.execute(
        "select role::text from public.team_members where team_id = %s and user_id = %s", (team, world.OUTSIDER)
    )
    assert role.fetchone() == ("owner",)


# Billing rows outlive nothing by accident
def test_a_team_with_a_subscription_is_not_deleted_until_billing_ends_it(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    delete = "delete from public.teams where id = %s"
    assert refusal(api, me("owner"), delete, (world.TEAM,)) == (
        "23503",
        "this team has a subscription: it can be deleted once billing has ended the subscription",
    )
    with pytest.raises(psycopg.errors.ForeignKeyViolation):  # the operator too: the foreign key holds for all
        with owner_conn.transaction():
            owner_conn.execute("alter table public.teams disable trigger teams_keep_billed_teams")
            owner_conn.execute(delete, (world.TEAM,))
    assert owner_conn.execute("select count(*) from public.subscriptions").fetchone() == (1,)
    owner_conn.execute("delete from public.subscriptions where team_id = %s", (world.TEAM,))  # the Stripe webhook
    call(api, me("owner"), delete, (world.TEAM,))
    assert owner_conn.execute("select count(*) from public.teams where id = %s", (world.TEAM,)).fetchone() == (0,)


def test_deleting_the_last_members_account_keeps_a_billed_team_for_the_operator(
    owner_conn: psycopg.Connection,
) -> None:
    # OUTSIDER alone owns "Elsewhere", which now has a subscription.
    owner_conn.execute(
        "insert into public.subscriptions (team_id, stripe_customer_id, plan, status)"
        " values (%s, 'cus_E', 'team', 'active')",
        (world.OTHER_TEAM,),
    )
    owner_conn.execute("delete from auth.users where id = %s", (world.OUTSIDER,))
    kept = owner_conn.execute(
        "select (select count(*) from public.teams where id = %(t)s), (select count(*) from public.projects"
        " where team_id = %(t)s), (select count(*) from public.subscriptions where team_id = %(t)s),"
        " (select count(*) from public.team_members where team_id = %(t)s)",
        {"t": world.OTHER_TEAM},
    )
    assert kept.fetchone() == (1, 1, 1, 0)


# A second red team's findings (R1-R4): bounds on invitations, sign-up names, shared items ------------------
def deletes(api: psycopg.Connection, who: Identity, statement: str, params: tuple[object, ...] = ()) -> int:
    """How many rows one DELETE request removes (rolled back)."""
    with request(api, who, method="DELETE") as c:
        return c.execute(statement, params).rowcount


WITHDRAW = "delete from public.team_invitations where id = %s"


def invitation_id(owner_conn: psycopg.Connection, secret: object) -> uuid.UUID:
    row = owner_conn.execute(
        "select id from public.team_invitations where token_hash = extensions.digest(%s, 'sha256')", (secret,)
    ).fetchone()
    return row[0]


def test_only_pending_invitations_are_withdrawn_and_owner_ones_only_by_owners(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    heir = invitation_id(
        owner_conn,
        call(api, me("owner"), "select public.create_invitation(%s, 'heir@vision.test', 'owner')", (world.TEAM,)),
    )
    accepted, spare = invite_newcomer(api), invite_newcomer(api)
    call(api, NEWCOMER, ACCEPT, (accepted,))  # the spare is now revoked
    accepted, spare = invitation_id(owner_conn, accepted), invitation_id(owner_conn, spare)
    # world.INVITATION, sent by the admin, has expired: still pending, and clutter an admin clears.
    owner_conn.execute(
        "update public.team_invitations set created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 day' where id = %s",
        (world.INVITATION,),
    )
    assert deletes(api, me("admin"), WITHDRAW, (heir,)) == 0  # only owners send, and withdraw, owner invitations
    assert deletes(api, me("owner"), WITHDRAW, (heir,)) == 1
    for history in (accepted, spare):  # what admins are told to read stays, for owners too
        assert deletes(api, me("admin"), WITHDRAW, (history,)) == 0
        assert deletes(api, me("owner"), WITHDRAW, (history,)) == 0
    assert deletes(api, me("admin"), WITHDRAW, (world.INVITATION,)) == 1
    assert deletes(api, me("member"), WITHDRAW, (world.INVITATION,)) == 0


def test_an_invitation_address_has_at_most_254_characters(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    invite = "select public.create_invitation(%s, %s)"
    domain = "@vision.test"
    longest = "a" * (254 - len(domain)) + domain
    assert str(call(api, me("admin"), invite, (world.TEAM, longest))).startswith("inv_")
    for address in ("a" + longest, "a" * 3000 + domain, "é" * (255 - len(domain)) + domain):
        assert refusal(api, me("admin"), invite, (world.TEAM, address)) == (
            "22023",
            "an email address has at most 254 characters",
        )
    # The table holds it too, for rows written any way (the operator's, an import's), and every row holds it.
    with pytest.raises(psycopg.errors.CheckViolation, match="team_invitations_email_length"):
        owner_conn.execute(
            "insert into public.team_invitations (team_id, email, token_hash) values (%s, %s, %s)",
            (world.TEAM, "a" + longest, b"\x01" * 32),
        )
    validated = owner_conn.execute(
        "select convalidated from pg_constraint where conname = 'team_invitations_email_length'"
    ).fetchone()
    assert validated == (True,)


def seed_invitations(owner_conn: psycopg.Connection, pending: int) -> None:
    """Invitations to TEAM, written as the operator would: `pending` that count, and three that do not."""
    owner_conn.execute(
        "insert into public.team_invitations (team_id, email, token_hash, invited_by, created_at, expires_at,"
        " accepted_at, revoked_at)"
        " select %(team)s, 'seed' || g || '@vision.test', extensions.digest('seed' || g, 'sha256'), %(admin)s,"
        "  case when g = -3 then now() - interval '2 days' else now() end,"
        "  case when g = -3 then now() - interval '1 day' else now() + interval '7 days' end,"
        "  case when g = -2 then now() end, case when g = -1 then now() end"
        " from generate_series(-3, %(pending)s) g where g <> 0",
        {"team": world.TEAM, "admin": world.ADMIN, "pending": pending},
    )


def test_a_team_has_at_most_500_pending_invitations(api: psycopg.Connection, owner_conn: psycopg.Connection) -> None:
    invite = "select public.create_invitation(%s, 'more@vision.test')"
    seed_invitations(owner_conn, 498)  # and world.INVITATION: 499 pending; expired, accepted, revoked ones do not count
    last = call(api, me("admin"), invite, (world.TEAM,))
    assert refusal(api, me("owner"), invite, (world.TEAM,)) == (
        "23514",
        "a team has at most 500 pending invitations: withdraw some, or wait until they expire",
    )
    call(api, me("admin"), WITHDRAW, (world.INVITATION,))
    call(api, me("owner"), invite, (world.TEAM,))  # room for one again
    assert str(call(api, me("outsider"), invite, (world.OTHER_TEAM,))).startswith("inv_")  # per team
    assert str(last).startswith("inv_")


def test_two_admins_sending_the_500th_invitation_at_once_do_not_make_501(
    app_url: DbUrl, api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    invite = "select public.create_invitation(%s, 'more@vision.test')"
    seed_invitations(owner_conn, 498)
    with psycopg.connect(authenticator_url(app_url).raw, autocommit=True) as first:
        with first.transaction():  # the 500th, not yet committed
            first.execute(
                "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                (json.dumps(me("admin").claims()),),
            )
            first.execute(invite, (world.TEAM,))
            with request(api, me("owner"), method="POST") as c:  # the other waits for it, rather than count 499
                c.execute("set local lock_timeout = '200ms'")
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    with c.transaction():
                        c.execute(invite, (world.TEAM,))
    assert refusal(api, me("owner"), invite, (world.TEAM,))[0] == "23514"


@pytest.mark.parametrize(
    ("metadata", "email", "display_name"),
    [
        ({"display_name": "é" * 150}, "long-name@vision.test", "é" * 100),  # characters, not bytes
        ({}, "l" * 120 + "@vision.test", "l" * 100),  # the local part, when there is no name
        ({"display_name": "Ada"}, "ada@vision.test", "Ada"),
        ({"display_name": ""}, "empty@vision.test", ""),  # empty and blank names as before
        ({"display_name": "   "}, "blank@vision.test", "   "),
    ],
    ids=["long-name", "long-local-part", "short-name", "empty-name", "blank-name"],
)
def test_a_sign_up_always_makes_its_profile(
    owner_conn: psycopg.Connection, metadata: dict[str, str], email: str, display_name: str
) -> None:
    account = world.uid(960)
    owner_conn.execute(  # as Supabase Auth's sign-up inserts the user
        "insert into auth.users (id, aud, role, email, raw_user_meta_data) values (%s, 'authenticated',"
        " 'authenticated', %s, %s::jsonb)",
        (account, email, json.dumps(metadata)),
    )
    profile = owner_conn.execute("select display_name from public.profiles where id = %s", (account,))
    assert profile.fetchone() == (display_name,)


def test_admins_delete_items_shared_into_the_team_even_when_their_owner_has_left(
    api: psycopg.Connection, owner_conn: psycopg.Connection
) -> None:
    # OTHER_MEMBER shared GENERATION and MODEL with the team. They take MODEL back, then leave the team.
    other = user("other", world.OTHER_MEMBER, world.EMAILS[world.OTHER_MEMBER])
    call(api, other, "select public.share_model_3d(%s, null)", (world.MODEL,))
    call(api, other, REMOVE_NEWCOMER, (world.TEAM, world.OTHER_MEMBER))
    # The admin may delete the generation its owner left in the team (rolled back: the team takes it below).
    assert deletes(api, me("admin"), "delete from public.ai_generations where id = %s", (world.GENERATION,)) == 1
    assert deletes(api, me("admin"), "delete from public.models_3d where id = %s", (world.MODEL,)) == 0
    # Deleting the team (once billing has ended it) deletes what is shared into it, and nothing taken back.
    owner_conn.execute("delete from public.subscriptions where team_id = %s", (world.TEAM,))
    call(api, me("owner"), "delete from public.teams where id = %s", (world.TEAM,))
    remaining = owner_conn.execute(
        "select (select count(*) from public.ai_generations where id = %s),"
        " (select count(*) from public.models_3d where id = %s and team_id is null)",
        (world.GENERATION, world.MODEL),
    )
    assert remaining.fetchone() == (0, 1)
