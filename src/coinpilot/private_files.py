"""Files only their owner can read: the home directory (0700), the SQLite database and the log
(0600). They hold the API token, every trade and the audit trail, so other local users must not
read them whatever the umask; an existing directory or file we own is tightened, not trusted."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _tighten(path: Path, mode: int) -> None:
    st = path.stat()
    if st.st_uid == os.getuid() and st.st_mode & 0o777 & ~mode:
        path.chmod(mode)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700, or tighten it to 0700 if we own it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _tighten(path, PRIVATE_DIR)


def make_private_file(path: Path) -> None:
    """Create ``path`` empty as 0600 if missing (SQLite gives its -wal/-shm files the database
    file's mode), or tighten an existing one we own to 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        _tighten(path, PRIVATE_FILE)
    else:
        os.close(fd)
