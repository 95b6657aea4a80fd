"""Team invariants through the API as PostgREST runs it: creation, the last owner, invitations, transfer."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from supadeploy.database import DbUrl

from . import world
from .postgrest import SERVICE, Identity, authenticator_url, request, user

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(app_url: DbUrl) -> Iterator[psycopg.Connection]:
    with psycopg.connect(app_url.raw, autocommit=True) as owner:
        world.build(owner)
    with psycopg.connect(authenticator_url(app_url).raw, autocommit=True) as conn:
        yield conn


def me(label: str) -> Identity:
    return world.IDENTITIES[label]


def test_profile_is_created_with_the_auth_user(app_url: DbUrl) -> None:
    with psycopg.connect(app_url.raw, autocommit=True) as owner:
        world.create_users(owner, {world.uid(900): "fresh@vision.test"})
        row = owner.execute("select email, display_name from public.profiles where id = %s", (world.uid(900),))
        assert row.fetchone() == ("fresh@vision.test", "fresh")


def test_create_team_makes_the_creator_owner(api: psycopg.Connection) -> None:
    with request(api, me("outsider"), method="POST") as c:
        team_id = c.execute("select public.create_team('Rocket')").fetchone()[0]
        roles = c.execute("select user_id, role from public.team_members where team_id = %s", (team_id,)).fetchall()
        assert roles == [(world.OUTSIDER, "owner")]
        assert c.execute("select name from public.teams where id = %s", (team_id,)).fetchone() == ("Rocket",)


def test_a_team_cannot_be_created_for_someone_else(api: psycopg.Connection) -> None:
    with request(api, me("member"), method="POST") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("insert into public.teams (name, created_by) values ('x', %s)", (world.OWNER,))


@pytest.mark.parametrize(
    "statement",
    [
        "delete from public.team_members where team_id = %(team)s and user_id = %(owner)s",
        "update public.team_members set role = 'admin' where team_id = %(team)s and user_id = %(owner)s",
    ],
    ids=["leave-or-remove", "demote"],
)
def test_the_last_owner_stays(api: psycopg.Connection, statement: str) -> None:
    params = {"team": world.TEAM, "owner": world.OWNER}
    for who in (me("owner"), SERVICE):
        with request(api, who, method="DELETE") as c:
            with pytest.raises(psycopg.errors.CheckViolation, match="keep at least one owner"):
                c.execute(statement, params)


def test_a_second_owner_lets_the_first_leave(api: psycopg.Connection) -> None:
    with request(api, me("owner"), method="PATCH") as c:
        c.execute(
            "update public.team_members set role = 'owner' where team_id = %s and user_id = %s",
            (world.TEAM, world.ADMIN),
        )
        c.execute("delete from public.team_members where team_id = %s and user_id = %s", (world.TEAM, world.OWNER))
        left = c.execute(
            "select user_id from public.team_members where team_id = %s and role = 'owner'", (world.TEAM,)
        ).fetchall()
        assert left == []  # the former owner no longer sees the team's members at all


def test_admins_cannot_touch_owners_or_grant_ownership(api: psycopg.Connection) -> None:
    with request(api, me("admin"), method="PATCH") as c:
        demoted = c.execute(
            "update public.team_members set role = 'member' where team_id = %s and user_id = %s",
            (world.TEAM, world.OWNER),
        )
        assert demoted.rowcount == 0
    with request(api, me("admin"), method="PATCH") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "update public.team_members set role = 'owner' where team_id = %s and user_id = %s",
                (world.TEAM, world.MEMBER),
            )


def test_members_can_leave(api: psycopg.Connection) -> None:
    with request(api, me("viewer"), method="DELETE") as c:
        gone = c.execute(
            "delete from public.team_members where team_id = %s and user_id = %s", (world.TEAM, world.VIEWER)
        )
        assert gone.rowcount == 1


def test_deleting_the_team_cascades_past_the_owner_rule(api: psycopg.Connection) -> None:
    with request(api, me("owner"), method="DELETE") as c:
        # Billing ends the team's subscription first (the Stripe webhook, as service_role).
        c.execute("select set_config('role', 'service_role', true)")
        c.execute("delete from public.subscriptions where team_id = %s", (world.TEAM,))
        c.execute("select set_config('role', 'authenticated', true)")
        assert c.execute("delete from public.teams where id = %s", (world.TEAM,)).rowcount == 1
        c.execute("select set_config('role', 'service_role', true)")
        assert c.execute("select count(*) from public.team_members where team_id = %s", (world.TEAM,)).fetchone() == (
            0,
        )


def test_transfer_ownership(api: psycopg.Connection) -> None:
    with request(api, me("owner"), method="POST") as c:
        c.execute("select public.transfer_ownership(%s, %s)", (world.TEAM, world.MEMBER))
        roles = dict(
            c.execute("select user_id, role from public.team_members where team_id = %s", (world.TEAM,)).fetchall()
        )
        assert roles[world.MEMBER] == "owner" and roles[world.OWNER] == "admin"
    with request(api, me("admin"), method="POST") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only an owner"):
            c.execute("select public.transfer_ownership(%s, %s)", (world.TEAM, world.ADMIN))


def invite(api: psycopg.Connection, email: str, role: str = "member") -> str:
    with api.transaction():
        admin = me("admin")
        api.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (f'{{"sub": "{admin.user_id}", "role": "authenticated"}}',),
        )
        return api.execute(
            "select public.create_invitation(%s, %s, %s::public.team_role)", (world.TEAM, email, role)
        ).fetchone()[0]


def test_invitation_is_stored_hashed_and_accepted_by_the_matching_email(api: psycopg.Connection) -> None:
    secret = invite(api, "Newcomer@Vision.test")
    with request(api, SERVICE) as c:
        stored = c.execute("select token_hash from public.team_invitations where email = 'newcomer@vision.test'")
        (token_hash,) = stored.fetchone()
        assert bytes(token_hash) != secret.encode() and len(bytes(token_hash)) == 32
        raw = c.execute(
            "select count(*) from public.team_invitations where token_hash::text like %s", (f"%{secret}%",)
        ).fetchone()
        assert raw == (0,)
    wrong = user("outsider", world.OUTSIDER, "outsider@nova.test")
    with request(api, wrong, method="POST") as c:
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
            c.execute("select public.accept_invitation(%s)", (secret,))
    newcomer = user("newcomer", world.NEWCOMER, "newcomer@vision.test")
    with request(api, newcomer, method="POST") as c:
        assert c.execute("select public.accept_invitation(%s)", (secret,)).fetchone() == (world.TEAM,)
        assert c.execute(
            "select role from public.team_members where team_id = %s and user_id = %s", (world.TEAM, world.NEWCOMER)
        ).fetchone() == ("member",)
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
            c.execute("select public.accept_invitation(%s)", (secret,))  # already used


def test_expired_and_forged_invitations_are_refused(api: psycopg.Connection, app_url: DbUrl) -> None:
    secret = invite(api, "newcomer@vision.test")
    with psycopg.connect(app_url.raw, autocommit=True) as owner:
        owner.execute(
            "update public.team_invitations set created_at = now() - interval '8 days',"
            " expires_at = now() - interval '1 day' where email = 'newcomer@vision.test'"
        )
    newcomer = user("newcomer", world.NEWCOMER, "newcomer@vision.test")
    for attempt_secret in (secret, "inv_" + "0" * 48, ""):
        with request(api, newcomer, method="POST") as c:
            with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
                c.execute("select public.accept_invitation(%s)", (attempt_secret,))


def test_invitation_hash_is_not_readable_by_clients(api: psycopg.Connection) -> None:
    with request(api, me("owner")) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select token_hash from public.team_invitations")
    with request(api, me("owner")) as c:
        assert c.execute("select count(*) from public.team_invitations").fetchone() == (1,)


def test_anon_cannot_call_the_rpcs(api: psycopg.Connection) -> None:
    for call in ("select public.create_team('x')", "select public.accept_invitation('x')"):
        with request(api, world.IDENTITIES["anon"], method="POST") as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(call)


def test_helpers_are_not_callable_by_anon(api: psycopg.Connection) -> None:
    with request(api, world.IDENTITIES["anon"]) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select private.team_ids('viewer')")


def test_deployment_timestamps_are_ordered(api: psycopg.Connection) -> None:
    with request(api, me("member"), method="POST") as c:
        with pytest.raises(psycopg.errors.CheckViolation):
            c.execute(
                "insert into public.deployments (project_id, team_id, environment, started_at, finished_at)"
                " values (%s, %s, 'staging', now(), now() - interval '1 minute')",
                (world.PROJECT, world.TEAM),
            )


def test_a_deployment_cannot_claim_another_teams_project(api: psycopg.Connection) -> None:
    with request(api, SERVICE, method="POST") as c:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            c.execute(
                "insert into public.deployments (project_id, team_id, environment) values (%s, %s, 'staging')",
                (world.OTHER_PROJECT, world.TEAM),
            )
