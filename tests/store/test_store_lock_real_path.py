"""One store, one bridge, however its path is spelled (issue 11: the lock was named from the path
string, so the same store through a symlink let two instances run and write it at once).

A symlink to the database file itself is the case that broke (``link.db.lock`` is not
``state.db.lock``); a symlinked directory and ``..`` reach the same lock file anyway and are
here so that no future naming of the lock loses them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.errors import StoreError
from bridge.runtime.store import StateStore


def through_a_symlinked_directory(tmp: Path) -> Path:
    (tmp / "alias").symlink_to(tmp / "real", target_is_directory=True)
    return tmp / "alias" / "state.db"


def through_a_symlink_to_the_file(tmp: Path) -> Path:
    (tmp / "link.db").symlink_to(tmp / "real" / "state.db")
    return tmp / "link.db"


def with_dot_dot(tmp: Path) -> Path:
    (tmp / "real" / "x").mkdir()
    return tmp / "real" / "x" / ".." / "state.db"


@pytest.mark.parametrize(
    "spelling", [through_a_symlinked_directory, through_a_symlink_to_the_file, with_dot_dot]
)
def test_a_second_instance_through_another_spelling_is_refused(
    spelling: Callable[[Path], Path], tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    with StateStore(tmp_path / "real" / "state.db"):
        other = spelling(tmp_path)
        with pytest.raises(StoreError, match="in use by another instance"):
            StateStore(other).open()
    StateStore(other).open().close()  # released with the first: the other spelling opens now


def test_a_second_process_through_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link.db").symlink_to(tmp_path / "real" / "state.db")
    child = (
        "import sys\n"
        "from bridge.errors import StoreError\n"
        "from bridge.runtime.store import StateStore\n"
        "try:\n"
        "    StateStore(sys.argv[1]).open()\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    with StateStore(tmp_path / "real" / "state.db"):
        done = subprocess.run(
            [sys.executable, "-c", child, str(tmp_path / "link.db")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "in use by another instance" in done.stdout
