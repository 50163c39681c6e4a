"""Tests of resources; helpers shared with tests/examples for homes that hold a PostgreSQL server."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil


@contextlib.contextmanager
def server_home() -> Iterator[Path]:
    """A PEPPERPY_CLOUD_HOME outside pytest's temp root, removed afterwards.

    Under root, PostgreSQL runs as a service user that needs the traverse bit on
    every parent of its data dir; pytest strips group/other bits from
    ``/tmp/pytest-of-<user>`` whenever a pytest session starts, which would cut
    a server off from its data dir if another session starts meanwhile.
    """
    base = Path(tempfile.mkdtemp(prefix="pepperpy-pg-"))
    try:
        yield base / "home"
    finally:
        kill_postgres_under(base)
        shutil.rmtree(base, ignore_errors=True)


def postgres_under(root: Path) -> list[psutil.Process]:
    """Live PostgreSQL processes working inside ``root`` (a server's processes share its data dir as cwd)."""
    found = []
    root = root.resolve()
    for proc in psutil.process_iter(["name"]):
        try:
            if (proc.info["name"] == "postgres" and proc.status() != psutil.STATUS_ZOMBIE
                    and Path(proc.cwd()).resolve().is_relative_to(root)):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def kill_postgres_under(root: Path) -> None:
    """Whatever a failed test left running under ``root`` is killed, so no server outlives the suite."""
    procs = postgres_under(root)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)
