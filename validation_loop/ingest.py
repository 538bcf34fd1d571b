"""Ingest one batch file: fingerprint, stage, conform to the spec, store with lineage, settle.

A file is staged and checked in a private in-memory DuckDB (held to the loop's
`resources.duckdb_memory`, spilling to `<home>/tmp`), so a bad file never touches the warehouse.
A good one is written in one transaction under the warehouse lock and moved to `archive/`; a bad
one goes to `quarantine/` with `<file>.error.json` and a row in the `rejections` table (a name
too long to take `.error.json` is shortened with a hash). The batch id comes from the file's
content, so re-ingesting is a no-op. A file that disappears while it is being ingested raises
`FileVanished`: nothing is stored and nothing quarantined.

Crash safety: a file in `landing/` leaves it last, once everything else for it is written (a
rejection's copy, error file and row; an accepted batch's rows, and with `archive=False` whatever
the caller does before `settle`, such as validation). A process killed at any point leaves the
file in landing, and the next run finishes the job: a stored batch is found by its content, a
rejection is written again in the same place. Every file written here is written atomically.
"""

from __future__ import annotations

import errno
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from validation_loop.atomic import copy_file, link_file, move_file, remove_file, write_text
from validation_loop.conform import ConformedBatch, ValueChange, conform
from validation_loop.errors import BatchRejected, FileVanished, Rejection, ValidationLoopError
from validation_loop.feedback.versions import current_version
from validation_loop.home import SOURCES, Home, LoopLayout, Source
from validation_loop.readers import stage
from validation_loop.resources import duckdb_config
from validation_loop.spec import LoopSpec, Task
from validation_loop.warehouse import Warehouse, fetch_dicts, quote_ident, quote_literal

SIDECAR_SUFFIX = ".meta.json"
ERROR_SUFFIX = ".error.json"
NAME_MAX = 255  # bytes in one file name (ext4, XFS, Btrfs, APFS)


@dataclass(frozen=True)
class BatchRecord:
    """An accepted batch and its lineage, as stored in the `batches` table."""

    loop: str
    batch_id: str
    source: str
    file_name: str
    sha256: str
    format: str
    row_count: int
    judgement_count: int | None
    annotation_format: str
    generator_version: str | None
    warnings: list[str]
    ingested_at: datetime
    value_changes: list[ValueChange]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> BatchRecord:
        """The record of a `batches` row."""
        changes = [ValueChange(**change) for change in row["value_changes"] or []]
        return cls(**{**row, "value_changes": changes})

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready mapping."""
        data = asdict(self)
        data["ingested_at"] = self.ingested_at.isoformat()
        return data


@dataclass(frozen=True)
class IngestOutcome:
    """What ingesting a file did: the batch, whether it was new, where the file went (None if
    it was gone already, or waits for `settle`), and the file ingested (None: from the warehouse).
    """

    batch: BatchRecord
    new: bool
    stored_as: Path | None
    file: Path | None = None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def batch_key(source: Source, sha256: str) -> str:
    """The batch id (and Dagster partition key) of a file's content from one source."""
    return f"{source}-{sha256[:16]}"


def parse_batch_key(key: str) -> Source:
    """The source a batch id belongs to."""
    source = key.split("-", 1)[0]
    for known in SOURCES:
        if source == known:
            return known
    raise ValidationLoopError(f"{key!r} is not a batch id (expected human-... or synthetic-...)")


def resolve_generator_version(
    layout: LoopLayout, path: Path, source: Source, flag: str | None
) -> str | None:
    """A synthetic batch's generator version: the flag, else a sidecar, else the current config."""
    if source != "synthetic":
        return None
    if flag:
        return flag
    sidecar = sidecar_of(path)
    if sidecar is not None:
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BatchRejected(
                path.name, Rejection("bad_sidecar", f"{sidecar.name} is not valid JSON: {exc}")
            ) from None
        except OSError as exc:
            raise BatchRejected(
                path.name, Rejection("bad_sidecar", f"cannot read {sidecar.name}: {exc.strerror}")
            ) from None
        version = meta.get("generator_version") if isinstance(meta, dict) else None
        if version:
            return str(version)
    return current_version(layout)


def sidecar_of(path: Path) -> Path | None:
    """The file's `<name>.meta.json` beside it, if there is one; a name too long for the file
    system has none."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    try:
        return sidecar if sidecar.is_file() else None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return None
        raise


def find_batch(con: duckdb.DuckDBPyConnection, loop: str, batch_id: str) -> BatchRecord | None:
    """The stored batch with this id, if any."""
    rows = fetch_dicts(
        con, "SELECT * FROM batches WHERE loop = ? AND batch_id = ?", [loop, batch_id]
    )
    return BatchRecord.from_row(rows[0]) if rows else None


def ingest_file(
    home: Home,
    spec: LoopSpec,
    path: Path,
    source: Source,
    generator_version: str | None = None,
    progress: bool = False,
    archive: bool = True,
) -> IngestOutcome:
    """Ingest one file into the warehouse; raise `BatchRejected` after quarantining a bad one,
    `FileVanished` if the file is gone before it is read. An accepted file is archived at once,
    or with `archive=False` left in place for `settle` once the caller's own steps are done."""
    layout = home.loop(spec.name)
    layout.create()
    warehouse = Warehouse(home.warehouse_path)
    try:
        sha = file_sha256(path)
    except FileNotFoundError:
        raise FileVanished(path.name) from None
    except OSError as exc:
        raise ValidationLoopError(f"{path.name}: cannot read the file: {exc.strerror}") from None
    batch_id = batch_key(source, sha)
    with warehouse.read() as con:
        existing = find_batch(con, spec.name, batch_id)
    if existing is not None:
        return _outcome(layout, existing, False, path, archive)

    con = duckdb.connect(config=duckdb_config(spec.resources))
    try:
        con.execute(f"SET enable_progress_bar = {'true' if progress else 'false'}")
        con.execute(f"SET temp_directory = {quote_literal(str(home.root / 'tmp'))}")
        con.execute("SET TimeZone = 'UTC'")
        try:
            version = resolve_generator_version(layout, path, source, generator_version)
            staged = stage(con, path, spec.null_values)
            conformed = conform(con, staged, spec, source, path.name)
        except BatchRejected as rejected:
            quarantine(home, spec.name, path, source, sha, rejected.rejection)
            raise
        record = BatchRecord(
            loop=spec.name,
            batch_id=batch_id,
            source=source,
            file_name=path.name,
            sha256=sha,
            format=staged.format,
            row_count=staged.row_count,
            judgement_count=None,
            annotation_format=_annotation_format(spec, source),
            generator_version=version,
            warnings=conformed.warnings,
            ingested_at=datetime.now(UTC),
            value_changes=conformed.changes,
        )
        with warehouse.attached(con) as alias:
            stored, new = _store(con, alias, spec, record, conformed)
    finally:
        con.close()
    return _outcome(layout, stored, new, path, archive)


def _outcome(
    layout: LoopLayout, batch: BatchRecord, new: bool, path: Path, archive: bool
) -> IngestOutcome:
    """The outcome of ingesting `path` as `batch`, its file archived now or left for `settle`."""
    stored_as = _settle(layout, path, batch.source, batch.batch_id) if archive else None
    return IngestOutcome(batch, new, stored_as, path)


def settle(home: Home, outcome: IngestOutcome) -> IngestOutcome:
    """Archive the file of an outcome ingested with `archive=False`: the last step of its ingest."""
    if outcome.file is None or outcome.stored_as is not None:
        return outcome
    batch = outcome.batch
    layout = home.loop(batch.loop)
    stored_as = _settle(layout, outcome.file, batch.source, batch.batch_id)
    return replace(outcome, stored_as=stored_as)


def _annotation_format(spec: LoopSpec, source: Source) -> str:
    """How this batch carries labels: `long` only for human batches of a long-format loop."""
    return spec.annotations.format if source == "human" else "rows"


def _ensure_table(
    con: duckdb.DuckDBPyConnection, alias: str, loop: str, name: str, columns: dict[str, str]
) -> str:
    """Create a loop table or add new spec columns; refuse a column whose type changed."""
    table = _table(alias, loop, name)
    defs = ", ".join(f"{quote_ident(c)} {t}" for c, t in columns.items())
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {table} ({defs}, _batch_id VARCHAR NOT NULL, "
        "_row BIGINT NOT NULL)"
    )
    existing = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
            [alias, loop, name],
        ).fetchall()
    )
    for column, sql_type in columns.items():
        if column not in existing:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {quote_ident(column)} {sql_type}")
        elif existing[column] != sql_type:
            raise ValidationLoopError(
                f"loop {loop!r}: loop.yaml stores column {column!r} as {sql_type}, but the "
                f"warehouse already holds it as {existing[column]}; change it back or start "
                "a new loop"
            )
    return table


def _store(
    con: duckdb.DuckDBPyConnection,
    alias: str,
    spec: LoopSpec,
    record: BatchRecord,
    conformed: ConformedBatch,
) -> tuple[BatchRecord, bool]:
    """Write the batch in one transaction; return the stored record and whether it is new.

    A concurrent ingest of the same content may have won the lock first: then its record is
    returned and nothing is written.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"USE {quote_ident(alias)}")
        earlier = find_batch(con, spec.name, record.batch_id)
        if earlier is not None:
            con.execute("ROLLBACK")
            return earlier, False
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(spec.name)}")
        spec_types = {c: t.sql_type for c, t in spec.columns.items()}
        items = _ensure_table(con, alias, spec.name, record.source, spec_types)
        if conformed.annotator_column is None:
            select = ", ".join(f"{v} AS {quote_ident(c)}" for c, v in conformed.values.items())
            con.execute(
                f"INSERT INTO {items} BY NAME SELECT {select}, ? AS _batch_id, "
                "rowid + 1 AS _row FROM memory.stage",
                [record.batch_id],
            )
            judgements = None
        else:
            judgements = _store_judgements(con, alias, spec, record.batch_id, conformed, items)
        stored = replace(
            record, row_count=_count(con, items, record.batch_id), judgement_count=judgements
        )
        row = asdict(stored)
        con.execute(
            f"INSERT INTO batches ({', '.join(quote_ident(c) for c in row)}) "
            f"VALUES ({', '.join('?' for _ in row)})",
            list(row.values()),
        )
        con.execute(
            "DELETE FROM rejections WHERE loop = ? AND source = ? AND sha256 = ?",
            [stored.loop, stored.source, stored.sha256],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("USE memory")
    return stored, True


def _table(alias: str, loop: str, name: str) -> str:
    """A qualified table name in the loop's schema."""
    return ".".join(quote_ident(p) for p in (alias, loop, name))


def _count(con: duckdb.DuckDBPyConnection, table: str, batch_id: str) -> int:
    """Rows of one batch in a table."""
    row = con.execute(f"SELECT count(*) FROM {table} WHERE _batch_id = ?", [batch_id]).fetchone()
    return int(row[0]) if row else 0


def _store_judgements(
    con: duckdb.DuckDBPyConnection,
    alias: str,
    spec: LoopSpec,
    batch_id: str,
    conformed: ConformedBatch,
    items: str,
) -> int:
    """Long format: keep every judgement raw, and one row per item with its consensus label.

    Consensus: the most frequent label, a tie going to the smallest label in sort order;
    for regression the median judgement.
    """
    assert spec.item_column is not None and conformed.annotator_column is not None
    values = conformed.values
    label_type = spec.columns[spec.label].sql_type
    table = _ensure_table(
        con,
        alias,
        spec.name,
        "judgements",
        {"item_id": "VARCHAR", "annotator_id": "VARCHAR", "label": label_type},
    )
    con.execute(
        f"INSERT INTO {table} BY NAME SELECT CAST({values[spec.item_column]} AS VARCHAR) "
        f"AS item_id, {values[conformed.annotator_column]} AS annotator_id, "
        f"{values[spec.label]} AS label, ? AS _batch_id, rowid + 1 AS _row FROM memory.stage",
        [batch_id],
    )
    item = quote_ident(spec.item_column)
    label = quote_ident(spec.label)
    features = [
        c for c in values if c not in (spec.label, spec.item_column, conformed.annotator_column)
    ]
    cols = ", ".join(
        f"{values[c]} AS {quote_ident(c)}" for c in (spec.item_column, spec.label, *features)
    )
    firsts = "".join(f", arg_min({quote_ident(c)}, _r) AS {quote_ident(c)}" for c in features)
    if spec.task is Task.regression:
        consensus = f"SELECT {item}, median({label}) AS {label} FROM j GROUP BY {item}"
    else:
        consensus = (
            f"SELECT {item}, {label} FROM (SELECT {item}, {label}, count(*) AS n FROM j "
            f"GROUP BY ALL) QUALIFY row_number() OVER (PARTITION BY {item} "
            f"ORDER BY n DESC, {label}) = 1"
        )
    con.execute(
        f"INSERT INTO {items} BY NAME WITH j AS (SELECT {cols}, rowid AS _r FROM memory.stage), "
        f"consensus AS ({consensus}) "
        f"SELECT j.{item}, any_value(c.{label}) AS {label}{firsts}, ? AS _batch_id, "
        f"min(_r) + 1 AS _row FROM j JOIN consensus c USING ({item}) GROUP BY j.{item}",
        [batch_id],
    )
    return _count(con, table, batch_id)


def _inside(path: Path, layout: LoopLayout) -> bool:
    """Whether a file sits in the loop's folders (then it is moved; files elsewhere are copied)."""
    return path.resolve().is_relative_to(layout.root.resolve())


def _settle(layout: LoopLayout, path: Path, source: str, batch_id: str) -> Path | None:
    """Put an accepted file (and its sidecar) in `archive/<source>/<batch id>/`; None when the
    file is gone already (another process settled it). The sidecar goes first, so a crash
    between the two leaves the file in landing, to be settled by the next ingest of it."""
    dest = layout.archive / source / batch_id / path.name
    sidecar = sidecar_of(path)
    put = move_file if _inside(path, layout) else copy_file
    try:
        if sidecar is not None:
            put(sidecar, dest.with_name(sidecar.name))
        put(path, dest)
    except FileNotFoundError:
        return None
    return dest


def archived(home: Home, batch: BatchRecord) -> bool:
    """Whether a batch's file is in `archive/`: the last step of its ingest is done."""
    folder = home.loop(batch.loop).archive / batch.source / batch.batch_id
    return folder.is_dir() and any(folder.iterdir())


def quarantine_name(name: str) -> str:
    """`name`, or, when `<name>.error.json` would pass the file system's limit on a name, `name`
    cut short with a hash of the whole name before its extension(s)."""
    if len((name + ERROR_SUFFIX).encode()) <= NAME_MAX:
        return name
    parts = Path(name).suffixes
    extension = "".join(parts[-2:] if parts[-1:] == [".gz"] else parts[-1:])
    suffix = f"~{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    if len(extension.encode()) <= 16:
        suffix += extension
    room = NAME_MAX - len((suffix + ERROR_SUFFIX).encode())
    return name.encode()[:room].decode(errors="ignore") + suffix


def quarantine(
    home: Home, loop: str, path: Path, source: Source, sha256: str, rejection: Rejection
) -> Path:
    """Move a rejected file to `quarantine/` with `<file>.error.json`, and record it.

    The file (and its sidecar) get their quarantine names first, then the error file and the
    `rejections` row are written, and only then does a file from the loop's folders leave
    landing: a crash on the way leaves it there to be rejected again, into the same place, and
    a `rejections` row never names a file that is not in quarantine. Raises `FileVanished` (and
    records nothing) when the file is gone before it is quarantined.
    """
    layout = home.loop(loop)
    dest = layout.quarantine / quarantine_name(path.name)
    if dest.exists() and file_sha256(dest) != sha256:
        dest = layout.quarantine / quarantine_name(f"{sha256[:8]}-{path.name}")
    sidecar = sidecar_of(path)
    inside = _inside(path, layout)
    put = link_file if inside else copy_file
    try:
        put(path, dest)
    except FileNotFoundError:
        raise FileVanished(path.name) from None
    if sidecar is not None:
        put(sidecar, dest.with_name(dest.name + SIDECAR_SUFFIX))
    rejected_at = datetime.now(UTC)
    report = {
        "loop": loop,
        "file": path.name,
        "quarantined_as": dest.name,
        "source": source,
        "sha256": sha256,
        "rejected_at": rejected_at.isoformat(),
        "message": f"{path.name}: {rejection.located()}",
        "error": rejection.to_dict(),
    }
    write_text(dest.with_name(dest.name + ERROR_SUFFIX), json.dumps(report, indent=2) + "\n")
    with Warehouse(home.warehouse_path).write() as con:
        con.execute(
            "INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                loop,
                source,
                sha256,
                path.name,
                rejection.kind,
                rejection.message,
                rejection.column,
                rejection.row,
                rejection.line,
                str(dest),
                rejected_at,
            ],
        )
    if inside:
        remove_file(path)
        if sidecar is not None:
            remove_file(sidecar)
    return dest
