"""Atomic writes: a writer killed mid-write leaves the old file whole, files written once are
never replaced, and a rewrite with the same bytes leaves the file alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from validation_loop.atomic import copy_file, gx_open, link_file, write_text

WRITER = """
import sys
from pathlib import Path
from validation_loop.atomic import replacing
with replacing(Path(sys.argv[1]), "wb") as handle:
    handle.write(b"new" * 100_000)
    handle.flush()
    print("half written", flush=True)
    sys.stdin.readline()  # held here until the test kills it
    handle.write(b"rest")
"""


def test_a_writer_killed_mid_write_leaves_the_old_file_whole(tmp_path) -> None:
    """A real process writes half of a new version, says so, and is killed with SIGKILL: the
    file still holds the old bytes, and only a hidden temporary file is left beside it."""
    target = tmp_path / "report.json"
    target.write_bytes(b"old version\n")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "half written\n"
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
    assert target.read_bytes() == b"old version\n"
    (leftover,) = [p for p in tmp_path.iterdir() if p != target]
    assert leftover.name.startswith(".report.json.") and leftover.name.endswith(".tmp")
    assert leftover.stat().st_size == 300_000


def test_a_file_written_once_is_never_replaced(tmp_path) -> None:
    target = tmp_path / "v0001.yaml"
    write_text(target, "first\n", exclusive=True)
    with pytest.raises(FileExistsError):
        write_text(target, "second\n", exclusive=True)
    assert target.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["v0001.yaml"]


def test_a_long_name_still_gets_a_temporary_file(tmp_path) -> None:
    """A name of 250 bytes (the longest a quarantined file may have, with `.error.json`)."""
    target = tmp_path / ("é" * 120 + ".csv")
    write_text(target, "a,b\n")
    assert target.read_text() == "a,b\n"


def test_copies_keep_bytes_and_times_and_links_share_the_file(tmp_path) -> None:
    source = tmp_path / "batch.csv"
    source.write_text("a,b\n1,2\n")
    os.utime(source, (1_700_000_000, 1_700_000_000))
    copied, linked = tmp_path / "archive" / "batch.csv", tmp_path / "quarantine" / "batch.csv"
    copy_file(source, copied)
    link_file(source, linked)
    assert copied.read_bytes() == linked.read_bytes() == source.read_bytes()
    assert copied.stat().st_mtime == 1_700_000_000
    assert linked.stat().st_ino == source.stat().st_ino != copied.stat().st_ino


def test_gx_writes_leave_unchanged_files_alone(tmp_path) -> None:
    """GX rewrites its static assets on every build: the same bytes keep the same file (no
    new inode, no flush); other bytes replace it."""
    target = tmp_path / "style.css"
    target.write_text("body {}\n")
    before = target.stat().st_ino
    with gx_open(target, "w", encoding="utf-8") as handle:
        handle.write("body {}\n")
    assert target.stat().st_ino == before
    with gx_open(target, "w", encoding="utf-8") as handle:
        handle.write("body { margin: 0 }\n")
    assert target.stat().st_ino != before
    assert target.read_text() == "body { margin: 0 }\n"
    assert [p.name for p in tmp_path.iterdir()] == ["style.css"]
