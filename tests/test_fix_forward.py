"""The red team's fixes (20261126000500 on) pushed over rows written before them, as production has them."""

from __future__ import annotations

import shutil
from datetime import timedelta

import psycopg
import pytest

from supadeploy.database import DbUrl
from supadeploy.environments import Environment
from supadeploy.project import Project
from supadeploy.push import push
from supadeploy.supabase_cli import find_cli

from . import world
from .conftest import REPO, ProjectDir

pytestmark = pytest.mark.e2e

FIRST_FIX = "20261126000500"


def push_up_to(project: ProjectDir, url: DbUrl, *, before: str | None) -> None:
    """Push this repo's migrations older than `before` (all of them with None) with the real CLI."""
    for path in sorted((REPO / "supabase" / "migrations").glob("*.sql")):
        if before is None or path.name < before:
            shutil.copy(path, project.migrations)
    target = Project(project.root)
    push(target, Environment.for_url("local", url, source="tests"), find_cli(target))


def test_rows_from_before_the_fixes_are_brought_under_the_new_rules(db_url: DbUrl, project_dir: ProjectDir) -> None:
    push_up_to(project_dir, db_url, before=FIRST_FIX)
    with psycopg.connect(db_url.raw, autocommit=True) as conn:
        world.build(conn)
        # What the old rules let in: a token through the month/day bypass, an invitation sent from New York
        # with the hour a change of clocks added, a spare to a member's address, one a demoted member sent.
        conn.execute(
            "insert into public.api_tokens (team_id, name, token_hash, display_prefix, scopes, created_by,"
            " created_at, expires_at) values (%s, 'bypass', extensions.digest('bypass', 'sha256'), 'vsn_bypa',"
            " array['projects:read'], %s, now() - interval '1 day', now() + interval '3600 years')",
            (world.TEAM, world.ADMIN),
        )
        with conn.transaction():
            # Sent from New York on 20 October 2026: "30 days" there crosses the end of summer time (721 hours).
            conn.execute("set local timezone = 'America/New_York'")
            conn.execute(
                "insert into public.team_invitations (team_id, email, role, token_hash, invited_by, created_at,"
                " expires_at) values (%(t)s, 'ny@vision.test', 'member', extensions.digest('ny', 'sha256'), %(a)s,"
                " now(), now() + interval '30 days'),"
                " (%(t)s, %(v)s, 'admin', extensions.digest('spare', 'sha256'), %(a)s, now(),"
                " now() + interval '1 day'),"
                " (%(t)s, 'late@vision.test', 'member', extensions.digest('lapsed', 'sha256'), %(m)s, now(),"
                " now() + interval '1 day')",
                {"t": world.TEAM, "a": world.ADMIN, "v": world.EMAILS[world.VIEWER], "m": world.MEMBER},
            )
            conn.execute(
                "update public.team_invitations set created_at = '2026-10-20 12:00+00',"
                " expires_at = '2026-10-20 12:00+00'::timestamptz + interval '30 days' where email = 'ny@vision.test'"
            )
        # Addresses over 254 characters, which create_invitation took until 20261126001200: one pending, one
        # accepted.
        conn.execute(
            "insert into public.team_invitations (team_id, email, token_hash, invited_by, accepted_at)"
            " select %s, repeat(g, 299) || '@vision.test', extensions.digest(g, 'sha256'), %s,"
            "  case when g = 'y' then now() end"
            " from unnest(array['x', 'y']) g",
            (world.TEAM, world.ADMIN),
        )
        ny = conn.execute("select expires_at - created_at from public.team_invitations where email = 'ny@vision.test'")
        assert ny.fetchone() == (timedelta(days=30, hours=1),)

    push_up_to(project_dir, db_url, before=None)
    with psycopg.connect(db_url.raw, autocommit=True) as conn:
        lives = conn.execute("select expires_at - created_at from public.api_tokens where name = 'bypass'")
        assert lives.fetchone() == (timedelta(days=366),)
        invitations = conn.execute(
            "select email, expires_at - created_at, revoked_at is not null from public.team_invitations"
        )
        states = {email: (life, revoked) for email, life, revoked in invitations}
        assert states["ny@vision.test"] == (timedelta(days=30), False)
        assert states[world.EMAILS[world.VIEWER]][1] is True  # a spare: she is already in the team
        assert states["late@vision.test"][1] is True  # its sender is a member now, no longer an admin
        assert states["invitee@vision.test"][1] is False  # a good one stays good
        long = conn.execute(
            "select left(email, 1), length(email), accepted_at is not null, revoked_at is not null"
            " from public.team_invitations where length(email) > 254 order by 1"
        )
        # None is cut or deleted: the pending one is void, the history stays as it was.
        assert long.fetchall() == [("x", 311, False, True), ("y", 311, True, False)]
        unchecked = conn.execute(
            "select conname from pg_constraint where conname in"
            "  ('api_tokens_lifetime', 'team_invitations_lifetime', 'subscriptions_team_id_fkey',"
            " 'team_invitations_email_length') and not convalidated"
        )
        assert unchecked.fetchall() == []
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("delete from public.teams where id = %s", (world.TEAM,))
