"""`invoke gh.comment` against a local server that implements the GitHub REST endpoints it uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from supadeploy import github_comment

from .conftest import ProjectDir, run_invoke
from .github_double import NUMBER, REPOSITORY, TOKEN, FakeGitHub, env_for, pull_request_event, serving

pytestmark = pytest.mark.e2e


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with serving() as state:
        yield state


def test_first_run_creates_the_comment_and_the_next_updates_it(
    project_dir: ProjectDir, github: FakeGitHub, tmp_path: Path
) -> None:
    for i in range(150):  # the marked comment lands on the second page
        github.add(f"review comment {i}")
    event = pull_request_event(tmp_path / "event.json")
    report = tmp_path / "plan.md"
    report.write_text("### db.plan · staging · highest risk: 🔴 **HIGH**\n")
    first = run_invoke(project_dir, "gh.comment", "--file", str(report), **env_for(github, event))
    assert first.returncode == 0, first.output
    assert len(github.comments) == 151
    mine = github.comments[-1]
    assert mine["body"] == f"{github_comment.MARKER}\n### db.plan · staging · highest risk: 🔴 **HIGH**\n"
    assert f"created comment {mine['id']} on {REPOSITORY}#{NUMBER}" in first.stdout

    report.write_text("### db.plan · staging · highest risk: 🟡 **LOW**\n")
    second = run_invoke(project_dir, "gh.comment", "--file", str(report), **env_for(github, event))
    assert second.returncode == 0, second.output
    assert len(github.comments) == 151, "a second comment was stacked instead of updating the first"
    assert mine["body"].endswith("🟡 **LOW**\n")
    assert f"updated comment {mine['id']}" in second.stdout
    methods = [method for method, _ in github.calls]
    assert methods == ["GET", "GET", "POST", "GET", "GET", "PATCH"], github.calls
    for ran in (first, second):
        assert TOKEN not in ran.output


def test_failures_are_one_line_and_never_show_the_token(
    project_dir: ProjectDir, github: FakeGitHub, tmp_path: Path
) -> None:
    event = pull_request_event(tmp_path / "event.json")
    report = tmp_path / "plan.md"
    report.write_text("plan\n")
    github.refuse_writes = True
    refused = run_invoke(project_dir, "gh.comment", "--file", str(report), **env_for(github, event))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: GitHub API POST /repos/{REPOSITORY}/issues/{NUMBER}/comments returned 403: "
        "Resource not accessible by integration"
    ]
    push_event = tmp_path / "push.json"
    push_event.write_text(json.dumps({"ref": "refs/heads/main", "after": "abc"}))
    not_pr = run_invoke(project_dir, "gh.comment", "--file", str(report), **env_for(github, push_event))
    assert "error: the event at GITHUB_EVENT_PATH is not a pull_request event" in not_pr.stderr
    no_token = {**env_for(github, event), "GITHUB_TOKEN": ""}
    missing = run_invoke(project_dir, "gh.comment", "--file", str(report), **no_token)
    assert missing.returncode == 1 and "error: GITHUB_TOKEN is not set" in missing.stderr
    plain_http = {**env_for(github, event), "GITHUB_API_URL": "http://github.example.com"}
    refused_url = run_invoke(project_dir, "gh.comment", "--file", str(report), **plain_http)
    assert "error: GITHUB_API_URL must be https" in refused_url.stderr
    for ran in (refused, not_pr, missing, refused_url):
        assert TOKEN not in ran.output and "Traceback" not in ran.output
    assert len(github.comments) == 0
