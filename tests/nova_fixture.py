"""A small Nova-like database (tests/nova_layout.sql) full of the edge cases an import must survive."""

from __future__ import annotations

from pathlib import Path

import psycopg

LAYOUT = Path(__file__).with_name("nova_layout.sql")

# Supabase accounts that exist before the import (matched by email, case-insensitively).
EXISTING_ACCOUNTS = {
    "00000000-0000-0000-0000-00000000a001": "ann@nova.dev",
    "00000000-0000-0000-0000-00000000a002": "bob@nova.dev",
    "00000000-0000-0000-0000-00000000a003": "dee@nova.dev",
    "00000000-0000-0000-0000-00000000a004": "eve@vision.test",
}

USERS = [  # id, email, name
    ("clx0ann000000000000000001", "Ann@Nova.dev", "Ann Δelta"),
    ("clx0ann000000000000000002", "ann@nova.dev", "ann (second account)"),  # same person, other case
    ("clx0bob000000000000000003", "bob@nova.dev", "Bøb 🚀"),
    ("clx0cho000000000000000004", "cho@nova.dev", "趙 Cho"),  # no Supabase account
    ("clx0dee000000000000000005", "dee@nova.dev", None),
    ("clx0eve000000000000000006", "EVE@Vision.test", "Eve"),  # a Vision- user already
]
TEAMS = [  # id, name, slug
    ("clx0tal000000000000000010", "Ålpha Studio 🎨", "alpha"),
    ("clx0tbe000000000000000011", "Beta", "beta"),  # no owner in Nova
    ("clx0tem000000000000000012", "Empty", "empty"),  # no members
]
MEMBERS = [  # id, teamId, userId, role
    ("clx0m00000000000000000020", "clx0tal000000000000000010", "clx0ann000000000000000001", "OWNER"),
    ("clx0m00000000000000000021", "clx0tal000000000000000010", "clx0ann000000000000000002", "ADMIN"),
    ("clx0m00000000000000000022", "clx0tal000000000000000010", "clx0bob000000000000000003", "MEMBER"),
    ("clx0m00000000000000000023", "clx0tal000000000000000010", "clx0cho000000000000000004", "VIEWER"),
    ("clx0m00000000000000000024", "clx0tbe000000000000000011", "clx0bob000000000000000003", "ADMIN"),
    ("clx0m00000000000000000025", "clx0tbe000000000000000011", "clx0dee000000000000000005", "MEMBER"),
    ("clx0m00000000000000000026", "clx0gone00000000000000099", "clx0dee000000000000000005", "MEMBER"),
    ("clx0m00000000000000000027", "clx0tbe000000000000000011", "clx0ghost0000000000000098", "MEMBER"),
]
PROJECTS = [  # id, teamId, name
    ("clx0p00000000000000000030", "clx0tal000000000000000010", "Site ✓"),
    ("clx0p00000000000000000031", "clx0tbe000000000000000011", "API"),
    ("clx0p00000000000000000032", "clx0gone00000000000000099", "Lost"),  # its team is gone
]
DEPLOYMENTS = [  # id, projectId, target, status, commitSha, createdById, started (min ago), finished (min ago)
    (
        "clx0d00000000000000000040",
        "clx0p00000000000000000030",
        "PRODUCTION",
        "READY",
        "ABCDEF1",
        "clx0ann000000000000000002",
        30,
        20,
    ),
    (
        "clx0d00000000000000000041",
        "clx0p00000000000000000030",
        "STAGING",
        "BUILDING",
        "not-a-sha",
        "clx0bob000000000000000003",
        5,
        None,
    ),
    ("clx0d00000000000000000042", "clx0p00000000000000000031", "DEVELOPMENT", "ERROR", None, None, 10, 15),
    ("clx0d00000000000000000043", "clx0nope00000000000000097", "PRODUCTION", "READY", None, None, None, None),
    ("clx0d00000000000000000044", "clx0p00000000000000000032", "PRODUCTION", "CANCELED", None, None, None, None),
]
TOKENS = [  # id, teamId, name, expires (days from now), revoked
    ("clx0k00000000000000000050", "clx0tal000000000000000010", "CI", None, False),
    ("clx0k00000000000000000051", "clx0tal000000000000000010", "old laptop", 1000, True),  # beyond 366 days
    ("clx0k00000000000000000052", "clx0tbe000000000000000011", "deploy bot", 30, False),
    ("clx0k00000000000000000053", "clx0gone00000000000000099", "orphan", None, False),
]


def build(nova: psycopg.Connection) -> None:
    """Create Nova's layout and rows in an empty database."""
    nova.execute(LAYOUT.read_text())
    now = "(now() at time zone 'UTC')"
    for i, (uid, email, name) in enumerate(USERS):
        nova.execute(
            f"""insert into "User" (id, email, name, "createdAt", "updatedAt")
            values (%s, %s, %s, {now} - %s * interval '1 day', {now})""",  # noqa: S608 - constant
            (uid, email, name, 100 - i),
        )
    for tid, name, slug in TEAMS:
        nova.execute(f"""insert into "Team" values (%s, %s, %s, {now}, {now})""", (tid, name, slug))  # noqa: S608
    for i, (mid, team, user, role) in enumerate(MEMBERS):
        nova.execute(
            f"""insert into "TeamMember" values (%s, %s, %s, %s, {now} - %s * interval '1 hour')""",  # noqa: S608
            (mid, team, user, role, 50 - i),
        )
    for pid, team, name in PROJECTS:
        nova.execute(
            f"""insert into "Project" values (%s, %s, %s, 'from Nova', {now}, {now})""",  # noqa: S608
            (pid, team, name),
        )
    for did, project, target, status, sha, by, started, finished in DEPLOYMENTS:
        nova.execute(
            f"""insert into "Deployment" values (%s, %s, %s, %s, %s, 'https://nova.dev/d', %s,
                {now} - interval '1 hour', {now} - %s * interval '1 minute', {now} - %s * interval '1 minute')""",
            (did, project, target, status, sha, by, started, finished),
        )
    for kid, team, name, expires, revoked in TOKENS:
        nova.execute(
            f"""insert into "ApiToken" values (%s, %s, %s, md5(%s), null, {now} - interval '10 days',
                {now} + %s * interval '1 day', null, case when %s then {now} end)""",  # noqa: S608
            (kid, team, name, kid, expires, revoked),
        )


def create_accounts(target: psycopg.Connection) -> None:
    """The Supabase accounts that exist before the import."""
    for uid, email in EXISTING_ACCOUNTS.items():
        target.execute(
            "insert into auth.users (id, email, aud, role, created_at) values (%s, %s, 'authenticated', "
            "'authenticated', now())",
            (uid, email),
        )
