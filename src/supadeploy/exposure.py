"""What the client roles can reach through the Data API, as a catalog snapshot, and what a change adds or removes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from supadeploy.project import sql_file

EXPOSURE_SQL = "exposure_snapshot.sql"
CLIENT_ROLES = ("anon", "authenticated", "service_role", "public")
# (kind, object, role, item) -> detail
Snapshot = Mapping[tuple[str, str, str, str], str]
_ORDER = {
    "schema": 0,
    "default": 1,
    "rls": 2,
    "table": 3,
    "column": 4,
    "policy": 5,
    "view": 6,
    "function": 7,
    "definer": 8,
}
_PRIVILEGE_KINDS = ("schema", "table", "column", "function", "default")


def snapshot(
    conn: psycopg.Connection, schemas: Sequence[str], roles: Sequence[str] = CLIENT_ROLES
) -> dict[tuple[str, str, str, str], str]:
    """Read sql/exposure_snapshot.sql: privileges, RLS, policies, SECURITY DEFINER and view modes (catalog only)."""
    rows = conn.execute(
        sql_file(EXPOSURE_SQL).read_text().encode(), {"schemas": list(schemas), "roles": list(roles)}
    ).fetchall()
    return {(kind, obj, role, item): detail or "" for kind, obj, role, item, detail in rows}


@dataclass(frozen=True)
class ExposureChange:
    """One difference a reviewer should see: + reachable now, - no longer, ~ changed, or a state (RLS, views)."""

    sign: str
    kind: str
    object: str
    roles: tuple[str, ...]
    text: str

    @property
    def line(self) -> str:
        """'+SELECT on public.invoices to anon', '-policy ...', 'RLS off on public.x'."""
        return f"{self.sign}{self.text}" if self.sign in ("+", "-", "~") else self.text

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "sign": self.sign,
            "kind": self.kind,
            "object": self.object,
            "roles": list(self.roles),
            "line": self.line,
        }


TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def delta(before: Snapshot, after: Snapshot) -> list[ExposureChange]:
    """Every difference between two snapshots, one line per object, sign and grantees, in a stable order.

    Privileges on the same object with the same sign are folded into one line ("+SELECT, INSERT on t to anon",
    "ALL" for every table privilege), and roles that gained or lost the same set share it.
    """
    granted: dict[tuple[str, str, str, str, str], list[str]] = {}
    changes: list[ExposureChange] = []
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        kind, obj, role, item = key
        if kind in _PRIVILEGE_KINDS:
            if old is not None and new is not None:
                continue  # still held; only the route (directly or through PUBLIC) changed
            route = new if new is not None else old
            through = "public" if route == "public" and role != "public" else ""
            granted.setdefault(("+" if new is not None else "-", kind, obj, through, role), []).append(item)
            continue
        change = _describe(kind, obj, item, old, new)
        if change is not None:
            changes.append(change)
    by_items: dict[tuple[str, str, str, str, tuple[str, ...]], list[str]] = {}
    for (sign, kind, obj, through, role), items in granted.items():
        by_items.setdefault((sign, kind, obj, through, _ordered(items)), []).append(role)
    for (sign, kind, obj, through, listed), roles in by_items.items():
        changes.append(_privileges(sign, kind, obj, through, listed, tuple(sorted(roles, key=_role_order))))
    return sorted(changes, key=lambda c: (c.object, _ORDER.get(c.kind, 9), c.sign, c.text))


def _ordered(items: list[str]) -> tuple[str, ...]:
    rank = {p: i for i, p in enumerate(TABLE_PRIVILEGES)}
    return tuple(sorted(set(items), key=lambda i: (rank.get(i.split(" ")[0], 99), i)))


def _role_order(role: str) -> int:
    return CLIENT_ROLES.index(role) if role in CLIENT_ROLES else len(CLIENT_ROLES)


def _privileges(
    sign: str, kind: str, obj: str, through: str, items: tuple[str, ...], roles: tuple[str, ...]
) -> ExposureChange:
    grantees = ", ".join("PUBLIC" if r == "public" else r for r in roles)
    via = " (through PUBLIC)" if through else ""
    what = "ALL" if kind in ("table", "default") and set(items) == set(TABLE_PRIVILEGES) else ", ".join(items)
    if kind == "schema":
        text = f"{what} on schema {obj} to {grantees}"
    elif kind == "function":
        text = f"EXECUTE on function {obj} to {grantees}{via}"
    elif kind == "default":
        owner, _, objects = obj.partition(": ")
        text = f"default {what} on new {objects} created by {owner} to {grantees}"
    else:
        text = f"{what} on {obj} to {grantees}{via}"
    return ExposureChange(sign, kind, obj, roles, text)


def _describe(kind: str, obj: str, item: str, old: str | None, new: str | None) -> ExposureChange | None:
    if kind == "rls":
        if new is None:
            return None  # the table is gone; its privileges say so
        if new == "off":
            return ExposureChange("", kind, obj, (), f"RLS off on {obj}")
        return ExposureChange("", kind, obj, (), f"RLS on{' (forced)' if 'forced' in new else ''} for {obj}")
    if kind == "policy":
        return _policy(obj, item, old, new)
    if kind == "definer":
        return ExposureChange("+" if new is not None else "-", kind, obj, (), f"SECURITY DEFINER function {obj}")
    if kind == "view":
        if new == "owner":
            return ExposureChange("", kind, obj, (), f"view {obj} runs as its owner: RLS on its tables does not apply")
        if new == "invoker" and old == "owner":
            return ExposureChange("", kind, obj, (), f"view {obj} now runs as the caller (security_invoker)")
        return None
    return ExposureChange("~", kind, obj, (), f"{kind} {item} on {obj}: {old} -> {new}")


def _policy(table: str, name: str, old: str | None, new: str | None) -> ExposureChange:
    if new is None:
        return ExposureChange("-", "policy", table, (), f"policy {name!r} on {table}")
    after = json.loads(new)
    if old is None:
        return ExposureChange("+", "policy", table, (), f"policy {name!r} on {table} ({_policy_summary(after)})")
    before = json.loads(old)
    parts = []
    for field in ("command", "permissive", "roles", "using", "check"):
        if before.get(field) != after.get(field):
            parts.append(
                f"{field} {_policy_value(field, before.get(field))} -> {_policy_value(field, after.get(field))}"
            )
    return ExposureChange("~", "policy", table, (), f"policy {name!r} on {table}: {'; '.join(parts)}")


def _policy_summary(policy: Mapping[str, object]) -> str:
    text = f"{policy['command']} to {_policy_value('roles', policy['roles'])}"
    if not policy.get("permissive"):
        text += ", restrictive"
    if policy.get("using"):
        text += f", using {policy['using']}"
    if policy.get("check"):
        text += f", with check {policy['check']}"
    return text


def _policy_value(field: str, value: object) -> str:
    if field == "roles":
        return ", ".join(str(r) for r in value) if isinstance(value, list) else str(value)
    if field == "permissive":
        return "permissive" if value else "restrictive"
    return "none" if value is None else str(value)
