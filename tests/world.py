"""A small, fixed world of users, teams and team content for the RLS tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg

from .postgrest import ANON, SERVICE, Identity, user


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


OWNER, ADMIN, MEMBER, VIEWER, OTHER_MEMBER, OUTSIDER, NEWCOMER = (uid(i) for i in range(1, 8))
TEAM, OTHER_TEAM = uid(101), uid(102)
PROJECT, DEPLOYMENT, INVITATION, GENERATION, MODEL, SUBSCRIPTION, CAMPAIGN, TOKEN = (uid(i) for i in range(201, 209))
OTHER_PROJECT = uid(301)

EMAILS = {
    OWNER: "owner@vision.test",
    ADMIN: "admin@vision.test",
    MEMBER: "member@vision.test",
    VIEWER: "viewer@vision.test",
    OTHER_MEMBER: "other@vision.test",
    OUTSIDER: "outsider@nova.test",
    NEWCOMER: "newcomer@vision.test",
}

# A signed JWT with role authenticated but no `sub`: auth.uid() is null, and must get nothing.
NO_SUB = Identity("nosub", "authenticated")

IDENTITIES: dict[str, Identity] = {
    "anon": ANON,
    "nosub": NO_SUB,
    "outsider": user("outsider", OUTSIDER, EMAILS[OUTSIDER]),
    "viewer": user("viewer", VIEWER, EMAILS[VIEWER]),
    "member": user("member", MEMBER, EMAILS[MEMBER]),
    "admin": user("admin", ADMIN, EMAILS[ADMIN]),
    "owner": user("owner", OWNER, EMAILS[OWNER]),
    "service_role": SERVICE,
}


def create_users(conn: psycopg.Connection, users: dict[uuid.UUID, str], *, confirmed: bool = True) -> None:
    """Insert auth users as Supabase Auth would (the profile trigger fires), with confirmed emails by default."""
    with conn.cursor() as cur:
        cur.executemany(
            "insert into auth.users (id, aud, role, email, email_confirmed_at, raw_user_meta_data, created_at,"
            " updated_at) values (%s, 'authenticated', 'authenticated', %s, case when %s then now() end, '{}',"
            " now(), now())",
            [(user_id, email, confirmed) for user_id, email in users.items()],
        )


@dataclass(frozen=True)
class World:
    """Ids the tests refer to."""

    team: uuid.UUID = TEAM


def build(conn: psycopg.Connection) -> World:
    """Create the world as the database owner (no RLS)."""
    create_users(conn, EMAILS)
    conn.execute(
        "insert into public.teams (id, name, created_by) values (%s, 'Vision', %s), (%s, 'Elsewhere', %s)",
        (TEAM, OWNER, OTHER_TEAM, OUTSIDER),
    )
    conn.execute(
        "insert into public.team_members (team_id, user_id, role) values"
        " (%s, %s, 'admin'), (%s, %s, 'member'), (%s, %s, 'viewer'), (%s, %s, 'member')",
        (TEAM, ADMIN, TEAM, MEMBER, TEAM, VIEWER, TEAM, OTHER_MEMBER),
    )
    conn.execute(
        "insert into public.projects (id, team_id, name) values (%s, %s, 'app'), (%s, %s, 'theirs')",
        (PROJECT, TEAM, OTHER_PROJECT, OTHER_TEAM),
    )
    conn.execute(
        "insert into public.deployments (id, project_id, team_id, environment, status, commit_sha, created_by)"
        " values (%s, %s, %s, 'staging', 'succeeded', 'abc1234', %s)",
        (DEPLOYMENT, PROJECT, TEAM, OTHER_MEMBER),
    )
    conn.execute(
        "insert into public.team_invitations (id, team_id, email, role, token_hash, invited_by)"
        " values (%s, %s, 'invitee@vision.test', 'member', extensions.digest('seed-secret', 'sha256'), %s)",
        (INVITATION, TEAM, ADMIN),
    )
    conn.execute(
        "insert into public.ai_generations (id, user_id, team_id, prompt, model)"
        " values (%s, %s, %s, 'a chair', 'gen-3d-1')",
        (GENERATION, OTHER_MEMBER, TEAM),
    )
    conn.execute(
        "insert into public.models_3d (id, user_id, team_id, name, storage_path, format, size_bytes)"
        " values (%s, %s, %s, 'chair', 'models/chair.glb', 'glb', 1024)",
        (MODEL, OTHER_MEMBER, TEAM),
    )
    conn.execute(
        "insert into public.subscriptions (id, team_id, stripe_customer_id, stripe_subscription_id, plan, status)"
        " values (%s, %s, 'cus_T1', 'sub_T1', 'team', 'active')",
        (SUBSCRIPTION, TEAM),
    )
    conn.execute(
        "insert into public.ad_campaigns (id, team_id, name, budget_cents) values (%s, %s, 'launch', 10000)",
        (CAMPAIGN, TEAM),
    )
    conn.execute(
        "insert into public.api_tokens (id, team_id, name, token_hash, display_prefix, scopes, expires_at)"
        " values (%s, %s, 'ci', extensions.digest('seed-token', 'sha256'), 'vsn_seed', array['deployments:read'],"
        " now() + interval '30 days')",
        (TOKEN, TEAM),
    )
    return World()
