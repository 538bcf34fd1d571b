"""Atomic file writes: whoever reads a file the loop writes (or a run after a crash) sees the old
file or the new one, never part of one.

A write goes to a hidden temporary file beside the target (`.<name>.<random>.tmp`, which no
listing of the loop picks up), is flushed and fsynced, then renamed over the target (POSIX
`rename` is atomic), and the folder is fsynced so the rename survives a power cut too. A process
killed mid-write leaves at most that temporary file behind; the target is untouched.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"
_CANNOT_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def temp_path(target: Path) -> Path:
    """A fresh hidden name beside `target` for writing it (never an existing file's)."""
    stem = target.name.encode()[:200].decode(errors="ignore")  # the whole name <= 255 bytes
    return target.with_name(f".{stem}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename or a new name in it) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(temp: Path, target: Path, exclusive: bool) -> None:
    """Put the finished `temp` in `target`'s place: replace it, or (`exclusive`) link it there,
    raising `FileExistsError` if `target` exists."""
    try:
        if exclusive:
            os.link(temp, target)
        else:
            os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    sync_folder(target.parent)


@contextmanager
def replacing(
    target: Path,
    mode: str = "w",
    encoding: str | None = "utf-8",
    exclusive: bool = False,
    if_changed: bool = False,
) -> Iterator[IO[Any]]:
    """A file open for writing in place of `target` (`mode` "w" or "wb"): when the block ends
    without an error it becomes `target`; otherwise `target` stays as it was. `exclusive`
    refuses to replace an existing `target` (`FileExistsError`), for files written once;
    `if_changed` leaves a `target` that already holds exactly the bytes written alone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(target)
    handle = open(temp, mode, encoding=None if "b" in mode else encoding)  # noqa: SIM115
    try:
        yield handle
        handle.flush()
        if if_changed and _same_bytes(temp, target):
            handle.close()
            temp.unlink()
            return
        os.fsync(handle.fileno())
    except BaseException:
        handle.close()
        temp.unlink(missing_ok=True)
        raise
    handle.close()
    _commit(temp, target, exclusive)


def _same_bytes(first: Path, second: Path) -> bool:
    """Whether two files hold the same bytes (False if the second is missing)."""
    try:
        if first.stat().st_size != second.stat().st_size:
            return False
        return first.read_bytes() == second.read_bytes()
    except FileNotFoundError:
        return False


def write_bytes(target: Path, data: bytes, exclusive: bool = False) -> None:
    """Write `data` as `target`, atomically (see `replacing`)."""
    with replacing(target, "wb", exclusive=exclusive) as handle:
        handle.write(data)


def write_text(target: Path, text: str, exclusive: bool = False) -> None:
    """Write `text` (UTF-8) as `target`, atomically (see `replacing`)."""
    with replacing(target, "w", exclusive=exclusive) as handle:
        handle.write(text)


def copy_file(source: Path, target: Path) -> None:
    """Copy `source`'s bytes and times to `target`, atomically; `source` stays where it is.
    (The bytes go by the kernel's own copy, not through Python.)"""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(target)
    try:
        shutil.copyfile(source, temp)
        shutil.copystat(source, temp)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _commit(temp, target, exclusive=False)


def link_file(source: Path, target: Path) -> None:
    """Give `source`'s file a second name, `target` (replacing what is there), without copying
    its bytes; copies them where the file system cannot link. The caller removes `source`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(target)
    try:
        os.link(source, temp)
    except OSError as exc:
        if exc.errno not in _CANNOT_LINK:
            raise
        copy_file(source, target)  # another file system, or one without hard links
        return
    _commit(temp, target, exclusive=False)


def move_file(source: Path, target: Path) -> None:
    """Rename `source` to `target` (same file system), durably."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    sync_folder(target.parent)
    if source.parent != target.parent:
        sync_folder(source.parent)


def remove_file(path: Path) -> None:
    """Remove `path` (if it is there), durably."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    sync_folder(path.parent)


def gx_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    """`open` for Great Expectations' modules: writes ("w", "wb") go through `replacing` (and
    leave unchanged files alone: GX rewrites its static assets on every build), everything
    else to the built-in `open`. See `quality.validation.atomic_gx_files`."""
    if mode in ("w", "wb"):
        return replacing(Path(file), mode, kwargs.get("encoding") or "utf-8", if_changed=True)
    return open(file, mode, *args, **kwargs)
