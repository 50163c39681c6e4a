"""The local deployment lifecycle with real processes: deploy, roll out under load, fail safely,
roll back, scale, keep secrets out of state and logs, and tear down without orphans."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from pepperpy.cloud.errors import DeployError, NotFoundError
from pepperpy.cloud.spec.stack import Stack

SECRET = "s3cr3t-runtime-value-42"
APP = '''
import os, json, hashlib
VERSION = "{version}"
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        import asyncio
        await asyncio.sleep(0.2)
    body = json.dumps({{"version": VERSION, "replica": os.environ.get("PEPPERPY_REPLICA"),
                        "has_secret": hashlib.sha256(os.environ.get("API_KEY", "").encode()).hexdigest() == "{digest}"}}).encode()
    print(json.dumps({{"level": "info", "path": scope["path"], "api_key": os.environ.get("API_KEY")}}), flush=True)
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}})
    await send({{"type": "http.response.body", "body": body}})
'''
CRASHING_APP = "raise SystemExit('boom: the app refuses to start')\n"
STACK = """\
name: rt-demo
services:
  web:
    source: .
    entry_point: app.py
    replicas: {min: 2, max: 3}
    env:
      API_KEY: ${SECRET:rt-key}
      LOG_LEVEL: INFO
"""


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One home for the module so the app's virtualenv is built once."""
    home = tmp_path_factory.mktemp("runtime-home")
    old = os.environ.get("PEPPERPY_CLOUD_HOME")
    os.environ["PEPPERPY_CLOUD_HOME"] = str(home)
    yield home
    from pepperpy.cloud.providers.local.supervisor import Supervisor

    Supervisor(home).shutdown()
    if old is None:
        os.environ.pop("PEPPERPY_CLOUD_HOME", None)
    else:
        os.environ["PEPPERPY_CLOUD_HOME"] = old


@pytest.fixture
def runtime(module_home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PEPPERPY_CLOUD_HOME", str(module_home))
    from pepperpy.cloud.deploy.secrets import SecretStore
    from pepperpy.cloud.providers.local.runtime import LocalRuntime

    SecretStore.open().set("rt-key", SECRET)
    rt = LocalRuntime()
    yield rt
    if rt.state.get_deployment("rt-demo"):
        rt.down("rt-demo")


def write_app(folder: Path, version: str, crashing: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(CRASHING_APP if crashing else APP.format(version=version, digest=hashlib.sha256(SECRET.encode()).hexdigest()))
    (folder / "requirements.txt").write_text("uvicorn\n")
    (folder / "pepperpy.yaml").write_text(STACK)
    return folder


def deploy(rt, folder: Path):  # type: ignore[no-untyped-def]
    return rt.deploy(Stack.from_file(folder / "pepperpy.yaml"), stack_dir=folder)[0]


def get(url: str) -> dict:  # type: ignore[type-arg]
    return dict(httpx.get(url, timeout=5).json())


def test_deploy_serves_every_replica_behind_one_url(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = deploy(runtime, write_app(tmp_path / "app", "v1"))
    assert result.replicas == 2 and result.url.startswith("http://127.0.0.1:")
    seen = {get(result.url + "/")["replica"] for _ in range(8)}
    assert seen == {"0", "1"}
    assert get(result.url + "/")["has_secret"] is True
    status = runtime.status("rt-demo")
    # supervisord says STARTING until a replica has lived startsecs (1 s), even once it answers
    assert {r["state"] for r in status["replicas"]} <= {"RUNNING", "STARTING"}
    assert len(status["replicas"]) == 2 and all(r["pid"] for r in status["replicas"])


def test_rolling_update_under_load_drops_nothing(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write_app(tmp_path / "app", "v1")
    url = deploy(runtime, folder).url
    errors: list[str] = []
    versions: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    answer = client.get(url + "/slow" if len(versions) % 5 == 0 else url + "/")
                    if answer.status_code != 200:
                        errors.append(str(answer.status_code))
                    else:
                        versions.append(answer.json()["version"])
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(0.5)
    write_app(folder, "v2")
    result = deploy(runtime, folder)
    time.sleep(0.5)
    stop.set()
    for w in workers:
        w.join()
    assert result.revision == 2
    assert not errors, errors[:5]
    assert len(versions) > 50 and versions[0] == "v1" and versions[-1] == "v2"
    assert get(url + "/")["version"] == "v2"


def test_failed_rollout_keeps_the_old_revision_serving(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write_app(tmp_path / "app", "v1")
    url = deploy(runtime, folder).url
    write_app(folder, "v2", crashing=True)
    with pytest.raises(DeployError) as info:
        deploy(runtime, folder)
    assert "crashed on start" in str(info.value) and "boom: the app refuses to start" in str(info.value)
    assert get(url + "/")["version"] == "v1"
    revisions = {r["number"]: r["status"] for r in runtime.status("rt-demo")["revisions"]}
    assert revisions[1] == "active" and revisions[2] == "failed"
    assert not [p for p in runtime.supervisor.all_status() if p.startswith("rt-demo-r2-")]


def test_rollback_and_scale(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write_app(tmp_path / "app", "v1")
    url = deploy(runtime, folder).url
    write_app(folder, "v2")
    deploy(runtime, folder)
    assert get(url + "/")["version"] == "v2"
    back = runtime.rollback("rt-demo")
    assert back.revision == 3 and get(url + "/")["version"] == "v1"  # the snapshot of revision 1
    scaled = runtime.scale("rt-demo", 3)
    assert scaled.replicas == 3
    assert {get(url + "/")["replica"] for _ in range(12)} == {"0", "1", "2"}
    runtime.scale("rt-demo", 1)
    assert {get(url + "/")["replica"] for _ in range(6)} == {"0"}
    with pytest.raises(NotFoundError, match="closest: rt-demo"):
        runtime.scale("rt-dem", 2)


def test_secret_reaches_only_the_replica_environment(runtime, module_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = deploy(runtime, write_app(tmp_path / "app", "v1")).url
    assert get(url + "/")["has_secret"] is True
    state_text = json.dumps(runtime.status("rt-demo"))
    assert SECRET not in state_text
    # Scan the home in a child process: opening state.db here and closing it would drop this
    # process's POSIX locks on it and let another process delete its WAL under our feet.
    scan = ("import sys, pathlib; root = pathlib.Path(sys.argv[1]); needle = sys.argv[2].encode(); "
            "print('\\n'.join(str(p) for p in root.rglob('*') if p.is_file() and p.suffix != '.log' "
            "and 'venvs' not in p.parts and needle in p.read_bytes()))")
    found = subprocess.run([sys.executable, "-c", scan, str(module_home), SECRET], capture_output=True, text=True)
    assert found.stdout.strip() == "", found.stdout
    logged = list(runtime.follow(runtime.log_files("rt-demo"), lines=50).__next__() for _ in range(1))
    assert SECRET not in "".join(logged)
    cli = subprocess.run([sys.executable, "-m", "pepperpy.cloud.cli.main", "logs", "rt-demo", "-n", "50"],
                         capture_output=True, text=True, env={**os.environ, "PEPPERPY_CLOUD_HOME": str(module_home)})
    assert cli.returncode == 0 and "api_key" in cli.stdout and SECRET not in cli.stdout


def test_down_leaves_no_process_behind(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    deploy(runtime, write_app(tmp_path / "app", "v1"))
    pids = [r["pid"] for r in runtime.status("rt-demo")["replicas"]]
    lb = runtime.supervisor.status("rt-demo-lb")
    assert lb is not None and lb.pid
    runtime.down("rt-demo")
    time.sleep(0.5)
    for pid in [*pids, lb.pid]:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert runtime.state.get_deployment("rt-demo") is None
    assert not [p for p in runtime.supervisor.all_status() if p.startswith("rt-demo")]


def test_kill_9_of_the_cli_mid_deploy_then_up_again_converges(runtime, module_home: Path,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    folder = write_app(tmp_path / "app", "v1")
    deploy(runtime, folder)
    write_app(folder, "v2")
    env = {**os.environ, "PEPPERPY_CLOUD_HOME": str(module_home)}
    proc = subprocess.Popen([sys.executable, "-m", "pepperpy.cloud.cli.main", "up", str(folder), "-d"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "starting revision" in line:
            break
    time.sleep(0.3)  # replicas of revision 2 are being started
    proc.kill()
    proc.wait()
    # The old revision still serves, and the dead CLI's lease does not block the next run.
    assert get(runtime.url("rt-demo") + "/")["version"] == "v1"
    result = deploy(runtime, folder)
    assert result.revision == 3 and get(result.url + "/")["version"] == "v2"
    programs = sorted(p for p in runtime.supervisor.all_status() if p.startswith("rt-demo-r"))
    assert programs == ["rt-demo-r3-0", "rt-demo-r3-1"]
    revisions = {r["number"]: r["status"] for r in runtime.status("rt-demo")["revisions"]}
    assert revisions[2] == "failed" and revisions[3] == "active"
    kinds = [e["kind"] for e in runtime.status("rt-demo")["events"]]
    assert "force-unlock" in " ".join(kinds) or "unlock" in " ".join(kinds)


def test_kill_9_of_supervisord_mid_deploy_then_up_again_converges(runtime, module_home: Path,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    import signal

    folder = write_app(tmp_path / "app", "v1")
    deploy(runtime, folder)
    write_app(folder, "v2")
    daemon = runtime.supervisor._read_pid()
    assert daemon and psutil.pid_exists(daemon)
    env = {**os.environ, "PEPPERPY_CLOUD_HOME": str(module_home)}
    proc = subprocess.Popen([sys.executable, "-m", "pepperpy.cloud.cli.main", "up", str(folder), "-d"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "starting revision" in line:
            break
    time.sleep(0.3)  # replicas of the new revision are being started
    os.kill(daemon, signal.SIGKILL)
    started = time.monotonic()
    out, _ = proc.communicate(timeout=180)
    assert time.monotonic() - started < 30, out  # the interrupted run stops soon with a clear line, no hang
    assert "supervisord" in out and "Traceback" not in out
    result = deploy(runtime, folder)
    assert get(result.url + "/")["version"] == "v2"
    programs = sorted(p for p in runtime.supervisor.all_status() if p.startswith("rt-demo-r"))
    assert programs == [f"rt-demo-r{result.revision}-0", f"rt-demo-r{result.revision}-1"]
    new_daemon = runtime.supervisor._read_pid()
    assert new_daemon != daemon
    ours = runtime.supervisor._orphans()  # every process our supervisord started...
    assert ours and all(p.ppid() == new_daemon for p in ours)  # ...is a child of the live daemon: no orphan
    live = {psutil.Process(s.pid).pid for s in runtime.supervisor.all_status().values() if s.pid}
    assert {p.pid for p in ours} == live


BURN_APP = '''
import os, time
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/burn":
        end = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": os.environ.get("PEPPERPY_REPLICA", "").encode()})
'''
SCALING_STACK = """\
name: rt-scale
services:
  web:
    source: .
    entry_point: app.py
    replicas: {min: 1, max: 2}
    scaling: {metric: cpu_utilization, target: 30, cooldown_seconds: 5}
"""


def test_desired_replicas_follows_the_hpa_rule() -> None:
    from pepperpy.cloud.providers.local.autoscaler import desired_replicas

    assert desired_replicas(1, 90, 30, 1, 5) == 3
    assert desired_replicas(4, 10, 40, 1, 5) == 1
    assert desired_replicas(2, 31, 30, 1, 5) == 2  # within 10%: no change
    assert desired_replicas(3, 500, 30, 1, 4) == 4  # clamped to max


def test_cpu_load_scales_up_then_back_down(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "burn"
    folder.mkdir()
    (folder / "app.py").write_text(BURN_APP)
    (folder / "requirements.txt").write_text("uvicorn\n")
    (folder / "pepperpy.yaml").write_text(SCALING_STACK)
    result = runtime.deploy(Stack.from_file(folder / "pepperpy.yaml"), stack_dir=folder)[0]
    assert result.replicas == 1
    stop = threading.Event()

    def burn() -> None:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 45
            while not stop.is_set() and time.monotonic() < deadline:
                client.get(result.url + "/burn")

    workers = [threading.Thread(target=burn) for _ in range(2)]
    started = time.monotonic()
    for w in workers:
        w.start()
    try:
        while time.monotonic() - started < 40 and len(runtime.state.replicas("rt-scale", 1)) < 2:
            time.sleep(0.5)
        reaction = time.monotonic() - started
    finally:
        stop.set()
        for w in workers:
            w.join()
    try:
        assert len(runtime.state.replicas("rt-scale", 1)) == 2, "did not scale up under CPU load"
        print(f"scale-up reaction: {reaction:.1f} s")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(runtime.state.replicas("rt-scale", 1)) > 1:
            time.sleep(0.5)
        assert len(runtime.state.replicas("rt-scale", 1)) == 1, "did not scale back down when idle"
        assert "autoscaled" in [e["kind"] for e in runtime.status("rt-scale")["events"]]
    finally:
        runtime.down("rt-scale")


IDLE_STACK = """\
name: rt-idle
services:
  web:
    source: .
    entry_point: app.py
    replicas: {min: 1, max: 1}
cloud:
  cost_optimization: {scale_to_zero: true, idle_timeout_minutes: 0.05}
"""


def test_scale_to_zero_when_idle_and_cold_start_on_the_next_request(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "idle"
    folder.mkdir()
    (folder / "app.py").write_text(BURN_APP)
    (folder / "requirements.txt").write_text("uvicorn\n")
    (folder / "pepperpy.yaml").write_text(IDLE_STACK)
    url = runtime.deploy(Stack.from_file(folder / "pepperpy.yaml"), stack_dir=folder)[0].url
    try:
        assert httpx.get(url + "/", timeout=10).status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and runtime.state.replicas("rt-idle", 1):
            time.sleep(0.5)
        assert runtime.state.replicas("rt-idle", 1) == [], "did not scale to zero when idle"
        started = time.monotonic()
        answer = httpx.get(url + "/", timeout=40)  # held by the balancer while a replica starts
        assert answer.status_code == 200
        print(f"cold start answered in {time.monotonic() - started:.1f} s")
        assert len(runtime.state.replicas("rt-idle", 1)) == 1
        kinds = [e["kind"] for e in runtime.status("rt-idle")["events"]]
        assert "scaled-to-zero" in kinds and "woke" in kinds
    finally:
        runtime.down("rt-idle")
