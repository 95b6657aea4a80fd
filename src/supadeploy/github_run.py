"""The jobs of the running workflow run, read from GitHub's REST API: which of a wave's target jobs failed.

promote-fleet.yml runs a wave's targets as one matrix with fail-fast off (cancelling would cut running
pushes short). For a wave with on_failure = "stop", each target job asks here, before it starts,
whether a sibling already failed, and then starts nothing.
"""

from __future__ import annotations

from supadeploy.errors import ConfigError
from supadeploy.github_comment import PER_PAGE, GitHubApi, authenticated, next_page, repository
from supadeploy.settings import ProcessSettings

# The name of a wave's target job in promote-fleet.yml: `name: "wave 2: ${{ matrix.target }}"`.
JOB_NAME = "wave {index}: {target}"


def job_name(index: int, target: str) -> str:
    """The display name GitHub gives one target's job."""
    return JOB_NAME.format(index=index, target=target)


def from_environment(process: ProcessSettings) -> tuple[GitHubApi, str, str]:
    """The API, owner/name and run id, from GITHUB_TOKEN, GITHUB_API_URL, GITHUB_REPOSITORY and GITHUB_RUN_ID."""
    api = authenticated(process)
    owner_name = repository(process)
    run_id = process.github_run_id or ""
    if not run_id.isdigit():
        raise ConfigError("GITHUB_RUN_ID must be the workflow run's number (GitHub Actions sets it)")
    return api, owner_name, run_id


def failed_siblings(api: GitHubApi, repository: str, run_id: str, index: int, target: str) -> list[str]:
    """The targets of wave `index` whose job in this run has concluded with a failure (not target itself)."""
    prefix = job_name(index, "")
    url: str | None = f"{api.base_url}/repos/{repository}/actions/runs/{run_id}/jobs?filter=latest&per_page={PER_PAGE}"
    failed = []
    while url:
        payload, headers = api.request("GET", url)
        for job in (payload or {}).get("jobs") or ():
            name = str(job.get("name") or "")
            if name.startswith(prefix) and name != job_name(index, target) and job.get("conclusion") == "failure":
                failed.append(name.removeprefix(prefix))
        url = next_page(headers)
    return sorted(failed)
