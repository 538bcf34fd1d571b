"""Landing folders: which files wait, and ingesting a batch by its id."""

from __future__ import annotations

import os
import time

import pytest

from validation_loop import landing
from validation_loop.errors import FileVanished, ValidationLoopError
from validation_loop.ingest import batch_key, file_sha256
from validation_loop.landing import find_landing_file, ingest_batch, landing_files


def test_waiting_files_skip_sidecars_hidden_partial_and_fresh(home, spec, write_batch) -> None:
    layout = home.loop("churn")
    old = time.time() - 60
    names = {
        "human": ["a.csv", "a.csv.meta.json", ".hidden.csv", "upload.csv.part", "x.error.json"],
        "synthetic": ["g.parquet", "fresh.csv"],
    }
    for source, files in names.items():
        for name in files:
            path = layout.landing(source) / name
            path.write_text("x")
            if name != "fresh.csv":
                os.utime(path, (old, old))
    found = landing_files(layout, settle_seconds=5)
    assert sorted((f.source, f.path.name) for f in found) == [
        ("human", "a.csv"),
        ("synthetic", "g.parquet"),
    ]
    assert len(landing_files(layout)) == 3


def test_ingest_batch_by_id_from_landing_then_from_warehouse(home, spec, write_batch) -> None:
    layout = home.loop("churn")
    path = write_batch("b.csv", folder=layout.landing("human"))
    key = batch_key("human", file_sha256(path))
    assert find_landing_file(layout, key) == path
    first = ingest_batch(home, spec, key)
    assert first.new and not path.exists()
    again = ingest_batch(home, spec, key)
    assert not again.new and again.batch == first.batch


def test_ingest_batch_refuses_file_with_other_content(home, spec, write_batch) -> None:
    path = write_batch("b.csv")
    with pytest.raises(ValidationLoopError, match="its content is batch human-"):
        ingest_batch(home, spec, "human-0000000000000000", path)


def test_ingest_batch_without_file_anywhere(home, spec) -> None:
    with pytest.raises(ValidationLoopError, match="not in the warehouse and no file"):
        ingest_batch(home, spec, "synthetic-0000000000000000")


def test_batch_id_names_source(home, spec) -> None:
    with pytest.raises(ValidationLoopError, match="is not a batch id"):
        ingest_batch(home, spec, "mystery-00")


def test_ingest_batch_of_a_file_another_run_moved_returns_the_stored_batch(
    home, spec, write_batch
) -> None:
    """Two runs for one landing file (the sensor's and the CLI's): the second finds the file
    gone and the batch stored, and succeeds without change."""
    path = write_batch("b.csv", folder=home.loop("churn").landing("human"))
    key = batch_key("human", file_sha256(path))
    first = ingest_batch(home, spec, key, path)
    assert first.new and not path.exists()
    again = ingest_batch(home, spec, key, path)
    assert (again.new, again.stored_as, again.batch) == (False, None, first.batch)


def test_ingest_batch_of_a_deleted_file_is_vanished(home, spec, write_batch) -> None:
    path = write_batch("b.csv", folder=home.loop("churn").landing("human"))
    key = batch_key("human", file_sha256(path))
    path.unlink()
    with pytest.raises(FileVanished, match=r"b\.csv: no such file"):
        ingest_batch(home, spec, key, path)
    assert list(home.loop("churn").quarantine.iterdir()) == []


def test_a_listed_file_gone_before_hashing_is_vanished(
    home, spec, write_batch, monkeypatch
) -> None:
    """A file moved between the listing and its hashing: `batch_id` says it vanished (not a bare
    FileNotFoundError), and looking a batch up in that listing skips it."""
    layout = home.loop("churn")
    path = write_batch("b.csv", folder=layout.landing("human"))
    key = batch_key("human", file_sha256(path))
    (listed,) = landing_files(layout)
    path.unlink()
    with pytest.raises(FileVanished, match=r"b\.csv: no such file"):
        listed.batch_id()
    monkeypatch.setattr(landing, "landing_files", lambda *args, **kwargs: [listed])
    assert find_landing_file(layout, key) is None
