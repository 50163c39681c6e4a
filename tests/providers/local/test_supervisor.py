"""supervisord driven for real: programs run, restart after kill -9, keep secrets out of files, survive a dead daemon."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from pepperpy.cloud.errors import InputError, SupervisorError
from pepperpy.cloud.providers.local.supervisor import ProgramStatus, Supervisor

SECRET = "s3cr3t-Value-4242"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]


def _answers(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class Tracked(Supervisor):
    """Remembers every pid it saw, so teardown can prove none survived."""

    seen: set[int]

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.seen = set()

    def status(self, name: str) -> ProgramStatus | None:
        found = super().status(name)
        if found and found.pid:
            self.seen.add(found.pid)
        return found

    def daemon_pid(self) -> int:
        pid = self.pid()
        assert pid is not None
        self.seen.add(pid)
        return pid


@pytest.fixture
def sup(home: Path) -> Iterator[Tracked]:
    supervisor = Tracked(home)
    yield supervisor
    supervisor.shutdown()
    assert not supervisor.is_running()
    assert supervisor._orphans() == []
    assert [pid for pid in supervisor.seen if _alive(pid)] == []
    mine = {p.pid for p in psutil.Process().children(recursive=True)}
    assert not (mine & supervisor.seen)


def test_two_programs_run_and_restart_after_kill9(sup: Tracked, tmp_path: Path) -> None:
    sup.ensure_running()
    sup.daemon_pid()
    ports = {"web-a": _free_port(), "web-b": _free_port()}
    for name, port in ports.items():
        log = sup.add_program(name, _http_server(port), env={"PLAIN": "1"}, cwd=tmp_path)
        assert log == sup.home / "logs" / f"{name}.log"
    for name, port in ports.items():
        assert sup.wait_for(name).running
        assert _answers(port)
    assert set(sup.all_status()) == {"web-a", "web-b"}

    before = sup.status("web-a")
    assert before is not None
    os.kill(before.pid, signal.SIGKILL)

    def restarted() -> bool:
        now = sup.status("web-a")
        return now is not None and now.running and now.pid != before.pid

    _until(restarted)
    assert _answers(ports["web-a"])
    assert not _alive(before.pid)
    assert any("GET / " in line for line in sup.tail("web-a", 50))  # http.server logs requests to stderr

    b = sup.status("web-b")
    assert b is not None
    sup.remove_program("web-b")
    assert sup.status("web-b") is None
    assert not (sup.programs_dir / "web-b.conf").exists()
    _until(lambda: not _alive(b.pid))


def test_secret_env_reaches_process_but_no_file_or_command_line(sup: Tracked, tmp_path: Path) -> None:
    out = tmp_path / "seen.txt"
    script = ("import os, pathlib, sys, time; "
              "pathlib.Path(sys.argv[1]).write_text(os.environ['API_TOKEN'] + '|' + os.environ['PLAIN']); "
              "print('started', flush=True); time.sleep(120)")
    command = [sys.executable, "-c", script, str(out)]
    sup.add_program("worker", command, env={"PLAIN": "visible"}, secret_env={"API_TOKEN": SECRET}, cwd=tmp_path)
    first = sup.wait_for("worker")
    _until(out.exists)
    _until(lambda: out.read_text() == f"{SECRET}|visible")

    env_file = sup.env_dir / "worker.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert psutil.Process(first.pid).environ()["API_TOKEN"] == SECRET
    assert SECRET not in " ".join(psutil.Process(first.pid).cmdline())
    sup.daemon_pid()

    # Re-adding with a new secret restarts the program with it (the config itself did not change).
    out.unlink()
    sup.add_program("worker", command, env={"PLAIN": "visible"}, secret_env={"API_TOKEN": SECRET + "-2"},
                    cwd=tmp_path)
    _until(lambda: out.exists() and out.read_text() == f"{SECRET}-2|visible")
    second = sup.wait_for("worker")
    assert second.pid != first.pid

    files = [sup.conf_path, sup.logfile, *sup.programs_dir.glob("*.conf"), *(sup.home / "logs").glob("*")]
    for path in files:
        assert SECRET not in path.read_text(errors="replace"), path
    assert "visible" not in (sup.programs_dir / "worker.conf").read_text()
    assert any("started" in line for line in sup.tail("worker", 10))


def test_supervisord_kill9_is_recovered_without_orphans(sup: Tracked, tmp_path: Path) -> None:
    port = _free_port()
    sup.add_program("web", _http_server(port), cwd=tmp_path)
    old_child = sup.wait_for("web").pid
    old_daemon = sup.daemon_pid()

    os.kill(old_daemon, signal.SIGKILL)
    _until(lambda: not _alive(old_daemon))
    assert _alive(old_child)  # orphaned, still holding the port
    assert not sup.is_running()
    with pytest.raises(SupervisorError):
        sup.all_status()

    sup.ensure_running()
    new_daemon = sup.daemon_pid()
    assert new_daemon != old_daemon
    assert not _alive(old_child)  # the orphan was found and stopped
    # The program's config survived, so the new daemon runs it again; re-adding is idempotent.
    sup.add_program("web", _http_server(port), cwd=tmp_path)
    assert sup.wait_for("web").pid != old_child
    assert _answers(port)
    other = _free_port()
    sup.add_program("web-2", _http_server(other), cwd=tmp_path)
    sup.wait_for("web-2")
    assert _answers(other)


def test_crashing_program_reports_fatal_with_its_log(sup: Tracked, tmp_path: Path) -> None:
    crash = [sys.executable, "-c", "import sys; print('boom: bad entry point', flush=True); sys.exit(3)"]
    sup.add_program("crashy", crash, cwd=tmp_path, startretries=1)
    with pytest.raises(SupervisorError) as caught:
        sup.wait_for("crashy", timeout=20)
    assert "FATAL" in str(caught.value)
    assert any("boom: bad entry point" in line for line in caught.value.log_tail)


def test_bad_input_is_rejected_before_touching_supervisord(sup: Tracked, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        sup.add_program("bad name", ["true"], cwd=tmp_path)
    with pytest.raises(InputError):
        sup.add_program("ok", ["true"], env={"A": "1"}, secret_env={"A": "2"}, cwd=tmp_path)
    with pytest.raises(InputError):
        sup.add_program("ok", [], cwd=tmp_path)
    assert not sup.is_running()
