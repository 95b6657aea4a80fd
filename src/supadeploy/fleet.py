"""The fleet file, `supabase/fleet.toml`: named targets grouped into ordered waves, and the matrix Actions runs.

```toml
[[waves]]
name = "canary"
targets = ["eu-canary"]

[[waves]]
name = "europe"
targets = ["eu-1", "eu-2", "eu-3"]
max_parallel = 2          # targets promoted at once (default 1)
on_failure = "continue"   # "stop" (default): start no other target; "continue": finish this wave
```

Each target is an environment resolved as any other (`.env.<name>` or `SUPABASE_DB_URL_<NAME>`). Every
mistake is one line naming the file and the key.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supadeploy.environments import check_format
from supadeploy.errors import ConfigError
from supadeploy.project import Project

FLEET_FILE = Path("supabase") / "fleet.toml"
# promote-fleet.yml has this many wave jobs (wave1 ... wave4); a fleet with more waves is refused here,
# so the workflow never silently drops a wave.
WORKFLOW_WAVES = 4
# GitHub runs at most 256 jobs from one matrix.
MAX_TARGETS_PER_WAVE = 256
ON_FAILURE = ("stop", "continue")
_WAVE_KEYS = ("name", "targets", "max_parallel", "on_failure")


@dataclass(frozen=True)
class Wave:
    """Targets promoted together, at most max_parallel at once; on_failure says what a failed target does."""

    index: int  # 1-based, the position in the file and the workflow's wave job
    name: str
    targets: tuple[str, ...]
    max_parallel: int = 1
    on_failure: str = "stop"

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "index": self.index,
            "name": self.name,
            "targets": list(self.targets),
            "max_parallel": self.max_parallel,
            "on_failure": self.on_failure,
        }

    def job(self) -> dict[str, object]:
        """What the workflow's wave job takes: `strategy.matrix`, `max-parallel` and on_failure."""
        return {
            "name": self.name,
            "max_parallel": self.max_parallel,
            "on_failure": self.on_failure,
            "matrix": {"target": list(self.targets)},
        }


@dataclass(frozen=True)
class Fleet:
    """The waves, in the order they run."""

    file: str  # as shown in messages, relative to the project
    waves: tuple[Wave, ...]

    @property
    def targets(self) -> tuple[str, ...]:
        """Every target, wave by wave."""
        return tuple(t for wave in self.waves for t in wave.targets)

    def wave(self, name: str) -> Wave:
        """The wave called name, or a ConfigError listing the names."""
        for wave in self.waves:
            if wave.name == name:
                return wave
        raise ConfigError(f"{self.file} has no wave {name!r} (waves: {', '.join(w.name for w in self.waves)})")

    def wave_of(self, target: str) -> Wave:
        """The wave holding target, or a ConfigError."""
        for wave in self.waves:
            if target in wave.targets:
                return wave
        raise ConfigError(f"{self.file} has no target {target!r} (targets: {', '.join(self.targets)})")

    def github_outputs(self) -> dict[str, str]:
        """The plan job's outputs: `waves` (how many) and `wave<N>`, the JSON each wave job's strategy reads."""
        outputs = {"waves": str(len(self.waves))}
        for wave in self.waves:
            outputs[f"wave{wave.index}"] = json.dumps(wave.job(), separators=(",", ":"))
        return outputs


def load(project: Project) -> Fleet:
    """Read and check the project's fleet file."""
    path = project.root / FLEET_FILE
    where = FLEET_FILE.as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no {where} in {project.root}: create it with one [[waves]] table per wave") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {where}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, where)


def parse(text: str, where: str = FLEET_FILE.as_posix()) -> Fleet:
    """Parse fleet TOML; any mistake is a ConfigError naming `where` and the key."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"waves"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (a fleet file holds [[waves]] tables only)")
    raw_waves = document.get("waves")
    if raw_waves is None:
        raise ConfigError(f"{where}: no waves: add a [[waves]] table with a name and targets")
    if not isinstance(raw_waves, list) or not all(isinstance(w, dict) for w in raw_waves):
        raise ConfigError(f"{where}: waves must be [[waves]] tables, one per wave")
    if len(raw_waves) > WORKFLOW_WAVES:
        raise ConfigError(
            f"{where}: {len(raw_waves)} waves, more than the {WORKFLOW_WAVES} promote-fleet.yml has jobs for: "
            "merge waves, or add wave jobs to the workflow and raise fleet.WORKFLOW_WAVES"
        )
    waves: list[Wave] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(raw_waves, start=1):
        wave = _wave(raw, index, where)
        if wave.name in {w.name for w in waves}:
            raise ConfigError(f"{where}: two waves are named {wave.name!r}")
        for target in wave.targets:
            if target in seen:
                raise ConfigError(f"{where}: target {target!r} is in wave {seen[target]!r} and in {wave.name!r}")
            seen[target] = wave.name
        waves.append(wave)
    return Fleet(where, tuple(waves))


def _wave(raw: Mapping[str, Any], index: int, where: str) -> Wave:
    label = f"[[waves]] #{index}"
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: {label}: name must be a non-empty string")
    _name(name, f"{where}: {label}: name")
    label = f"{label} ({name!r})"
    unknown = sorted(set(raw) - set(_WAVE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: {label}: unknown key {unknown[0]!r} (known: {', '.join(_WAVE_KEYS)})")
    targets = raw.get("targets")
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise ConfigError(f"{where}: {label}: targets must be a non-empty list of environment names")
    for target in targets:
        _name(target, f"{where}: {label}: targets")
    if len(set(targets)) != len(targets):
        twice = next(t for t in targets if targets.count(t) > 1)
        raise ConfigError(f"{where}: {label}: targets lists {twice!r} twice")
    if len(targets) > MAX_TARGETS_PER_WAVE:
        raise ConfigError(
            f"{where}: {label}: targets has {len(targets)} names; GitHub runs at most {MAX_TARGETS_PER_WAVE} "
            "jobs from one matrix: split the wave"
        )
    max_parallel = raw.get("max_parallel", 1)
    if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or not 1 <= max_parallel <= 256:
        raise ConfigError(f"{where}: {label}: max_parallel must be a whole number from 1 to 256 (got {max_parallel!r})")
    on_failure = raw.get("on_failure", "stop")
    if on_failure not in ON_FAILURE:
        raise ConfigError(f'{where}: {label}: on_failure must be "stop" or "continue" (got {on_failure!r})')
    return Wave(index, name, tuple(targets), max_parallel, str(on_failure))


def _name(value: str, what: str) -> None:
    try:
        check_format(value)
    except ConfigError:
        raise ConfigError(
            f"{what}: {value!r} is not an environment name (lowercase letters, digits, - and _)"
        ) from None
