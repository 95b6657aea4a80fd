"""Benchmark: a member's team-scoped deployment listing through RLS vs the same query as service_role.

Loads 1M deployments across 10k teams and 100k users (each in 20 teams), then times, in one
run and interleaved, the listing a member sees through PostgREST (role authenticated, claims
set transaction-locally, RLS on) against the same query run as service_role with the
equivalent explicit membership filter. Prints the ratio (target <= 1.2) and both plans.

    .venv/bin/python bench/rls_listing.py            # starts its own cluster in /tmp
    .venv/bin/python bench/rls_listing.py --url postgresql://postgres:...@127.0.0.1:54322/postgres
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import throwaway  # noqa: E402

from supadeploy.dburl import DbUrl  # noqa: E402
from supadeploy.environments import Environment  # noqa: E402
from supadeploy.project import Project  # noqa: E402
from supadeploy.push import push  # noqa: E402
from supadeploy.supabase_cli import find_cli  # noqa: E402

DBNAME = "bench_rls"
AUTHENTICATOR_PASSWORD = "bench-authenticator"

TEAM_LISTING = (
    "select id, environment, status, commit_sha, created_at from public.deployments "
    "where team_id = %(team)s order by created_at desc limit 50"
)
TEAM_LISTING_EXPLICIT = (
    "select id, environment, status, commit_sha, created_at from public.deployments "
    "where team_id = %(team)s and exists (select 1 from public.team_members m "
    "where m.team_id = %(team)s and m.user_id = %(user)s) order by created_at desc limit 50"
)
ALL_TEAMS_LISTING = "select id, team_id, status, created_at from public.deployments order by created_at desc limit 50"
ALL_TEAMS_EXPLICIT = (
    "select id, team_id, status, created_at from public.deployments where team_id = any (array("
    "select m.team_id from public.team_members m where m.user_id = %(user)s)) order by created_at desc limit 50"
)


def prepare(server: DbUrl) -> DbUrl:
    url = throwaway.fresh_db(server, DBNAME)
    with psycopg.connect(url.raw, autocommit=True) as admin:
        admin.execute(sql.SQL("alter role authenticator password {}").format(sql.Literal(AUTHENTICATOR_PASSWORD)))
    repo = Project(ROOT)
    push(repo, Environment.for_url("local", url, source="bench"), find_cli(repo))
    started = time.perf_counter()
    with psycopg.connect(url.raw, autocommit=True) as conn:
        conn.execute((ROOT / "bench" / "rls_load.sql").read_text().encode())
        # A live table has been through autovacuum: index-only scans rely on the visibility map.
        conn.execute("vacuum analyze")
        counts = conn.execute(
            "select (select count(*) from auth.users), (select count(*) from public.teams),"
            " (select count(*) from public.team_members), (select count(*) from public.deployments)"
        ).fetchone()
    print(
        f"loaded users={counts[0]} teams={counts[1]} memberships={counts[2]} deployments={counts[3]}"
        f" in {time.perf_counter() - started:.1f}s"
    )
    return url


def pick_members(url: DbUrl, n: int, seed: int) -> list[tuple[str, str]]:
    with psycopg.connect(url.raw) as conn:
        rows = conn.execute(
            "select user_id::text, team_id::text from public.team_members where role = 'member' "
            "order by md5(user_id::text || team_id::text || %s) limit %s",
            (str(seed), n),
        ).fetchall()
    return [(u, t) for u, t in rows]


def run(
    conn: psycopg.Connection,
    role: str,
    user: str | None,
    query: str,
    params: dict[str, str],
    *,
    token: str | None = None,
    pre_request: bool = False,
) -> float:
    """One GET as PostgREST runs it: a read-only transaction, its settings, the pre-request if set, the query."""
    claims = {"role": role} if user is None else {"role": role, "sub": user}
    headers = {} if token is None else {"x-api-token": token}
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
            " set_config('request.headers', %s, true), set_config('request.method', 'GET', true),"
            " set_config('request.path', '/rest/v1/deployments', true)",
            (role, json.dumps(claims), json.dumps(headers)),
        )
        if pre_request:
            conn.execute("select private.authenticate_api_token()")
        conn.execute(query, params).fetchall()
    return time.perf_counter() - started


def compare_tokens(
    api: psycopg.Connection, pairs: list[tuple[str, str]], issued: dict[str, str], rounds: int
) -> tuple[float, float, float]:
    """Token-authenticated team listing vs the same listing by a member with a JWT (both through the pre-request)."""

    def by_token(team: str, params: dict[str, str]) -> float:
        return run(api, "anon", None, TEAM_LISTING, params, token=issued[team], pre_request=True)

    def by_member(user: str, params: dict[str, str]) -> float:
        return run(api, "authenticated", user, TEAM_LISTING, params, pre_request=True)

    token_times: list[float] = []
    member_times: list[float] = []
    for _ in range(rounds):
        for index, (user, team) in enumerate(pairs):
            params = {"team": team, "user": user}
            if index % 2:
                token_times.append(by_token(team, params))
                member_times.append(by_member(user, params))
            else:
                member_times.append(by_member(user, params))
                token_times.append(by_token(team, params))
    token_ms = statistics.median(token_times) * 1000
    member_ms = statistics.median(member_times) * 1000
    return token_ms, member_ms, token_ms / member_ms


def compare(
    api: psycopg.Connection, pairs: list[tuple[str, str]], rls_query: str, explicit_query: str, rounds: int
) -> tuple[float, float, float]:
    rls_times: list[float] = []
    service_times: list[float] = []
    for _ in range(rounds):
        for index, (user, team) in enumerate(pairs):
            params = {"team": team, "user": user}
            # Alternate which goes first so caching and noise favour neither side.
            if index % 2:
                rls_times.append(run(api, "authenticated", user, rls_query, params))
                service_times.append(run(api, "service_role", None, explicit_query, params))
            else:
                service_times.append(run(api, "service_role", None, explicit_query, params))
                rls_times.append(run(api, "authenticated", user, rls_query, params))
    rls_ms = statistics.median(rls_times) * 1000
    service_ms = statistics.median(service_times) * 1000
    return rls_ms, service_ms, rls_ms / service_ms


def explain(api: psycopg.Connection, role: str, user: str | None, query: str, params: dict[str, str]) -> str:
    claims = {"role": role} if user is None else {"role": role, "sub": user}
    with api.transaction():
        api.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            (role, json.dumps(claims)),
        )
        rows = api.execute("explain (analyze, buffers, costs off) " + query, params).fetchall()
    return "\n".join(f"    {r[0]}" for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="superuser URL of a server to use (default: start a throwaway cluster)")
    parser.add_argument("--pairs", type=int, default=200, help="member/team pairs to time (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the pairs (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with ExitStack() as stack:
        server = throwaway.server(args.url, stack)
        url = prepare(server)
        pairs = pick_members(url, args.pairs, args.seed)
        random.Random(args.seed).shuffle(pairs)
        api_url = f"postgresql://authenticator:{AUTHENTICATOR_PASSWORD}@{url.host}:{url.port}/{DBNAME}"
        api = stack.enter_context(psycopg.connect(api_url, autocommit=True))
        api.read_only = True  # every request here is a GET, which PostgREST runs as BEGIN READ ONLY
        compare(api, pairs[:20], TEAM_LISTING, TEAM_LISTING_EXPLICIT, 1)  # warm up
        rls_ms, service_ms, ratio = compare(api, pairs, TEAM_LISTING, TEAM_LISTING_EXPLICIT, args.rounds)
        all_rls, all_service, all_ratio = compare(api, pairs, ALL_TEAMS_LISTING, ALL_TEAMS_EXPLICIT, args.rounds)
        with psycopg.connect(url.raw, autocommit=True) as owner:
            issued = {
                team: owner.execute(
                    "select private.operator_issue_api_token(%s, 'bench', array['deployments:read'], '1 day')", (team,)
                ).fetchone()[0]
                for team in {t for _, t in pairs}
            }
        compare_tokens(api, pairs[:20], issued, 1)  # warm up
        token_ms, member_ms, token_ratio = compare_tokens(api, pairs, issued, args.rounds)
        user, team = pairs[0]
        params = {"team": team, "user": user}
        print("\nplan, member through RLS (team listing):")
        print(explain(api, "authenticated", user, TEAM_LISTING, params))
        print("\nplan, service_role with explicit filter (team listing):")
        print(explain(api, "service_role", None, TEAM_LISTING_EXPLICIT, params))
        print("\nplan, member through RLS (all my teams):")
        print(explain(api, "authenticated", user, ALL_TEAMS_LISTING, params))
        print(f"\nteam-scoped listing, median over {len(pairs) * args.rounds} requests each:")
        print(f"  through RLS as a member      {rls_ms:8.3f} ms")
        print(f"  service_role + explicit      {service_ms:8.3f} ms")
        print(f"  ratio                        {ratio:8.2f}x   (target <= 1.2)")
        print("all-my-teams listing (secondary):")
        print(f"  through RLS {all_rls:.3f} ms, service_role + explicit {all_service:.3f} ms, ratio {all_ratio:.2f}x")
        print("API token listing (issue 4):")
        print(
            f"  token-authenticated {token_ms:.3f} ms, member with a JWT {member_ms:.3f} ms, ratio {token_ratio:.2f}x"
            "   (target <= 1.2)"
        )
        return 0 if ratio <= 1.2 and token_ratio <= 1.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
