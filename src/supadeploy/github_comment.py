"""One pull-request comment per report, found by a hidden marker and updated in place (GitHub REST, stdlib only)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from supadeploy.errors import ConfigError, GitHubError
from supadeploy.settings import ProcessSettings

MARKER = "<!-- supadeploy:db.plan -->"
DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
# GitHub refuses comment bodies above 65536 characters.
MAX_BODY = 65_000
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class PullRequest:
    """owner/name and the pull request's number."""

    repository: str
    number: int


@dataclass(frozen=True)
class CommentResult:
    """What upsert_comment did."""

    action: str  # created | updated
    id: int
    url: str


@dataclass(frozen=True)
class GitHubApi:
    """The REST API at base_url, authenticated by a token that is never shown."""

    base_url: str
    token: str = field(repr=False)

    def request(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> tuple[Any, Mapping[str, str]]:
        """One JSON request; raise GitHubError naming the method, the path and GitHub's message."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in from_environment
            url,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "supadeploy",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        path = urlsplit(url).path
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                payload = response.read()
                return (json.loads(payload) if payload else None), dict(response.headers)
        except urllib.error.HTTPError as exc:
            raise GitHubError(f"GitHub API {method} {path} returned {exc.code}: {_message(exc)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubError(f"GitHub API {method} {path} failed: {reason}") from None


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read() or b"{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


def authenticated(process: ProcessSettings) -> GitHubApi:
    """The API at GITHUB_API_URL (https, or http on this machine only), with GITHUB_TOKEN."""
    token = process.github_token or ""
    if not token:
        raise ConfigError("GITHUB_TOKEN is not set: pass it to the step as env (secrets.GITHUB_TOKEN)")
    base = process.github_api_url or DEFAULT_API_URL
    parts = urlsplit(base)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise ConfigError(f"GITHUB_API_URL must be https (got {parts.scheme or 'no'} scheme): the token is not sent")
    return GitHubApi(base.rstrip("/"), token)


def repository(process: ProcessSettings) -> str:
    """owner/name from GITHUB_REPOSITORY."""
    name = process.github_repository or ""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", name):
        raise ConfigError("GITHUB_REPOSITORY must be owner/name (GitHub Actions sets it)")
    return name


def next_page(headers: Mapping[str, str]) -> str | None:
    """The URL of the next page from a Link header, if any."""
    found = _NEXT.search(headers.get("Link") or headers.get("link") or "")
    return found.group(1) if found else None


def from_environment(process: ProcessSettings) -> tuple[GitHubApi, PullRequest]:
    """GITHUB_TOKEN, GITHUB_API_URL, GITHUB_REPOSITORY and the pull_request payload at GITHUB_EVENT_PATH."""
    api = authenticated(process)
    owner_name = repository(process)
    event_path = process.github_event_path or ""
    if not event_path:
        raise ConfigError("GITHUB_EVENT_PATH is not set: run this in a GitHub Actions pull_request job")
    try:
        event = json.loads(Path(event_path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event payload at GITHUB_EVENT_PATH: {exc}") from None
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    if not isinstance(number, int):
        raise ConfigError("the event at GITHUB_EVENT_PATH is not a pull_request event: no pull request to comment on")
    return api, PullRequest(owner_name, number)


def find_comment(api: GitHubApi, pr: PullRequest, marker: str = MARKER) -> Mapping[str, Any] | None:
    """The first comment on the pull request whose body starts with the marker, following every page."""
    url: str | None = f"{api.base_url}/repos/{pr.repository}/issues/{pr.number}/comments?per_page={PER_PAGE}"
    while url:
        comments, headers = api.request("GET", url)
        for comment in comments or ():
            if str(comment.get("body") or "").startswith(marker):
                return dict(comment)
        url = next_page(headers)
    return None


def upsert_comment(api: GitHubApi, pr: PullRequest, text: str, marker: str = MARKER) -> CommentResult:
    """Create the marked comment, or update it in place when an earlier run left one."""
    body = f"{marker}\n{text}"
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY] + "\n\n… cut here: the full report is in the job's step summary.\n"
    existing = find_comment(api, pr, marker)
    if existing is None:
        created, _ = api.request(
            "POST", f"{api.base_url}/repos/{pr.repository}/issues/{pr.number}/comments", {"body": body}
        )
        return CommentResult("created", int(created["id"]), str(created.get("html_url", "")))
    updated, _ = api.request(
        "PATCH", f"{api.base_url}/repos/{pr.repository}/issues/comments/{existing['id']}", {"body": body}
    )
    return CommentResult("updated", int(updated["id"]), str(updated.get("html_url", "")))
