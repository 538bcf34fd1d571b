"""Find the batch files waiting in a loop's landing folders, and ingest one by batch id.

Another process (the sensor's runs, a person) may move a file at any time: a file gone between
listing and reading is left out of a listing, hashing a listed file that is gone by then raises
`FileVanished`, and so does ingesting it unless its batch is stored by then.
"""

from __future__ import annotations

import stat
import time
from dataclasses import dataclass
from pathlib import Path

from validation_loop.errors import FileVanished, ValidationLoopError
from validation_loop.home import SOURCES, Home, LoopLayout, Source
from validation_loop.ingest import (
    ERROR_SUFFIX,
    SIDECAR_SUFFIX,
    BatchRecord,
    IngestOutcome,
    batch_key,
    file_sha256,
    find_batch,
    ingest_file,
    parse_batch_key,
)
from validation_loop.spec import LoopSpec
from validation_loop.warehouse import Warehouse

_SKIPPED_SUFFIXES = (SIDECAR_SUFFIX, ERROR_SUFFIX, ".tmp", ".part", ".crdownload", ".swp")


@dataclass(frozen=True)
class LandingFile:
    """A file in `landing/<source>/`, with the stat that tells whether it changed."""

    source: Source
    path: Path
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> str:
        """Size and modification time: a file is re-read when this changes."""
        return f"{self.size}:{self.mtime_ns}"

    def batch_id(self) -> str:
        """The batch id of the file's content (reads the whole file); `FileVanished` if the
        file is gone since it was listed."""
        return _content_batch_id(self.path, self.source)


def landing_files(layout: LoopLayout, settle_seconds: float = 0.0) -> list[LandingFile]:
    """Files waiting in landing, oldest first; skips hidden, partial, sidecar and fresh files.

    A file modified less than `settle_seconds` ago may still be being written and waits for a
    later look.
    """
    now = time.time()
    found = []
    for source in SOURCES:
        folder = layout.landing(source)
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            name = path.name
            if name.startswith((".", "_")) or name.endswith(_SKIPPED_SUFFIXES):
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # moved away since the folder was listed
                continue
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < settle_seconds:
                continue
            found.append(LandingFile(source, path, info.st_size, info.st_mtime_ns))
    return sorted(found, key=lambda f: (f.mtime_ns, f.source, f.path.name))


def find_landing_file(layout: LoopLayout, batch_id: str) -> Path | None:
    """The landing file whose content has this batch id, if one is waiting."""
    for waiting in landing_files(layout):
        if not batch_id.startswith(waiting.source):
            continue
        try:
            if waiting.batch_id() == batch_id:
                return waiting.path
        except FileVanished:
            continue
    return None


def _content_batch_id(file: Path, source: Source) -> str:
    """The batch id of a file's content; `FileVanished` if it is gone."""
    try:
        return batch_key(source, file_sha256(file))
    except FileNotFoundError:
        raise FileVanished(file.name) from None


def _stored(home: Home, spec: LoopSpec, batch_id: str) -> BatchRecord | None:
    """The batch with this id, if the warehouse holds it."""
    with Warehouse(home.warehouse_path).read() as con:
        return find_batch(con, spec.name, batch_id)


def ingest_batch(
    home: Home,
    spec: LoopSpec,
    batch_id: str,
    file: Path | None = None,
    generator_version: str | None = None,
    progress: bool = False,
    archive: bool = True,
) -> IngestOutcome:
    """Ingest the batch a partition key names: from `file`, the warehouse, or landing/.

    With no file, a batch already stored is returned as it is (re-materialising is a no-op),
    and otherwise the landing file with that content is ingested. A file that vanishes meanwhile
    (another run moved it) returns the stored batch if there is one, else raises `FileVanished`.
    With `archive=False` an accepted file stays where it is until `ingest.settle`.
    """
    layout = home.loop(spec.name)
    source = parse_batch_key(batch_id)
    if file is None:
        stored = _stored(home, spec, batch_id)
        if stored is not None:
            return IngestOutcome(stored, False, None)
        file = find_landing_file(layout, batch_id)
        if file is None:
            raise ValidationLoopError(
                f"batch {batch_id} is not in the warehouse and no file in "
                f"{layout.landing(source)} has that content"
            )
    try:
        if (actual := _content_batch_id(file, source)) != batch_id:
            raise ValidationLoopError(f"{file}: its content is batch {actual}, not {batch_id}")
        return ingest_file(home, spec, file, source, generator_version, progress, archive)
    except FileVanished:
        stored = _stored(home, spec, batch_id)
        if stored is None:
            raise
        return IngestOutcome(stored, False, None)
