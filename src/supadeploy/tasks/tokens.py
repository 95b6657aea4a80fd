"""tokens.*: operators issue, list and revoke team API tokens over the environment's service connection."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from supadeploy.app import TOKEN_SCOPES
from supadeploy.tasks.boundary import environment, err, interactive, out, print_json, project, reports_errors

ENV_HELP = "Environment whose database holds the tokens (default local)."


@task(
    help={
        "env": ENV_HELP,
        "team": "Team id (uuid).",
        "name": "What the token is for, e.g. 'CI deploys'.",
        "scopes": f"Comma-separated, from: {', '.join(TOKEN_SCOPES)}; a write scope needs its read scope.",
        "expires_in": "Lifetime: 12h, 90d, 4w (default 90d; at most 366 days).",
        "yes": "Confirm a protected environment without a prompt.",
    }
)
@reports_errors
def create(
    c: Context, team: str, name: str, scopes: str, env: str = "local", expires_in: str = "90d", yes: bool = False
) -> None:
    """Issue a team API token; the token is printed once, on stdout, and stored only as a SHA-256 hash."""
    from supadeploy.app import tokens
    from supadeploy.database import connect
    from supadeploy.environments import confirm

    proj = project()
    target = environment(proj, env)
    team_id = tokens.parse_id(team, "--team")
    chosen = tokens.parse_scopes(scopes)
    lifetime = tokens.parse_lifetime(expires_in)
    confirm(target, action="issue an API token", yes=yes, interactive=interactive())
    with connect(target.url) as conn:
        secret = tokens.create(conn, team_id, name, chosen, lifetime)
    err.print(f"token for team {team_id} ({', '.join(chosen)}, {lifetime}): shown once, store it now")
    print(secret)


@task(help={"env": ENV_HELP, "team": "Only this team's tokens (uuid).", "json": "Print JSON instead of a table."})
@reports_errors
def list(c: Context, env: str = "local", team: str = "", json: bool = False) -> None:  # noqa: A001 - task name
    """List API tokens: prefix, scopes, expiry, revocation, last use; never the secret or its hash."""
    from supadeploy.app import tokens
    from supadeploy.database import connect

    proj = project()
    target = environment(proj, env)
    team_id = tokens.parse_id(team, "--team") if team else None
    with connect(target.url) as conn:
        found = tokens.listing(conn, team_id)
    if json:
        print_json([t.as_dict() for t in found])
        return
    from rich.table import Table

    table = Table(title=f"API tokens on {target.name}")
    for column in ("id", "team", "name", "prefix", "scopes", "expires", "revoked", "last used"):
        table.add_column(column, no_wrap=column in ("id", "team"))  # whole: tokens.revoke --id takes it
    for t in found:
        table.add_row(
            str(t.id),
            str(t.team_id),
            t.name,
            t.display_prefix + "…",
            ", ".join(t.scopes),
            f"{t.expires_at:%Y-%m-%d}",
            f"{t.revoked_at:%Y-%m-%d}" if t.revoked_at else "",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
        )
    out.print(table)


@task(help={"env": ENV_HELP, "id": "Token id (uuid), from tokens.list.", "yes": "Confirm a protected environment."})
@reports_errors
def revoke(c: Context, id: str, env: str = "local", yes: bool = False) -> None:  # noqa: A002 - option name
    """Revoke an API token; requests presenting it get HTTP 401 from then on."""
    from supadeploy.app import tokens
    from supadeploy.database import connect
    from supadeploy.environments import confirm

    proj = project()
    target = environment(proj, env)
    token_id = tokens.parse_id(id, "--id")
    confirm(target, action="revoke an API token", yes=yes, interactive=interactive())
    with connect(target.url) as conn:
        tokens.revoke(conn, token_id)
    out.print(f"revoked {token_id}")
