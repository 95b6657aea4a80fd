"""gh.*: what the toolkit posts on GitHub from a workflow."""

from __future__ import annotations

import os
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from supadeploy.errors import ConfigError
from supadeploy.tasks.boundary import out, reports_errors

# MARKER, spelled here so that `invoke --list` imports no library module.
MARKER = "<!-- supadeploy:db.plan -->"


@task(
    help={
        "file": "Markdown file to post (e.g. the output of `invoke db.plan --markdown`).",
        "marker": f"Hidden HTML comment that identifies the comment to update (default {MARKER}).",
    }
)
@reports_errors
def comment(c: Context, file: str, marker: str = MARKER) -> None:
    """Post the file as one comment on the pull request, updated in place on every run (GitHub Actions)."""
    if not (marker.startswith("<!--") and marker.endswith("-->")):
        raise ConfigError("--marker must be an HTML comment: <!-- ... -->")
    from supadeploy import github_comment
    from supadeploy.settings import ProcessSettings

    try:
        text = Path(file).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
    api, pr = github_comment.from_environment(ProcessSettings.from_environ(os.environ))
    result = github_comment.upsert_comment(api, pr, text, marker)
    out.print(f"{result.action} comment {result.id} on {pr.repository}#{pr.number}", markup=False)
