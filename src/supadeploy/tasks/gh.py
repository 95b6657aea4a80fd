"""gh.*: what the toolkit posts on GitHub from a workflow."""

from __future__ import annotations

import os
from pathlib import Path

from invoke import task
from invoke.context import Context

from supadeploy import github_comment
from supadeploy.errors import ConfigError
from supadeploy.tasks.boundary import out, reports_errors


@task(
    help={
        "file": "Markdown file to post (e.g. the output of `invoke db.plan --markdown`).",
        "marker": f"Hidden HTML comment that identifies the comment to update (default {github_comment.MARKER}).",
    }
)
@reports_errors
def comment(c: Context, file: str, marker: str = github_comment.MARKER) -> None:
    """Post the file as one comment on the pull request, updated in place on every run (GitHub Actions)."""
    if not (marker.startswith("<!--") and marker.endswith("-->")):
        raise ConfigError("--marker must be an HTML comment: <!-- ... -->")
    try:
        text = Path(file).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
    api, pr = github_comment.from_environment(os.environ)
    result = github_comment.upsert_comment(api, pr, text, marker)
    out.print(f"{result.action} comment {result.id} on {pr.repository}#{pr.number}", markup=False)
