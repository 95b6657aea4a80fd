"""Issue 12: the eight holes a hostile client found through PostgREST, one test (or a few) per hole.

Every request here is impersonated as PostgREST runs it (tests/postgrest.py); account deletion is
done as Supabase Auth does it, by deleting the auth.users row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from supadeploy.database import DbUrl

from . import world
from .postgrest import ANON, SERVICE, Identity, authenticator_url, request, user
from .test_tokens import run_as_postgrest, with_token

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
