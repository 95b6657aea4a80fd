"""A local stand-in for the GitHub REST endpoints the toolkit uses: a pull request's comments (list, paginated;
create; update) for gh.comment, and a workflow run's jobs (paginated) for fleet.promote's stop check."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

TOKEN = "ghs_FakeInstallationToken0123456789abcdef"
REPOSITORY = "acme/vision"
NUMBER = 42


@dataclass
class FakeGitHub:
    """Issue comments of one pull request, paginated as GitHub does (Link: <...>; rel="next")."""

    comments: list[dict] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000
    refuse_writes: bool = False
    base_url: str = ""
    run_id: int = 7001
    jobs: list[dict] = field(default_factory=list)

    def add(self, body: str, login: str = "someone") -> dict:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": login, "type": "User" if login != "github-actions[bot]" else "Bot"},
            "html_url": f"https://github.com/{REPOSITORY}/pull/{NUMBER}#issuecomment-{self.next_id}",
        }
        self.comments.append(comment)
        return comment


def handler_for(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    list_path = f"/repos/{REPOSITORY}/issues/{NUMBER}/comments"
    jobs_path = f"/repos/{REPOSITORY}/actions/runs/{state.run_id}/jobs"
    update_path = re.compile(rf"^/repos/{REPOSITORY}/issues/comments/(\d+)$")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def reply(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorised(self) -> bool:
            state.calls.append((self.command, self.path))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.reply(401, {"message": "Bad credentials"})
                return False
            if self.command != "GET" and state.refuse_writes:
                self.reply(403, {"message": "Resource not accessible by integration"})
                return False
            return True

        def body(self) -> dict:
            return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

        def do_GET(self) -> None:
            if not self.authorised():
                return
            url = urlsplit(self.path)
            if url.path not in (list_path, jobs_path):
                self.reply(404, {"message": "Not Found"})
                return
            items = state.comments if url.path == list_path else state.jobs
            query = parse_qs(url.query)
            per_page = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            chunk = items[(page - 1) * per_page : page * per_page]
            headers = {}
            if page * per_page < len(items):
                headers["Link"] = f'<{state.base_url}{url.path}?per_page={per_page}&page={page + 1}>; rel="next"'
            if url.path == jobs_path:
                self.reply(200, {"total_count": len(items), "jobs": chunk}, headers)
                return
            self.reply(200, chunk, headers)

        def do_POST(self) -> None:
            if not self.authorised():
                return
            if self.path != list_path:
                self.reply(404, {"message": "Not Found"})
                return
            self.reply(201, state.add(self.body()["body"], "github-actions[bot]"))

        def do_PATCH(self) -> None:
            if not self.authorised():
                return
            found = update_path.match(self.path)
            comment = next((c for c in state.comments if found and c["id"] == int(found.group(1))), None)
            if comment is None:
                self.reply(404, {"message": "Not Found"})
                return
            comment["body"] = self.body()["body"]
            self.reply(200, comment)

    return Handler


@contextmanager
def serving() -> Iterator[FakeGitHub]:
    """A FakeGitHub listening on a free loopback port until the block ends."""
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def pull_request_event(path: Path) -> Path:
    """A pull_request `synchronize` payload with the fields GitHub sends that matter here, and some that do not."""
    sha = "9f2c1e7a4b3d5c6e8f90a1b2c3d4e5f6a7b8c9d0"
    event = {
        "action": "synchronize",
        "number": NUMBER,
        "before": "1111111111111111111111111111111111111111",
        "after": sha,
        "pull_request": {
            "url": f"https://api.github.com/repos/{REPOSITORY}/pulls/{NUMBER}",
            "id": 1987654321,
            "html_url": f"https://github.com/{REPOSITORY}/pull/{NUMBER}",
            "number": NUMBER,
            "state": "open",
            "title": "orders: widen total to bigint",
            "user": {"login": "dev", "id": 7, "type": "User"},
            "head": {"ref": "widen-total", "sha": sha, "repo": {"full_name": REPOSITORY}},
            "base": {
                "ref": "main",
                "sha": "2222222222222222222222222222222222222222",
                "repo": {"full_name": REPOSITORY},
            },
            "draft": False,
        },
        "repository": {"id": 123, "name": "vision", "full_name": REPOSITORY, "private": True},
        "sender": {"login": "dev", "id": 7, "type": "User"},
    }
    path.write_text(json.dumps(event))
    return path


def env_for(github: FakeGitHub, event: Path) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": github.base_url,
        "GITHUB_TOKEN": TOKEN,
    }
