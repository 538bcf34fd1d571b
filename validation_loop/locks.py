"""An OS file lock between processes, exclusive or shared, with a polling timeout; a process
that has to wait says so once, as a warning on stderr."""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from validation_loop.errors import LockTimeoutError

LOG = logging.getLogger(__name__)


def announce_wait(what: str, deadline: float) -> None:
    """Say on stderr (a warning) that another process holds `what` and this one waits for it."""
    LOG.warning(
        "%s: locked by another process; waiting up to %.0fs",
        what,
        max(0.0, deadline - time.monotonic()),
    )


@contextmanager
def file_lock(
    path: Path, exclusive: bool, timeout: float, holder: str, hint: str = ""
) -> Iterator[float]:
    """Hold an flock on `path` (created if missing); yields the deadline for the work under it.

    `holder` names what the lock guards and `hint` what to do about a timeout, for its message.
    Locks are per open file, so a process must not take the same lock twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    with open(path, "a+") as handle:
        delay = 0.02
        waiting = False
        while True:
            try:
                fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeoutError(
                        f"{holder}: still locked by another process after {timeout:g}s{hint}"
                    ) from None
                if not waiting:
                    announce_wait(holder, deadline)
                    waiting = True
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            yield deadline
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
