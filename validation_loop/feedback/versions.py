"""Generator config versions: one YAML file per version, never edited, and which one is current.

`loops/<loop>/generator/v0001.yaml`, `v0002.yaml`, ... are written once (exclusive create).
`generator/CURRENT` names the version in use; a version newer than it is a proposal until a
person accepts it (`validation-loop accept`) or the loop runs in `auto` mode. Without a
`CURRENT` file the oldest version is current. Every acceptance is appended to
`generator/accepted.jsonl`.

Every file here is written atomically (`validation_loop.atomic`): a version file appears whole
or not at all, and `CURRENT` and the log are replaced, never edited in place. An acceptance
holds a lock while it replaces `CURRENT`, then the log; a crash between the two leaves the log
one line short, never `CURRENT` behind the log.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from validation_loop.atomic import write_text
from validation_loop.errors import ConfigError
from validation_loop.feedback.generator import GeneratorConfig
from validation_loop.home import LoopLayout
from validation_loop.locks import file_lock

VERSION_PATTERN = re.compile(r"^v(\d{4,})$")
CURRENT_FILE = "CURRENT"
ACCEPTED_LOG = "accepted.jsonl"
ACCEPT_LOCK = ".accept.lock"
ACCEPT_LOCK_SECONDS = 120


def version_name(number: int) -> str:
    """`v0007` for 7."""
    return f"v{number:04d}"


def version_number(version: str) -> int:
    """7 for `v0007`; a clear error for anything else."""
    match = VERSION_PATTERN.match(version)
    if match is None:
        raise ConfigError(f"{version!r} is not a generator version (expected v0001, v0002, ...)")
    return int(match.group(1))


def is_version(name: str | None) -> bool:
    """Whether a generator version names a config file of the reference generator (`vNNNN`)."""
    return name is not None and VERSION_PATTERN.match(name) is not None


def list_versions(layout: LoopLayout) -> list[str]:
    """Every stored version, oldest first."""
    names = [p.stem for p in layout.generator.glob("v*.yaml") if VERSION_PATTERN.match(p.stem)]
    return sorted(names, key=version_number)


def config_path(layout: LoopLayout, version: str) -> Path:
    """The file of one version."""
    version_number(version)
    return layout.generator / f"{version}.yaml"


def load_config(layout: LoopLayout, version: str) -> GeneratorConfig:
    """One version's config, validated; errors name the file and the field."""
    path = config_path(layout, version)
    if not path.is_file():
        known = ", ".join(list_versions(layout)) or "none"
        raise ConfigError(f"{path}: no such generator version (versions: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return GeneratorConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


def save_config(layout: LoopLayout, config: GeneratorConfig) -> Path:
    """Write a new version file; an existing version is never overwritten."""
    path = config_path(layout, config.version)
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, width=100)
    header = f"# generator config {config.version} (written once, never edited)\n"
    try:
        write_text(path, header + text, exclusive=True)
    except FileExistsError:
        raise ConfigError(f"{path} exists; versions are never edited in place") from None
    return path


def current_version(layout: LoopLayout) -> str | None:
    """The version in use: `CURRENT`, else the oldest version, else None."""
    pointer = layout.generator / CURRENT_FILE
    if pointer.is_file():
        return pointer.read_text(encoding="utf-8").strip() or None
    versions = list_versions(layout)
    return versions[0] if versions else None


def next_version(layout: LoopLayout) -> str:
    """The name the next written version gets."""
    versions = list_versions(layout)
    return version_name(version_number(versions[-1]) + 1 if versions else 1)


def _newest_accepted(layout: LoopLayout) -> int:
    """The highest version number ever accepted (0 if none was)."""
    log = layout.generator / ACCEPTED_LOG
    if not log.is_file():
        return 0
    numbers = [
        version_number(json.loads(line)["version"])
        for line in log.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return max(numbers, default=0)


def proposals(layout: LoopLayout) -> list[str]:
    """Versions newer than every version accepted so far (and than the current one): waiting.

    After a rollback (accepting an older version) the versions once accepted are history, not
    proposals.
    """
    current = current_version(layout)
    if current is None:
        return []
    floor = max(version_number(current), _newest_accepted(layout))
    return [v for v in list_versions(layout) if version_number(v) > floor]


def accept(layout: LoopLayout, version: str, by: str = "cli") -> str | None:
    """Make `version` current; returns the version it replaces. Logged in `accepted.jsonl`."""
    load_config(layout, version)
    lock = layout.generator / ACCEPT_LOCK
    with file_lock(lock, exclusive=True, timeout=ACCEPT_LOCK_SECONDS, holder=str(lock)):
        previous = current_version(layout)
        write_text(layout.generator / CURRENT_FILE, version + "\n")
        entry = {
            "version": version,
            "previous": previous,
            "accepted_at": datetime.now(UTC).isoformat(),
            "by": by,
        }
        log = layout.generator / ACCEPTED_LOG
        earlier = log.read_text(encoding="utf-8") if log.is_file() else ""
        write_text(log, earlier + json.dumps(entry) + "\n")
    return previous
