"""Stateful property test: a hostile crowd against a small reference model of the team rules.

Random identities (members of every role, outsiders, people whose account was deleted, anon, a JWT
without `sub`, API tokens of every scope, live or dead) make random requests as PostgREST runs them:
inserts and updates of any column to values drawn from the whole world (other teams, other users,
other projects, nulls, ids that never existed), deletes, and the RPCs (create_team, invitations,
accept, transfer, tokens, sharing). Supabase Auth deletes accounts and changes or confirms emails.

The model (`Rules`) states who may do what in plain Python. Every request's outcome must match it,
and after every step what each identity sees, and what exists, must equal the model's state.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from psycopg import sql

from supadeploy.database import DbUrl

from .conftest import Server, database_from
from .postgrest import authenticator_url
from .test_tokens import issuable, issue_any

pytestmark = pytest.mark.e2e

ROLES = ("viewer", "member", "admin", "owner")
RANK = {role: n for n, role in enumerate(ROLES)}
VIEWER, MEMBER, ADMIN, OWNER = range(4)
SCOPES = ("projects:read", "projects:write", "deployments:read", "deployments:write")
NAMES = ("ada", "bo", "cy", "di", "ed", "flo")
USERS = tuple(uuid.UUID(int=0x9000 + n) for n in range(len(NAMES)))
NOWHERE = uuid.UUID(int=0x9999)  # a team, project or row that never exists
CONTENT = ("projects", "deployments", "ad_campaigns", "ai_generations", "models_3d")
PERSONAL = ("ai_generations", "models_3d")
# Who a row belongs to or was made by: user_id on personal content, created_by elsewhere.
OWNER_COLUMN = {table: "user_id" if table in PERSONAL else "created_by" for table in CONTENT}
# The one column of each table a client may change (to the same value here); the rest are moves.
EDITABLE = {
    "projects": "name",
    "deployments": "status",
    "ad_campaigns": "name",
    "ai_generations": "status",
    "models_3d": "name",
}
REQUIRED = {
    "projects": {"name": "p"},
    "deployments": {"environment": "local"},
    "ad_campaigns": {"name": "c"},
    "ai_generations": {"prompt": "a lamp", "model": "m"},
    "models_3d": {"name": "m", "storage_path": "m.glb", "format": "glb", "size_bytes": 1},
}
# What a refused request looks like: no privilege or RLS, a constraint, "not found", a lapsed invitation.
DENIALS = {"42501", "P0002", "28000", "PT401"}

# What a step does, weighted by repetition: mostly requests that move, add or change things.
STEPS = (
    "update_content",
    "add_member",
    "insert_content",
    "change_role",
    "update_content",
    "accept",
    "create_token",
    "insert_content",
    "remove_member",
    "share",
    "update_content",
    "invite",
    "delete_content",
    "transfer_ownership",
    "insert_content",
    "update_content",
    "change_role",
    "create_team",
    "delete_team",
    "revoke_token",
    "edit_profile",
    "auth_deletes_an_account",
    "auth_changes_an_email",
    "auth_confirms_an_email",
    "invite",  # invitations are revoked by many other steps: walk them often
    "accept",
    "withdraw",
    "token_rewrites_everything",
)
TABLES = CONTENT
REQUESTS_PER_STEP = 3

Actor = tuple[str, ...]  # ("user", uid), ("anon",), ("nosub",), ("token", name)
T = TypeVar("T")


def text(value: object) -> str:
    """As the queries below print values: null as '-', booleans as PostgreSQL does."""
    if isinstance(value, bool):
        return str(value).lower()
    return "-" if value is None else str(value)


def choose(data: st.DataObject, options: Sequence[T], label: str) -> T:
    """One of the options, about evenly: sampled_from favours the first few too much for a long walk."""
    choice = options[data.draw(st.integers(0, 2**16 - 1), label=label) % len(options)]
    note(f"{label}: {choice}")
    return choice


# The reference model ----------------------------------------------------------------------------------
@dataclass
class Account:
    email: str
    confirmed: bool


@dataclass
class Membership:
    role: str
    joined: int  # the step it was created in: the successor of a deleted last owner is the longest-standing


@dataclass
class Row:
    team: uuid.UUID | None
    owner: uuid.UUID | None
    project: uuid.UUID | None = None


@dataclass
class Invitation:
    id: uuid.UUID
    team: uuid.UUID
    email: str
    role: str
    invited_by: uuid.UUID | None
    accepted: bool = False
    revoked: bool = False

    @property
    def pending(self) -> bool:
        return not self.accepted and not self.revoked


@dataclass
class Token:
    id: uuid.UUID
    team: uuid.UUID
    scopes: frozenset[str]
    issuer: uuid.UUID | None
    revoked: bool = False


@dataclass
class Rules:
    """The rules in plain Python: who may do what, and what each identity then sees."""

    accounts: dict[uuid.UUID, Account] = field(default_factory=dict)
    teams: set[uuid.UUID] = field(default_factory=set)
    members: dict[tuple[uuid.UUID, uuid.UUID], Membership] = field(default_factory=dict)
    rows: dict[str, dict[uuid.UUID, Row]] = field(default_factory=lambda: {t: {} for t in (*CONTENT, "subscriptions")})
    invitations: dict[str, Invitation] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)

    def rank(self, team: uuid.UUID | None, user: uuid.UUID) -> int:
        membership = self.members.get((team, user)) if team is not None else None
        return RANK[membership.role] if membership else -1

    def teams_of(self, user: uuid.UUID, at_least: int = VIEWER) -> set[uuid.UUID]:
        return {t for (t, u), m in self.members.items() if u == user and RANK[m.role] >= at_least}

    def another_owner(self, team: uuid.UUID, user: uuid.UUID) -> bool:
        return any(t == team and u != user and m.role == "owner" for (t, u), m in self.members.items())

    def set_role(self, team: uuid.UUID, user: uuid.UUID, role: str) -> None:
        membership = self.members[(team, user)]
        if RANK[role] < RANK[membership.role]:
            self.revoke_invitations_to(team, user)
        if RANK[membership.role] >= ADMIN > RANK[role]:
            self.revoke_tokens_of(team, user)
            self.revoke_invitations_from(team, user)
        elif membership.role == "owner" != role:
            self.revoke_invitations_from(team, user, owner_only=True)
        membership.role = role

    def remove_member(self, team: uuid.UUID, user: uuid.UUID, *, account_deleted: bool = False) -> None:
        if not account_deleted:  # when it is, the address is gone before the membership
            self.revoke_invitations_to(team, user)
        if RANK[self.members.pop((team, user)).role] >= ADMIN:
            self.revoke_tokens_of(team, user)
            self.revoke_invitations_from(team, user)

    def revoke_invitations_to(self, team: uuid.UUID, user: uuid.UUID) -> None:
        """A member removed or demoted: invitations that could bring them back are void."""
        for invitation in self.invitations.values():
            if invitation.team == team and invitation.email == self.accounts[user].email and invitation.pending:
                invitation.revoked = True

    def revoke_invitations_from(self, team: uuid.UUID, user: uuid.UUID, *, owner_only: bool = False) -> None:
        """Their sender lost the right to send them (below admin; below owner for owner invitations)."""
        for invitation in self.invitations.values():
            if (
                invitation.team == team
                and invitation.invited_by == user
                and invitation.pending
                and (invitation.role == "owner" or not owner_only)
            ):
                invitation.revoked = True

    def change_email(self, user: uuid.UUID, email: str) -> None:
        """A member leaving or taking an address voids the invitations to it in their teams: spares."""
        before = self.accounts[user].email
        for invitation in self.invitations.values():
            if invitation.pending and invitation.email in (before, email) and (invitation.team, user) in self.members:
                invitation.revoked = True
        self.accounts[user].email = email

    def billed(self, team: uuid.UUID) -> bool:
        return any(row.team == team for row in self.rows["subscriptions"].values())

    def revoke_tokens_of(self, team: uuid.UUID, user: uuid.UUID) -> None:
        for token in self.tokens.values():
            if token.team == team and token.issuer == user:
                token.revoked = True

    def delete_team(self, team: uuid.UUID) -> None:
        self.teams.discard(team)
        self.members = {k: m for k, m in self.members.items() if k[0] != team}
        for table in self.rows.values():
            for key in [k for k, row in table.items() if row.team == team]:
                del table[key]
        self.invitations = {h: i for h, i in self.invitations.items() if i.team != team}
        self.tokens = {h: t for h, t in self.tokens.items() if t.team != team}

    def delete_project(self, project: uuid.UUID) -> None:
        del self.rows["projects"][project]
        deployments = self.rows["deployments"]
        for key in [k for k, row in deployments.items() if row.project == project]:
            del deployments[key]

    def delete_account(self, user: uuid.UUID) -> None:
        """Supabase Auth deletes the user: what the cascade from auth.users does."""
        del self.accounts[user]
        abandoned = []
        for team in sorted(self.teams_of(user)):
            if self.members[(team, user)].role == "owner" and not self.another_owner(team, user):
                others = [(u, m) for (t, u), m in self.members.items() if t == team and u != user]
                if others:
                    successor = min(others, key=lambda um: (-RANK[um[1].role], um[1].joined, um[0]))[0]
                    self.members[(team, successor)].role = "owner"
                else:
                    abandoned.append(team)
            self.remove_member(team, user, account_deleted=True)
        for team in abandoned:
            if not self.billed(team):  # a team with a subscription stays, with nobody, for the operator
                self.delete_team(team)
        for table in PERSONAL:
            for key in [k for k, row in self.rows[table].items() if row.owner == user]:
                del self.rows[table][key]
        for table in ("projects", "deployments", "ad_campaigns"):
            for row in self.rows[table].values():
                if row.owner == user:
                    row.owner = None
        for invitation in self.invitations.values():
            if invitation.invited_by == user:
                invitation.invited_by = None
                invitation.revoked = invitation.revoked or not invitation.accepted
        for token in self.tokens.values():
            if token.issuer == user:
                token.issuer, token.revoked = None, True

    def live_token(self, actor: Actor) -> Token | None:
        token = self.tokens.get(actor[1]) if actor[0] == "token" else None
        return token if token and not token.revoked else None

    # What each identity sees ---------------------------------------------------------------------------
    def view(self, actor: Actor) -> set[tuple[str, str, str]] | str:
        if actor[0] == "token":
            token = self.live_token(actor)
            if token is None:
                return "401"
            return {
                (table, str(key), "-")
                for table in ("projects", "deployments")
                if f"{table}:read" in token.scopes
                for key, row in self.rows[table].items()
                if row.team == token.team
            }
        if actor[0] != "user":
            return set()
        me = uuid.UUID(actor[1])
        mine, administered = self.teams_of(me), self.teams_of(me, ADMIN)
        seen: set[tuple[str, str, str]] = {("teams", str(t), "-") for t in mine}
        seen |= {("team_members", f"{t}/{u}", m.role) for (t, u), m in self.members.items() if t in mine}
        seen |= {
            ("team_invitations", str(i.id), text(i.revoked))
            for i in self.invitations.values()
            if i.team in administered
        }
        for table in ("projects", "deployments", "ad_campaigns"):
            seen |= {(table, str(k), "-") for k, row in self.rows[table].items() if row.team in mine}
        for table in PERSONAL:
            seen |= {(table, str(k), "-") for k, row in self.rows[table].items() if row.owner == me or row.team in mine}
        seen |= {
            ("subscriptions", str(k), "-") for k, row in self.rows["subscriptions"].items() if row.team in administered
        }
        seen |= {("api_tokens", str(t.id), text(t.revoked)) for t in self.tokens.values() if t.team in administered}
        if me in self.accounts:
            people = {me} | {u for (t, u) in self.members if t in mine}
            seen |= {("profiles", str(u), self.accounts[u].email) for u in people}
        return seen

    def everything(self) -> set[tuple[str, str, str]]:
        """What exists, as the database owner sees it."""
        rows: set[tuple[str, str, str]] = {("users", str(u), a.email) for u, a in self.accounts.items()}
        rows |= {("profiles", str(u), a.email) for u, a in self.accounts.items()}
        rows |= {("teams", str(t), "-") for t in self.teams}
        rows |= {("team_members", f"{t}/{u}", m.role) for (t, u), m in self.members.items()}
        rows |= {
            ("team_invitations", str(i.id), f"{text(i.accepted)}|{text(i.invited_by)}|{text(i.revoked)}")
            for i in self.invitations.values()
        }
        for table, content in self.rows.items():
            rows |= {(table, str(k), f"{text(r.team)}|{text(r.owner)}|{text(r.project)}") for k, r in content.items()}
        rows |= {("api_tokens", str(t.id), f"{text(t.revoked)}|{text(t.issuer)}") for t in self.tokens.values()}
        return rows


# The database side ------------------------------------------------------------------------------------------
VIEW_AS_USER = """
select 'teams', id::text, '-' from public.teams
union all select 'team_members', team_id || '/' || user_id, role::text from public.team_members
union all select 'team_invitations', id::text, (revoked_at is not null)::text from public.team_invitations
union all select 'projects', id::text, '-' from public.projects
union all select 'deployments', id::text, '-' from public.deployments
union all select 'ad_campaigns', id::text, '-' from public.ad_campaigns
union all select 'ai_generations', id::text, '-' from public.ai_generations
union all select 'models_3d', id::text, '-' from public.models_3d
union all select 'subscriptions', id::text, '-' from public.subscriptions
union all select 'api_tokens', id::text, (revoked_at is not null)::text from public.api_tokens
union all select 'profiles', id::text, coalesce(email, '-') from public.profiles
"""
# anon holds grants on these two tables only (for API tokens).
VIEW_AS_ANON = """
select 'projects', id::text, '-' from public.projects
union all select 'deployments', id::text, '-' from public.deployments
"""
EVERYTHING = """
select 'users', id::text, email from auth.users
union all select 'profiles', id::text, coalesce(email, '-') from public.profiles
union all select 'teams', id::text, '-' from public.teams
union all select 'team_members', team_id || '/' || user_id, role::text from public.team_members
union all select 'team_invitations', id::text,
  (accepted_at is not null)::text || '|' || coalesce(invited_by::text, '-') || '|' || (revoked_at is not null)::text
  from public.team_invitations
union all select 'projects', id::text, team_id || '|' || coalesce(created_by::text, '-') || '|-' from public.projects
union all select 'deployments', id::text, team_id || '|' || coalesce(created_by::text, '-') || '|' || project_id
  from public.deployments
union all select 'ad_campaigns', id::text, team_id || '|' || coalesce(created_by::text, '-') || '|-'
  from public.ad_campaigns
union all select 'ai_generations', id::text, coalesce(team_id::text, '-') || '|' || user_id || '|-'
  from public.ai_generations
union all select 'models_3d', id::text, coalesce(team_id::text, '-') || '|' || user_id || '|-' from public.models_3d
union all select 'subscriptions', id::text, team_id || '|-|-' from public.subscriptions
union all select 'api_tokens', id::text, (revoked_at is not null)::text || '|' || coalesce(created_by::text, '-')
  from public.api_tokens
"""


class Refused(Exception):
    """A request the database refused (or that touched no row)."""


class Done(Exception):
    """Ends a read-only request transaction."""


class Crowd(RuleBasedStateMachine):
    """Hostile clients, Supabase Auth and the model, step by step."""

    owner: psycopg.Connection  # the database owner: seeding, Auth's changes, what exists
    api: psycopg.Connection  # logged in as authenticator, as PostgREST is

    def __init__(self) -> None:
        super().__init__()
        self.model = Rules()
        self.step = 0
        self.ids = 0
        self.every_team: list[uuid.UUID] = []
        self.every_row: dict[str, list[uuid.UUID]] = {table: [] for table in CONTENT}
        # Secrets ever issued, by a name stable from run to run (the secrets themselves are random).
        self.secrets: dict[str, str] = {}
        self.invitation_secrets: dict[str, str] = {"forged invitation": "inv_" + "0" * 48}
        with self.owner.transaction():
            self.owner.execute("truncate auth.users, public.teams cascade")
            for user, name in zip(USERS, NAMES, strict=True):
                confirmed = name != "flo"
                self.owner.execute(
                    "insert into auth.users (id, aud, role, email, email_confirmed_at, raw_user_meta_data)"
                    " values (%s, 'authenticated', 'authenticated', %s, case when %s then now() end, '{}')",
                    (user, f"{name}@model.test", confirmed),
                )
                self.model.accounts[user] = Account(f"{name}@model.test", confirmed)

    def new_id(self) -> uuid.UUID:
        self.ids += 1
        return uuid.UUID(int=0x10000 + self.ids)

    # Requests, as PostgREST makes them -------------------------------------------------------------------------
    def credentials(self, actor: Actor) -> tuple[str, dict[str, object], dict[str, str]]:
        if actor[0] == "user":
            return "authenticated", {"role": "authenticated", "sub": actor[1], "aud": "authenticated"}, {}
        if actor[0] == "nosub":
            return "authenticated", {"role": "authenticated", "aud": "authenticated"}, {}
        headers = {"x-api-token": self.secrets[actor[1]]} if actor[0] == "token" else {}
        return "anon", {"role": "anon"}, headers

    def begin(self, actor: Actor, method: str) -> None:
        """PostgREST's settings, then its pre-request, inside the caller's transaction."""
        role, claims, headers = self.credentials(actor)
        self.api.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
            " set_config('request.headers', %s, true), set_config('request.method', %s, true)",
            (role, json.dumps(claims), json.dumps(headers), method),
        )
        self.api.execute("select private.authenticate_api_token()")

    @staticmethod
    def refusal(exc: psycopg.Error) -> Refused:
        """The database said no (a 401, no privilege or RLS, a constraint, not found, a lapsed invitation)."""
        if exc.sqlstate in DENIALS or (exc.sqlstate or "").startswith("23"):
            return Refused(exc.sqlstate)
        raise exc  # anything else is a broken test or schema, not a refusal

    def send(self, actor: Actor, statement: sql.Composable | str, params: tuple[object, ...], *, dml: bool) -> object:
        """One writing request, committed when it succeeds; Refused when the database says no."""
        try:
            with self.api.transaction():
                self.begin(actor, "POST")
                cur = self.api.execute(statement, params)
                value = cur.fetchone()[0] if cur.description else None
                if dml and cur.rowcount == 0:
                    raise Refused("no row")
                return value
        except psycopg.Error as exc:
            raise self.refusal(exc) from None

    def attempt(
        self, actor: Actor, allowed: bool, statement: sql.Composable | str, params: tuple[object, ...], *, dml: bool
    ) -> object:
        """Send a request the model allows or not; the outcomes must agree. The RPC's value, if any."""
        try:
            value = self.send(actor, statement, params, dml=dml)
            outcome = True
        except Refused as refusal:
            value, outcome = None, False
            reason = str(refusal)
        what = statement.as_string(self.api) if isinstance(statement, sql.Composable) else statement
        assert outcome == allowed, (
            f"{self.label(actor)} {'was allowed' if outcome else f'was refused ({reason})'}: {what} {params}"
        )
        return value

    def label(self, actor: Actor) -> str:
        if actor[0] == "user":
            user = uuid.UUID(actor[1])
            return NAMES[USERS.index(user)] + ("" if user in self.model.accounts else " (account deleted)")
        if actor[0] == "token":
            token = self.model.tokens.get(actor[1])
            state = "dead" if token is None else f"{sorted(token.scopes)} of {token.team}"
            return f"token {state}"
        return actor[0]

    def observe(self, actor: Actor) -> set[tuple[str, str, str]] | str:
        """What a GET shows this identity (every table it holds a grant on), or its 401."""
        try:
            with self.api.transaction():
                self.begin(actor, "GET")
                query = VIEW_AS_USER if actor[0] in ("user", "nosub") else VIEW_AS_ANON
                seen = {tuple(r) for r in self.api.execute(query)}
                raise Done
        except Done:
            return seen  # type: ignore[return-value]
        except psycopg.Error as exc:
            if exc.sqlstate == "PT401":
                return "401"
            raise

    # Draws from the whole world ----------------------------------------------------------------------------------
    def actors(self) -> list[Actor]:
        everyone: list[Actor] = [("user", str(u)) for u in USERS]
        return [*everyone, ("anon",), ("nosub",), *(("token", h) for h in self.secrets)]

    # Three draws in four come from where a request has a chance (the team's members, existing rows), the
    # rest from everything: so both the allowed and the refused paths are walked often.
    @staticmethod
    def pick(data: st.DataObject, likely: Collection[T], anything: Sequence[T], label: str) -> T:
        # In the order of `anything` (insertion order): the same draws pick the same things every run.
        chances = [x for x in anything if x in likely]
        n = data.draw(st.integers(0, 2**16 - 1), label=label)
        choice = chances[(n // 4) % len(chances)] if chances and n % 4 else anything[(n // 4) % len(anything)]
        note(f"{label}: {choice}")
        return choice

    def draw_actor(
        self,
        data: st.DataObject,
        team: uuid.UUID | None = None,
        at_least: int = VIEWER,
        *,
        also: tuple[uuid.UUID | None, ...] = (),
        tokens: bool = True,
    ) -> Actor:
        """Anyone; likely a member of `team` (at least `at_least`), one of `also`, or one of its live tokens."""
        model = self.model
        likely: list[Actor] = [
            ("user", str(u))
            for (t, u), m in model.members.items()
            if (team is None or t == team) and RANK[m.role] >= at_least
        ]
        likely += [("user", str(u)) for u in also if u is not None]
        if tokens:
            likely += [
                ("token", h) for h, t in model.tokens.items() if not t.revoked and (team is None or t.team == team)
            ]
        return self.pick(data, likely, self.actors(), "actor")

    def draw_team(
        self, data: st.DataObject, user: uuid.UUID | None = None, *, nullable: bool = False
    ) -> uuid.UUID | None:
        """Any team ever, one that never was, or none; likely one of `user`'s (or an existing one)."""
        anything: list[uuid.UUID | None] = [*self.every_team, NOWHERE, *([None] if nullable else [])]
        likely = list(self.model.teams_of(user) if user is not None else self.model.teams)
        return self.pick(data, likely, anything, "team")

    def draw_user(
        self, data: st.DataObject, team: uuid.UUID | None = None, *, nullable: bool = False
    ) -> uuid.UUID | None:
        """Anyone, deleted accounts included, or nobody; likely a member of `team`, often one whose change
        revokes invitations (a pending one's sender, or its addressee)."""
        model = self.model
        likely = [u for (t, u) in model.members if t == team]
        pending = [i for i in model.invitations.values() if i.team == team and i.pending]
        if pending and data.draw(st.booleans(), label="aim at an invitation's people"):
            emails = {i.email for i in pending}
            people = {i.invited_by for i in pending} | {u for u, a in model.accounts.items() if a.email in emails}
            likely = [u for u in likely if u in people]
        return self.pick(data, likely, [*USERS, *([None] if nullable else [])], "user")

    def draw_row(self, data: st.DataObject, table: str) -> uuid.UUID:
        """Any row ever (deleted and refused ones too) or one that never was; likely an existing one."""
        return self.pick(data, list(self.model.rows[table]), [*self.every_row[table], NOWHERE], f"{table} row")

    def user_of(self, actor: Actor) -> uuid.UUID | None:
        return uuid.UUID(actor[1]) if actor[0] == "user" else None

    def team_of(self, table: str, key: uuid.UUID) -> uuid.UUID | None:
        row = self.model.rows[table].get(key)
        return row.team if row else None

    # The world to start from ----------------------------------------------------------------------------------
    @initialize(
        data=st.data(),
        teams=st.lists(
            st.dictionaries(st.sampled_from(USERS), st.sampled_from(ROLES), min_size=1, max_size=4),
            min_size=2,
            max_size=2,
        ),
    )
    def seed(self, data: st.DataObject, teams: list[dict[uuid.UUID, str]]) -> None:
        issuers: list[tuple[uuid.UUID, uuid.UUID]] = []
        with self.owner.transaction():
            for members in teams:
                team = self.new_id()
                founder = (
                    next(u for u, role in members.items() if role == "owner")
                    if "owner" in members.values()
                    else (next(iter(members)))
                )
                members[founder] = "owner"
                self.owner.execute(
                    "insert into public.teams (id, name, created_by) values (%s, 't', %s)", (team, founder)
                )
                self.model.teams.add(team)
                self.every_team.append(team)
                for user, role in members.items():
                    if user != founder:
                        self.owner.execute(
                            "insert into public.team_members (team_id, user_id, role) values (%s, %s, %s)",
                            (team, user, role),
                        )
                    self.model.members[(team, user)] = Membership(role, 0)
                project, deployment, campaign = self.new_id(), self.new_id(), self.new_id()
                generation, model, subscription, personal = self.new_id(), self.new_id(), self.new_id(), self.new_id()
                author = data.draw(st.sampled_from(sorted(members)), label="author")
                self.owner.execute(
                    "insert into public.projects (id, team_id, name) values (%s, %s, 'p')", (project, team)
                )
                self.owner.execute(
                    "insert into public.deployments (id, project_id, team_id, environment)"
                    " values (%s, %s, %s, 'local')",
                    (deployment, project, team),
                )
                self.owner.execute(
                    "insert into public.ad_campaigns (id, team_id, name) values (%s, %s, 'c')", (campaign, team)
                )
                self.owner.execute(
                    "insert into public.ai_generations (id, user_id, team_id, prompt, model)"
                    " values (%s, %s, %s, 'a chair', 'm')",
                    (generation, author, team),
                )
                self.owner.execute(
                    "insert into public.models_3d (id, user_id, team_id, name, storage_path, format, size_bytes)"
                    " values (%s, %s, %s, 'chair', 'chair.glb', 'glb', 1),"
                    " (%s, %s, null, 'mine', 'mine.glb', 'glb', 1)",
                    (model, author, team, personal, author),
                )
                self.owner.execute(
                    "insert into public.subscriptions (id, team_id, stripe_customer_id, plan, status)"
                    " values (%s, %s, 'cus_M', 'team', 'active')",
                    (subscription, team),
                )
                rows = self.model.rows
                rows["projects"][project] = Row(team, None)
                rows["deployments"][deployment] = Row(team, None, project)
                rows["ad_campaigns"][campaign] = Row(team, None)
                rows["ai_generations"][generation] = Row(team, author)
                rows["models_3d"][model] = Row(team, author)
                rows["models_3d"][personal] = Row(None, author)
                rows["subscriptions"][subscription] = Row(team, None)
                for table, key in (("projects", project), ("deployments", deployment), ("ad_campaigns", campaign)):
                    self.every_row[table].append(key)
                self.every_row["ai_generations"].append(generation)
                self.every_row["models_3d"] += [model, personal]
                # Any scopes, a write scope alone too: production may hold such tokens, issued before 20261126001400.
                scopes = data.draw(st.sets(st.sampled_from(SCOPES), min_size=1), label="operator token scopes")
                self.remember_token(issue_any(self.owner, team, scopes), team, scopes, None)
                # A token issued by an admin (else the owner) through the RPC: its issuer may lose the right.
                admins = [u for u, role in members.items() if role == "admin"]
                issuers.append((team, admins[0] if admins else founder))
        for team, issuer in issuers:
            scopes = data.draw(st.sets(st.sampled_from(SCOPES), min_size=1), label="admin token scopes")
            scopes |= {f"{s.split(':')[0]}:read" for s in scopes}  # a write scope is issued with its read scope
            secret = self.send(
                ("user", str(issuer)), "select public.create_api_token(%s, 'ci', %s)", (team, sorted(scopes)), dml=False
            )
            self.remember_token(str(secret), team, scopes, issuer)

    def remember_token(self, secret: str, team: uuid.UUID, scopes: set[str], issuer: uuid.UUID | None) -> None:
        key = f"token {len(self.secrets) + 1}"
        (token_id,) = self.owner.execute(
            "select id from public.api_tokens where token_hash = extensions.digest(%s, 'sha256')", (secret,)
        ).fetchone()
        self.secrets[key] = secret
        self.model.tokens[key] = Token(token_id, team, frozenset(scopes), issuer)

    # Content: insert, update any column, delete ------------------------------------------------------------------
    def insert_content(self, data: st.DataObject) -> None:  # noqa: C901
        table = choose(data, TABLES, "table")
        who = choose(data, ("omit", "self", "someone", "null"), f"{OWNER_COLUMN[table]} as")
        actor = self.draw_actor(data, at_least=ADMIN if table == "projects" else MEMBER)
        model = self.model
        token = model.tokens.get(actor[1]) if actor[0] == "token" else None
        project = self.draw_row(data, "projects") if table == "deployments" else None
        if project is not None and project in model.rows["projects"] and data.draw(st.booleans(), label="its team"):
            team: uuid.UUID | None = model.rows["projects"][project].team
        elif token is not None and data.draw(st.booleans(), label="the token's team"):
            team = token.team
        else:
            team = self.draw_team(data, self.user_of(actor), nullable=table in PERSONAL)
        me = self.user_of(actor)
        named = {"omit": None, "self": me, "someone": self.draw_user(data), "null": None}[who]
        values: dict[str, object] = {"team_id": team, **REQUIRED[table]}
        # The database chooses ids: a client naming one (in use anywhere, or not) is refused.
        chosen_id = choose(data, ("database", "database", "client"), "id chosen by") == "client"
        if chosen_id:
            values = {"id": self.draw_row(data, table), **values}
        if project is not None:
            values["project_id"] = project
        if who != "omit":
            values[OWNER_COLUMN[table]] = named
        owner = me if who == "omit" else named
        if me is not None:
            need = MEMBER if table != "projects" else ADMIN
            allowed = owner == me and (
                (team is None or model.rank(team, me) >= MEMBER) and me in model.accounts
                if table in PERSONAL
                else team is not None and model.rank(team, me) >= need
            )
        elif (token := model.live_token(actor)) is not None:
            owner = None
            allowed = (
                who == "omit" and table in ("projects", "deployments") and f"{table}:write" in token.scopes
            ) and team == token.team
        else:
            allowed = False
        if table == "deployments":
            allowed = allowed and project in model.rows["projects"] and model.rows["projects"][project].team == team
        allowed = allowed and not chosen_id
        statement = sql.SQL("insert into {} ({}) values ({})").format(
            sql.Identifier("public", table),
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
        )
        self.attempt(actor, allowed, statement, tuple(values.values()), dml=True)
        if allowed:
            # Its id is the one row of the table the model does not know yet.
            (key,) = self.owner.execute(
                sql.SQL("select id from {} where id <> all(%s)").format(sql.Identifier("public", table)),
                (list(model.rows[table]),),
            ).fetchone()
            self.every_row[table].append(key)
            model.rows[table][key] = Row(team, owner, project)

    def update_content(self, data: st.DataObject) -> None:
        table = choose(data, TABLES, "table")
        model = self.model
        key = self.draw_row(data, table)
        row = model.rows[table].get(key)
        actor = self.draw_actor(
            data,
            row.team if row else None,
            also=(row.owner,) if row and table in PERSONAL else (),
            tokens=table in ("projects", "deployments"),
        )
        moves = ["team_id", OWNER_COLUMN[table]] + (["project_id"] if table == "deployments" else [])
        columns = [moves[0], EDITABLE[table], *moves[1:], EDITABLE[table]]
        column = choose(data, columns, "column")
        # Where the move would have a chance: the actor's own teams, projects and self, or nothing.
        me = self.user_of(actor)
        mine = model.teams_of(me) if me is not None else set()
        if column == "team_id":
            value: object = self.pick(data, [*mine, None], [*self.every_team, NOWHERE, None], "new team")
        elif column == "project_id":
            theirs = [k for k, r in model.rows["projects"].items() if r.team in mine]
            value = self.pick(data, theirs, [*self.every_row["projects"], NOWHERE], "new project")
        elif column == OWNER_COLUMN[table]:
            value = self.pick(data, [me, None], [*USERS, None], "new owner")
        else:
            value = None
        assignments = [(column, value)]
        if column == "project_id" and value in model.rows["projects"] and data.draw(st.booleans(), label="with team"):
            assignments.append(("team_id", model.rows["projects"][value].team))  # a move the foreign key accepts
        row, token = model.rows[table].get(key), model.live_token(actor)
        allowed = False
        if column == EDITABLE[table] and row is not None:
            if me is not None:
                need = ADMIN if table == "projects" else MEMBER
                # The owner edits their own item while it is personal; in a team, its members edit it (so an
                # owner who left the team may delete it or take it back, not edit it there).
                allowed = model.rank(row.team, me) >= need or (
                    table in PERSONAL and row.owner == me and row.team is None
                )
            elif token is not None:
                # PostgreSQL applies the read policy to the rows an UPDATE filters: writing needs reading too.
                allowed = table in ("projects", "deployments") and {f"{table}:write", f"{table}:read"} <= token.scopes
                allowed = allowed and row.team == token.team
        # Owner, team, project and attribution columns are never client-writable: moves are refused.
        settings_sql = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(
                sql.Identifier(c), sql.Identifier(c) if c == EDITABLE[table] else sql.Placeholder()
            )
            for c, _ in assignments
        )
        params = tuple(v for c, v in assignments if c != EDITABLE[table])
        statement = sql.SQL("update {} set {} where id = %s").format(sql.Identifier("public", table), settings_sql)
        self.attempt(actor, allowed, statement, (*params, key), dml=True)

    def token_rewrites_everything(self, data: st.DataObject) -> None:
        """PostgREST's PATCH with no filter and `return=minimal`: an UPDATE that reads no row. A token still
        rewrites only the rows it may read: its team's, with both the write and the read scope."""
        if not self.secrets:
            return
        table = choose(data, ("projects", "deployments"), "table")
        actor: Actor = ("token", choose(data, list(self.secrets), "token"))
        token = self.model.live_token(actor)
        expected = 0
        if token is not None and {f"{table}:write", f"{table}:read"} <= token.scopes:
            expected = sum(row.team == token.team for row in self.model.rows[table].values())
        value = {"projects": "p", "deployments": "queued"}[table]
        statement = sql.SQL("update {} set {} = %s").format(
            sql.Identifier("public", table), sql.Identifier(EDITABLE[table])
        )
        try:
            with self.api.transaction():
                self.begin(actor, "PATCH")
                rewritten = self.api.execute(statement, (value,)).rowcount
        except psycopg.Error as exc:
            self.refusal(exc)  # a dead token's 401; anything else is raised
            rewritten = 0
        assert rewritten == expected, f"{self.label(actor)} rewrote {rewritten} {table}, the rules allow {expected}"

    def delete_content(self, data: st.DataObject) -> None:
        table = choose(data, TABLES, "table")
        model = self.model
        key = self.draw_row(data, table)
        actor = self.draw_actor(data, self.team_of(table, key), ADMIN)
        row, me = model.rows[table].get(key), self.user_of(actor)
        allowed = (
            row is not None
            and me is not None
            and (model.rank(row.team, me) >= ADMIN or (table in PERSONAL and row.owner == me))
        )
        statement = sql.SQL("delete from {} where id = %s").format(sql.Identifier("public", table))
        self.attempt(actor, allowed, statement, (key,), dml=True)
        if allowed:
            if table == "projects":
                model.delete_project(key)
            else:
                del model.rows[table][key]

    def share(self, data: st.DataObject) -> None:
        table = choose(data, PERSONAL, "table")
        model = self.model
        key = self.draw_row(data, table)
        row = model.rows[table].get(key)
        owner: list[Actor] = [("user", str(row.owner))] if row is not None else []
        actor = self.pick(data, owner, self.actors(), "actor")
        me = self.user_of(actor)
        team = self.draw_team(data, me, nullable=True)
        allowed = (
            me is not None and row is not None and row.owner == me and (team is None or model.rank(team, me) >= MEMBER)
        )
        rpc = "share_ai_generation" if table == "ai_generations" else "share_model_3d"
        self.attempt(
            actor, allowed, sql.SQL("select {}(%s, %s)").format(sql.Identifier("public", rpc)), (key, team), dml=False
        )
        if allowed:
            row.team = team  # type: ignore[union-attr]

    # Teams and members ----------------------------------------------------------------------------------------
    def create_team(self, data: st.DataObject) -> None:
        actor = self.draw_actor(data)
        me = self.user_of(actor)
        allowed = me is not None and me in self.model.accounts
        team = self.attempt(actor, allowed, "select public.create_team('new')", (), dml=False)
        if allowed:
            self.step += 1
            self.model.teams.add(team)  # type: ignore[arg-type]
            self.every_team.append(team)  # type: ignore[arg-type]
            self.model.members[(team, me)] = Membership("owner", self.step)  # type: ignore[index]

    def delete_team(self, data: st.DataObject) -> None:
        team = self.draw_team(data)
        actor = self.draw_actor(data, team, OWNER)
        me = self.user_of(actor)
        # A team with a subscription stays until billing ends it (the Stripe webhook deletes the row).
        allowed = me is not None and self.model.rank(team, me) == OWNER and not self.model.billed(team)  # type: ignore[arg-type]
        self.attempt(actor, allowed, "delete from public.teams where id = %s", (team,), dml=True)
        if allowed:
            self.model.delete_team(team)  # type: ignore[arg-type]

    def add_member(self, data: st.DataObject) -> None:
        role = choose(data, ROLES, "role")
        team = self.draw_team(data)
        actor, user = self.draw_actor(data, team, ADMIN), self.draw_user(data)
        statement = "insert into public.team_members (team_id, user_id, role) values (%s, %s, %s)"
        self.attempt(actor, False, statement, (team, user, role), dml=True)  # only create_team and invitations

    def change_role(self, data: st.DataObject) -> None:
        role = choose(data, ROLES, "role")
        team = self.draw_team(data)
        actor, user = self.draw_actor(data, team, ADMIN), self.draw_user(data, team)
        model, me = self.model, self.user_of(actor)
        membership = model.members.get((team, user))
        allowed = False
        if me is not None and membership is not None:
            mine = model.rank(team, me)
            allowed = mine == OWNER or (mine == ADMIN and membership.role != "owner" and role != "owner")
            if membership.role == "owner" and role != "owner" and not model.another_owner(team, user):  # type: ignore[arg-type]
                allowed = False
        statement = "update public.team_members set role = %s where team_id = %s and user_id = %s"
        self.attempt(actor, allowed, statement, (role, team, user), dml=True)
        if allowed:
            model.set_role(team, user, role)  # type: ignore[arg-type]

    def remove_member(self, data: st.DataObject) -> None:
        team = self.draw_team(data)
        actor, user = self.draw_actor(data, team), self.draw_user(data, team)
        model, me = self.model, self.user_of(actor)
        membership = model.members.get((team, user))
        allowed = False
        if me is not None and membership is not None:
            mine = model.rank(team, me)
            allowed = user == me or mine == OWNER or (mine == ADMIN and membership.role != "owner")
            if membership.role == "owner" and not model.another_owner(team, user):  # type: ignore[arg-type]
                allowed = False
        statement = "delete from public.team_members where team_id = %s and user_id = %s"
        self.attempt(actor, allowed, statement, (team, user), dml=True)
        if allowed:
            model.remove_member(team, user)  # type: ignore[arg-type]

    def transfer_ownership(self, data: st.DataObject) -> None:
        team = self.draw_team(data)
        actor, user = self.draw_actor(data, team, OWNER), self.draw_user(data, team)
        model, me = self.model, self.user_of(actor)
        allowed = me is not None and model.rank(team, me) == OWNER and (team, user) in model.members
        if allowed and user == me and not model.another_owner(team, me):  # type: ignore[arg-type]
            allowed = False  # stepping down to admin would leave no owner
        self.attempt(actor, allowed, "select public.transfer_ownership(%s, %s)", (team, user), dml=False)
        if allowed:
            model.set_role(team, user, "owner")  # type: ignore[arg-type]
            model.set_role(team, me, "admin")  # type: ignore[arg-type]

    # Invitations ------------------------------------------------------------------------------------------------
    def invite(self, data: st.DataObject) -> None:
        role = choose(data, ROLES, "role")
        # The last two compare as at most 30 days but last longer (a month is not 30 days when added).
        lifetime = choose(data, ("1 day", "30 days", "100 years", "1000 months -29970 days"), "lifetime")
        actor = self.draw_actor(data, at_least=ADMIN, tokens=False)  # tokens: among anyone
        model, me = self.model, self.user_of(actor)
        team = self.draw_team(data, me)
        emails = sorted({a.email for a in model.accounts.values()} | {"nobody@model.test"})
        # Often a resend: a second invitation to an address with one pending, the spare accepting voids.
        resends = sorted({i.email for i in model.invitations.values() if i.team == team and i.pending})
        if resends and data.draw(st.booleans(), label="resend"):
            emails = resends
        email = choose(data, emails, "email")
        mine = model.rank(team, me) if me is not None else -1
        allowed = lifetime in ("1 day", "30 days") and mine >= ADMIN and (role != "owner" or mine == OWNER)
        statement = "select public.create_invitation(%s, %s, %s::public.team_role, %s::interval)"
        secret = self.attempt(actor, allowed, statement, (team, email, role, lifetime), dml=False)
        if allowed:
            (invitation_id,) = self.owner.execute(
                "select id from public.team_invitations where token_hash = extensions.digest(%s, 'sha256')", (secret,)
            ).fetchone()
            key = f"invitation {len(self.invitation_secrets)}"
            self.invitation_secrets[key] = str(secret)
            model.invitations[key] = Invitation(invitation_id, team, email, role, me)  # type: ignore[arg-type]

    def withdraw(self, data: st.DataObject) -> None:
        """Delete an invitation: a pending one (expired or not), an owner invitation only by an owner."""
        model = self.model
        key = self.pick(data, list(model.invitations), list(self.invitation_secrets), "invitation")
        invitation = model.invitations.get(key)
        actor = self.draw_actor(data, invitation.team if invitation else None, ADMIN)
        me = self.user_of(actor)
        allowed = (
            invitation is not None
            and invitation.pending
            and me is not None
            and model.rank(invitation.team, me) >= (OWNER if invitation.role == "owner" else ADMIN)
        )
        invitation_id = invitation.id if invitation else NOWHERE
        self.attempt(actor, allowed, "delete from public.team_invitations where id = %s", (invitation_id,), dml=True)
        if allowed:
            del model.invitations[key]

    def accept(self, data: st.DataObject) -> None:
        model = self.model
        pending = [k for k, i in model.invitations.items() if i.pending]
        key = self.pick(data, pending, list(self.invitation_secrets), "invitation")
        invitation, secret = model.invitations.get(key), self.invitation_secrets[key]
        invitees = [("user", str(u)) for u, a in model.accounts.items() if invitation and a.email == invitation.email]
        actor = self.pick(data, invitees, self.actors(), "actor")
        me = self.user_of(actor)
        account = model.accounts.get(me) if me is not None else None
        allowed = (
            account is not None
            and account.confirmed
            and invitation is not None
            and invitation.pending
            and account.email == invitation.email
            and invitation.invited_by is not None
            and model.rank(invitation.team, invitation.invited_by) >= (OWNER if invitation.role == "owner" else ADMIN)
        )
        self.attempt(actor, allowed, "select public.accept_invitation(%s)", (secret,), dml=False)
        if allowed:
            invitation.accepted = True  # type: ignore[union-attr]
            for spare in model.invitations.values():  # one membership per address: the spares are void
                if spare.team == invitation.team and spare.email == invitation.email and spare.pending:  # type: ignore[union-attr]
                    spare.revoked = True
            if (invitation.team, me) not in model.members:  # type: ignore[union-attr]
                self.step += 1
                model.members[(invitation.team, me)] = Membership(invitation.role, self.step)  # type: ignore[index,union-attr]

    # API tokens ----------------------------------------------------------------------------------------------
    def create_token(self, data: st.DataObject) -> None:
        scopes = data.draw(st.sets(st.sampled_from(SCOPES), min_size=1), label="scopes")
        # The last two compare as at most 366 days; added to a date, they are 371 days and 3600 years.
        lifetimes = ("1 day", "366 days", "1 year 6 days", "3000000 months -89999634 days")
        lifetime = choose(data, lifetimes, "lifetime")
        actor = self.draw_actor(data, at_least=ADMIN, tokens=False)  # tokens: among anyone
        me = self.user_of(actor)
        team = self.draw_team(data, me)
        allowed = me is not None and self.model.rank(team, me) >= ADMIN and lifetime in lifetimes[:2]
        allowed = allowed and issuable(scopes)  # a write scope needs its read scope
        statement = "select public.create_api_token(%s, 'model', %s, %s::interval)"
        secret = self.attempt(actor, allowed, statement, (team, sorted(scopes), lifetime), dml=False)
        if allowed:
            self.remember_token(str(secret), team, scopes, me)  # type: ignore[arg-type]

    def revoke_token(self, data: st.DataObject) -> None:
        if not self.secrets:
            return
        key = choose(data, list(self.secrets), "token")
        token = self.model.tokens.get(key)
        actor = self.draw_actor(data, token.team if token else None, ADMIN)
        me = self.user_of(actor)
        token_id = token.id if token else NOWHERE
        allowed = token is not None and me is not None and self.model.rank(token.team, me) >= ADMIN
        self.attempt(actor, allowed, "select public.revoke_api_token(%s)", (token_id,), dml=False)
        if allowed:
            token.revoked = True  # type: ignore[union-attr]

    # Profiles and Supabase Auth -------------------------------------------------------------------------------
    def edit_profile(self, data: st.DataObject) -> None:
        column = choose(data, ("email", "display_name"), "column")
        actor = self.draw_actor(data)
        me = self.user_of(actor)
        user = self.pick(data, [me], list(USERS), "profile of")
        allowed = column == "display_name" and me == user and user in self.model.accounts
        statement = sql.SQL("update public.profiles set {} = 'changed@model.test' where id = %s").format(
            sql.Identifier(column)
        )
        self.attempt(actor, allowed, statement, (user,), dml=True)

    def auth_deletes_an_account(self, data: st.DataObject) -> None:
        if not self.model.accounts:
            return
        user = choose(data, sorted(self.model.accounts), "deleted account")
        self.owner.execute("delete from auth.users where id = %s", (user,))
        self.model.delete_account(user)

    def auth_changes_an_email(self, data: st.DataObject) -> None:
        if not self.model.accounts:
            return
        model = self.model
        user = choose(data, sorted(model.accounts), "account")
        self.step += 1
        # A fresh address, or one a pending invitation is sent to (a way back in, or a spare): invitations
        # follow the account's current email.
        held = {a.email for a in model.accounts.values()}
        addressed = sorted({i.email for i in model.invitations.values() if i.pending} - held)
        email = choose(data, [f"{NAMES[USERS.index(user)]}.{self.step}@model.test", *addressed], "new email")
        self.owner.execute("update auth.users set email = %s where id = %s", (email, user))
        model.change_email(user, email)

    def auth_confirms_an_email(self, data: st.DataObject) -> None:
        if not self.model.accounts:
            return
        user = choose(data, sorted(self.model.accounts), "account")
        self.owner.execute("update auth.users set email_confirmed_at = now() where id = %s", (user,))
        self.model.accounts[user].confirmed = True

    # One step: a few requests from clients, or things Supabase Auth does, each outcome checked against the
    # model as it returns; then the invariants. (Requests cost a millisecond, looking at the world through
    # every identity's eyes twelve: a few requests a step walk much further for the same time.)
    @rule(data=st.data())
    def next_step(self, data: st.DataObject) -> None:
        for _ in range(REQUESTS_PER_STEP):
            getattr(self, choose(data, STEPS, "request"))(data)

    # After every step ---------------------------------------------------------------------------------------
    @invariant()
    def everyone_sees_what_the_rules_say(self) -> None:
        for actor in self.actors():
            seen, expected = self.observe(actor), self.model.view(actor)
            if seen != expected and isinstance(seen, set) and isinstance(expected, set):
                raise AssertionError(
                    f"{self.label(actor)} sees {sorted(seen - expected)} it should not"
                    f" and misses {sorted(expected - seen)}"
                )
            assert seen == expected, f"{self.label(actor)}: {seen!r} != {expected!r}"

    @invariant()
    def what_exists_is_what_the_rules_say(self) -> None:
        exists = {tuple(r) for r in self.owner.execute(EVERYTHING)}
        expected = self.model.everything()
        assert exists == expected, f"extra {sorted(exists - expected)}, missing {sorted(expected - exists)}"


# By default (the suite, CI): a fixed, derandomized walk that fits the time budget, reported unshrunk (the
# failing request is named; shrinking a long walk over a database takes minutes). To explore further:
# SUPADEPLOY_MODEL_RANDOM=1 (new walks), SUPADEPLOY_MODEL_EXAMPLES / _STEPS (longer), SUPADEPLOY_MODEL_SHRINK=1.
MODEL_SETTINGS = settings(
    max_examples=int(os.environ.get("SUPADEPLOY_MODEL_EXAMPLES", "30")),
    stateful_step_count=int(os.environ.get("SUPADEPLOY_MODEL_STEPS", "40")),
    derandomize=os.environ.get("SUPADEPLOY_MODEL_RANDOM") != "1",
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, *((Phase.shrink,) if os.environ.get("SUPADEPLOY_MODEL_SHRINK") else ())),
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def model_db(pg_server: Server, unexposed_schema_template: str) -> Iterator[DbUrl]:
    with database_from(pg_server, unexposed_schema_template, "model") as url:
        yield url


def test_a_hostile_crowd_never_gets_past_the_rules(model_db: DbUrl) -> None:
    with (
        psycopg.connect(model_db.raw, autocommit=True) as owner,
        psycopg.connect(authenticator_url(model_db).raw, autocommit=True) as api,
    ):
        Crowd.owner, Crowd.api = owner, api
        run_state_machine_as_test(Crowd, settings=MODEL_SETTINGS)
