"""The local deployment lifecycle: build, run replicas, route traffic, roll out, scale, tear down.

Each container service of a stack is one deployment (named after the stack, or
``<stack>-<service>`` when the stack has several). Its replicas are supervisord
programs (``<name>-r<revision>-<index>``) running the app from a cached virtualenv;
its load balancer is another program (``<name>-lb``) on a port that stays the same
across revisions. Every change takes the deployment's lease in the state store and
is recorded there, so a crashed run can be repeated and converges.

Roll out = start the new revision's replicas, wait until each answers its readiness
path, add them to the load balancer, drain the old ones (their in-flight requests
finish), stop them. A revision that never becomes ready is stopped and marked
failed; the old one never stopped serving.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pepperpy.cloud.catalog.store import home_dir
from pepperpy.cloud.deploy.secrets import Redactor, SecretStore
from pepperpy.cloud.deploy.state import ReplicaInfo, StateStore
from pepperpy.cloud.errors import DeployError, InputError, NotFoundError
from pepperpy.cloud.providers.local.build import build_environment
from pepperpy.cloud.providers.local.supervisor import Supervisor
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service, Stack

Progress = Callable[[str], None]
READY_TIMEOUT = 90.0
DRAIN_TIMEOUT = 30.0
LEASE_TTL = 900.0


@dataclass(frozen=True)
class DeploymentResult:
    """What ``deploy`` returns: the stable URL and what now serves it."""

    name: str
    url: str
    revision: int
    replicas: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def deployment_names(stack: Stack) -> dict[str, str]:
    """service name -> deployment name for the stack's container services."""
    services = [n for n, s in stack.services.items() if s.runtime == "container"]
    return {n: stack.name if len(services) == 1 else f"{stack.name}-{n}" for n in services}


def _alive(pid: int) -> bool:
    import psutil  # type: ignore[import-untyped]

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _notification_env() -> dict[str, str]:
    """The caller's ``PEPPERPY_SMTP_*`` settings for the collector that sends alert email.

    A password goes along only as a ``${SECRET:name}`` reference (resolved when sending), so no
    clear-text secret lands in the program's env file.
    """
    from pepperpy.cloud.spec.secrets import secret_name

    return {k: v for k, v in os.environ.items() if k.startswith("PEPPERPY_SMTP_")
            and (k != "PEPPERPY_SMTP_PASSWORD" or secret_name(v) is not None)}


def _silent(_msg: str) -> None:
    return None


class LocalRuntime:
    """Deployments on this machine, driven through supervisord and the state store."""

    def __init__(self, *, progress: Progress | None = None) -> None:
        self.home = home_dir()
        self.state = StateStore.open()
        self.supervisor = Supervisor()
        self.secrets = SecretStore.open()
        self.progress = progress or _silent
        self._daemon: int | None = None

    # -- paths and programs -----------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        folder = self.home / "deployments" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _lb_config_path(self, name: str) -> Path:
        return self._dir(name) / "lb.json"

    def _lb_port(self, name: str) -> int:
        path = self._dir(name) / "lb-port"
        if path.exists():
            return int(path.read_text())
        port = free_port()
        path.write_text(str(port))
        return port

    def _autoscaler_port(self, name: str) -> int:
        path = self._dir(name) / "autoscaler-port"
        if path.exists():
            return int(path.read_text())
        port = free_port()
        path.write_text(str(port))
        return port

    @staticmethod
    def _replica_program(name: str, revision: int, index: int) -> str:
        return f"{name}-r{revision}-{index}"

    # -- building blocks ---------------------------------------------------------------------

    def _command(self, svc: Service, bin_dir: Path, port: int) -> list[str]:
        if svc.command:
            return [part.replace("{port}", str(port)) for part in svc.command]
        assert svc.entry_point
        if svc.kind == "streamlit":
            exe = bin_dir / "streamlit"
            args = ["run", svc.entry_point, "--server.port", str(port), "--server.address", "127.0.0.1",
                    "--server.headless", "true"]
        else:
            exe = bin_dir / "uvicorn"
            module = svc.entry_point.removesuffix(".py").replace("/", ".")
            args = [f"{module}:app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        if not exe.exists():
            raise InputError(f"services.{svc.kind}.requirements",
                             f"the app's requirements do not install {exe.name}",
                             hint=f"add {exe.name} to {svc.requirements or 'requirements.txt'}")
        return [str(exe), *args]

    def _wait_ready(self, program: str, port: int, path: str, redactor: Redactor,
                    deadline: float) -> None:
        url = f"http://127.0.0.1:{port}{path}"
        last = "no answer yet"
        while time.monotonic() < deadline:
            self._check_daemon()
            status = self.supervisor.status(program)
            if status is not None and status.state in ("FATAL", "EXITED", "BACKOFF"):
                raise self._failure(program, f"replica {program} crashed on start ({status.state})", redactor)
            try:
                answer = httpx.get(url, timeout=2.0)
                if answer.status_code < 400:
                    return
                last = f"{path} answered HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                last = f"{path}: {exc.__class__.__name__}"
            time.sleep(0.2)
        raise self._failure(program, f"replica {program} never became ready ({last})", redactor)

    def _failure(self, program: str, message: str, redactor: Redactor) -> DeployError:
        tail = [redactor.redact(line) for line in self.supervisor.tail(program, 20)]
        shown = "\n".join(f"  | {line}" for line in tail[-10:])
        return DeployError(f"{message}; last log lines:\n{shown}" if shown else message, log_tail=tail,
                           hint="fix the app and run 'pepperpy-cloud up' again; the previous revision keeps serving")

    def _write_lb_config(self, name: str, svc: Service, backends: list[dict[str, Any]],
                         stack: Stack | None = None) -> None:
        config: dict[str, Any] = {"deployment": name, "backends": backends, "readiness_path": svc.readiness_path,
                                  "health_path": svc.health_path, "check_interval": 1.0, "eject_after": 3}
        cost = stack.cloud.cost_optimization if stack is not None else None
        if cost is not None and cost.scale_to_zero:
            # With no replica, the balancer holds a request and POSTs the autoscaler's wake URL.
            config["cold_start"] = True
            config["scale_to_zero"] = {"idle_seconds": cost.idle_timeout_minutes * 60,
                                       "wake_url": f"http://127.0.0.1:{self._autoscaler_port(name)}/wake"}
        path = self._lb_config_path(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2))
        os.replace(tmp, path)

    def _ensure_lb(self, name: str) -> int:
        port = self._lb_port(name)
        program = f"{name}-lb"
        status = self.supervisor.status(program)
        if (status is None or status.state in ("STOPPED", "EXITED", "FATAL")) and port_in_use(port):
            raise InputError("load balancer", f"port {port} of deployment {name} is taken by another process",
                             hint=f"stop it, or delete {self._dir(name) / 'lb-port'} to pick a new port")
        self.supervisor.add_program(program, [sys.executable, "-m", "pepperpy.cloud.providers.local.loadbalancer",
                                              "--config", str(self._lb_config_path(name)), "--port", str(port)],
                                    cwd=self._dir(name))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_pepperpy/health", timeout=1.0).status_code == 200:
                    return port
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise self._failure(program, f"the load balancer of {name} did not start", Redactor([]))

    def lb_status(self, name: str) -> dict[str, Any] | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self._lb_port(name)}/_pepperpy/status", timeout=2.0)
            return dict(answer.json())
        except (httpx.HTTPError, ValueError):
            return None

    def _check_daemon(self) -> None:
        """A supervisord restarted under a running rollout (killed, then revived) has restarted every
        program from its config: what this run waits for may never come, so stop now and say so."""
        if self._daemon is not None and self.supervisor.daemon_pid() != self._daemon:
            raise DeployError("supervisord was restarted during this run (was it killed?)",
                              hint="run 'pepperpy-cloud up' again; it converges from what is running")

    def _wait_admitted(self, name: str, ids: set[str], deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_daemon()
            status = self.lb_status(name) or {}
            admitted = {b["id"] for b in status.get("backends", []) if b.get("admitted")}
            if ids <= admitted:
                return
            time.sleep(0.1)
        raise DeployError(f"the load balancer of {name} never admitted {sorted(ids)}")

    def _wait_drained(self, name: str, ids: set[str], deadline: float) -> None:
        while time.monotonic() < deadline:
            status = self.lb_status(name) or {}
            busy = {b["id"] for b in status.get("backends", []) if b["id"] in ids and b.get("in_flight", 0)}
            if not busy:
                return
            time.sleep(0.1)

    # -- lifecycle ---------------------------------------------------------------------------

    def deploy(self, stack: Stack, *, stack_dir: Path, service: str | None = None) -> list[DeploymentResult]:
        names = deployment_names(stack)
        if service is not None:
            if service not in names:
                raise NotFoundError("service", service, "container service", suggestions=sorted(names))
            names = {service: names[service]}
        if not names:
            raise InputError("services", "the stack has no container service to run locally")
        return [self._deploy_one(stack, svc_name, name, stack_dir.resolve()) for svc_name, name in names.items()]

    def _break_dead_lease(self, name: str) -> None:
        """A lease whose owner process on this host is gone (kill -9, crash) is broken at once,
        and recorded, instead of blocking every run until it expires."""
        import re

        held = self.state.get_lock(name)
        if held is None or held.expired(time.time()):
            return
        match = re.search(r"@(?P<host>\S+) pid (?P<pid>\d+) ", held.owner)
        if match and match["host"] == socket.gethostname() and not _alive(int(match["pid"])):
            self.state.force_unlock(name, f"owner process {match['pid']} is gone")

    def _reap(self, name: str) -> None:
        """Stop what a crashed run left behind: replicas of no active revision, pending revisions."""
        dep = self.state.get_deployment(name)
        active = dep.active_revision if dep else None
        keep = {self._replica_program(name, r.revision, r.index)
                for r in (self.state.replicas(name, active) if active else [])}
        for program in self.supervisor.all_status():
            if program.startswith(f"{name}-r") and program not in keep:
                self.supervisor.remove_program(program)
                self.state.record_event("reaped", f"stopped {program} left by an interrupted run", name)
        if dep is not None:
            for rev in self.state.revisions(name):
                if rev.status == "pending":
                    self.state.set_revision_status(name, rev.number, "failed", error="interrupted")

    def _deploy_one(self, stack: Stack, svc_name: str, name: str, stack_dir: Path,
                    replicas: int | None = None, note: str = "", origin: Path | None = None) -> DeploymentResult:
        svc = stack.services[svc_name]
        spec = {"stack": stack.model_dump(mode="json"), "service": svc_name, "stack_dir": str(stack_dir)}
        self._break_dead_lease(name)
        self.supervisor.ensure_running()  # a killed supervisord is restarted and its orphans stopped
        self._daemon = self.supervisor.daemon_pid()
        with self.state.lock(name, ttl=LEASE_TTL) as lease:
            if self.state.get_deployment(name):
                self._reap(name)
            self.state.upsert_deployment(name, "local", spec, status="deploying")
            previous = self.state.get_deployment(name)
            old_rev = previous.active_revision if previous else None
            from_snapshot = origin is not None
            origin = origin or (stack_dir / (svc.source or ".")).resolve()
            if svc.entry_point and not (origin / svc.entry_point).exists():
                raise InputError(f"services.{svc_name}.entry_point",
                                 f"{svc.entry_point} not found in {origin}", hint="fix the path in the stack file")
            _, refs = split_env(svc.env)
            self.secrets.resolve({k: svc.env[k] for k in refs})  # fail now, naming any missing secret
            redactor = self.secrets.redactor()
            rev = self.state.add_revision(name, spec)
            try:
                source = self._snapshot(name, rev, origin, [] if from_snapshot else svc.additional_files,
                                        stack_dir)
                self.progress(f"building the environment for {name}")
                built = build_environment(source, svc.requirements, progress=self.progress)
            except BaseException as exc:
                self.state.set_revision_status(name, rev, "failed", error=redactor.redact(str(exc)))
                self.state.set_deployment_status(name, "running" if old_rev else "failed")
                raise
            count = replicas if replicas is not None else max(svc.replicas.min, 1)
            self.progress(f"starting revision {rev}: {count} replica(s)")
            started: list[tuple[str, int, int]] = []
            old_backends: list[dict[str, Any]] = []
            shifted = False
            try:
                for index in range(count):
                    program, port = self._start_replica(name, rev, index, svc, built.bin_dir, source)
                    started.append((program, port, index))
                deadline = time.monotonic() + READY_TIMEOUT
                for program, port, _ in started:
                    self._wait_ready(program, port, svc.readiness_path, redactor, deadline)
                    lease.renew()
                self.progress("shifting traffic to the new revision")
                old = self.state.replicas(name, old_rev) if old_rev else []
                new_backends: list[dict[str, Any]] = [
                    {"id": p, "url": f"http://127.0.0.1:{port}", "revision": rev, "state": "active"}
                    for p, port, _ in started]
                old_backends = [{"id": self._replica_program(name, r.revision, r.index),
                                 "url": f"http://127.0.0.1:{r.port}", "revision": r.revision, "state": "draining"}
                                for r in old]
                self._write_lb_config(name, svc, new_backends + [{**b, "state": "active"} for b in old_backends], stack)
                shifted = True
                self._ensure_lb(name)
                self._wait_admitted(name, {str(b["id"]) for b in new_backends}, time.monotonic() + READY_TIMEOUT)
                self._write_lb_config(name, svc, new_backends + old_backends, stack)
                self._wait_drained(name, {str(b["id"]) for b in old_backends}, time.monotonic() + DRAIN_TIMEOUT)
                self._write_lb_config(name, svc, new_backends, stack)
            except BaseException as exc:
                if shifted:
                    self._write_lb_config(name, svc, [{**b, "state": "active"} for b in old_backends], stack)
                for program, _, _ in started:
                    self.supervisor.remove_program(program)
                self.state.set_revision_status(name, rev, "failed", error=redactor.redact(str(exc)))
                self.state.set_deployment_status(name, "running" if old_rev else "failed")
                self.state.record_event("rollout-failed", redactor.redact(str(exc)).splitlines()[0], name)
                raise
            for b in old_backends:
                self.supervisor.remove_program(str(b["id"]))
            if old_rev:
                self.state.replace_replicas(name, old_rev, [])
            self.state.replace_replicas(name, rev, [
                ReplicaInfo(index=i, pid=self._pid(p), port=port, status="running", started_at=time.time())
                for p, port, i in started])
            self.state.set_revision_status(name, rev, "ready")
            self.state.set_active_revision(name, rev)
            self.state.set_deployment_status(name, "running")
            self.state.record_event("deployed", f"revision {rev} serving with {count} replica(s){note}", name)
            self._ensure_autoscaler(name, stack, svc)
            self._ensure_monitor(name, stack, spec)
        return DeploymentResult(name, self.url(name), rev, count)

    def _ensure_autoscaler(self, name: str, stack: Stack, svc: Service) -> None:
        """Run the autoscaler when the service may scale or sleep; stop it when it may not."""
        program = f"{name}-autoscaler"
        scales = svc.scaling is not None and svc.replicas.max > svc.replicas.min
        if scales or stack.cloud.cost_optimization.scale_to_zero:
            self.supervisor.add_program(program, [sys.executable, "-m", "pepperpy.cloud.providers.local.autoscaler",
                                                  name, "--wake-port", str(self._autoscaler_port(name))],
                                        cwd=self._dir(name))
        elif self.supervisor.status(program) is not None:
            self.supervisor.remove_program(program)

    def _ensure_monitor(self, name: str, stack: Stack, spec: dict[str, Any]) -> None:
        """Run the metrics collector (``<name>-monitor``); it also evaluates alerts and the budget.

        ``PEPPERPY_SCRAPE_INTERVAL`` overrides the stack's ``scrape_interval_seconds`` (tests, demos).
        """
        interval = os.environ.get("PEPPERPY_SCRAPE_INTERVAL") or str(stack.cloud.monitoring.scrape_interval_seconds)
        program = f"{name}-monitor"
        command = [sys.executable, "-m", "pepperpy.cloud.monitor.collector", name, "--interval", interval]
        from pepperpy.cloud.monitor.store import MetricStore

        with MetricStore.open() as store:  # known to the monitor (and to cost accrual) from now on
            store.remember_deployment(name, spec, time.time())
        self.supervisor.add_program(program, command, cwd=self._dir(name), env=_notification_env())

    def _snapshot(self, name: str, rev: int, origin: Path, extras: list[str], stack_dir: Path) -> Path:
        """Copy the app (and its additional files) so the revision can run and be rolled back to
        unchanged even after the working tree moves on."""
        import shutil

        target = self._dir(name) / "revisions" / str(rev) / "app"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(origin, target, symlinks=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "venv", "__pycache__", "*.pyc", ".pytest_cache", "node_modules"))
        for extra in extras:
            found = next((p for p in (stack_dir / extra, Path.cwd() / extra, Path(extra)) if p.is_file()), None)
            if found is None:
                raise InputError("additional_files", f"{extra} not found next to the stack or in {Path.cwd()}")
            shutil.copy2(found, target / Path(extra).name)
        return target

    def _start_replica(self, name: str, rev: int, index: int, svc: Service, bin_dir: Path,
                       source: Path) -> tuple[str, int]:
        """Add one replica program on a free port; the launcher resolves its secret references."""
        port = free_port()
        program = self._replica_program(name, rev, index)
        plain, _ = split_env(svc.env)
        env = {**plain, "PORT": str(port), "PEPPERPY_DEPLOYMENT": name,
               "PEPPERPY_REVISION": str(rev), "PEPPERPY_REPLICA": str(index)}
        self.supervisor.add_program(program, self._command(svc, bin_dir, port), env=env, cwd=source,
                                    secret_env=self._secret_refs(svc))
        return program, port

    @staticmethod
    def _secret_refs(svc: Service) -> dict[str, str]:
        """References (not values) for the launcher, which decrypts them just before exec."""
        from pepperpy.cloud.providers.local.launch import RESOLVE_FLAG

        _, refs = split_env(svc.env)
        return {**{k: svc.env[k] for k in refs}, RESOLVE_FLAG: "1"} if refs else {}

    def _pid(self, program: str) -> int | None:
        status = self.supervisor.status(program)
        return status.pid if status else None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._lb_port(name)}"

    def _require(self, name: str) -> tuple[Any, Stack, str, Path]:
        dep = self.state.get_deployment(name)
        if dep is None or dep.active_revision is None:
            known = [d.name for d in self.state.list_deployments()]
            raise NotFoundError("NAME", name, "deployment", suggestions=known,
                                hint="list them with 'pepperpy-cloud ls'")
        rev = self.state.get_revision(name, dep.active_revision)
        assert rev is not None
        stack = Stack.model_validate(rev.spec["stack"])
        return rev, stack, rev.spec["service"], Path(rev.spec["stack_dir"])

    def scale(self, name: str, replicas: int) -> DeploymentResult:
        """Add or stop replicas of the active revision; the load balancer follows."""
        if replicas < 0:
            raise InputError("--replicas", f"{replicas} must be >= 0")
        rev, stack, svc_name, _ = self._require(name)
        svc = stack.services[svc_name]
        self._break_dead_lease(name)
        self.supervisor.ensure_running()
        self._daemon = self.supervisor.daemon_pid()
        with self.state.lock(name, ttl=LEASE_TTL):
            current = self.state.replicas(name, rev.number)
            source = self._dir(name) / "revisions" / str(rev.number) / "app"
            built = build_environment(source, svc.requirements, progress=self.progress)
            _, refs = split_env(svc.env)
            self.secrets.resolve({k: svc.env[k] for k in refs})
            infos = [ReplicaInfo(r.index, r.pid, r.port, r.status, r.started_at) for r in current]
            next_index = max((r.index for r in current), default=-1) + 1
            deadline = time.monotonic() + READY_TIMEOUT
            while len(infos) < replicas:
                program, port = self._start_replica(name, rev.number, next_index, svc, built.bin_dir, source)
                self._wait_ready(program, port, svc.readiness_path, self.secrets.redactor(), deadline)
                infos.append(ReplicaInfo(next_index, self._pid(program), port, "running", time.time()))
                next_index += 1
            removed = infos[replicas:]
            infos = infos[:replicas]
            backends = [{"id": self._replica_program(name, rev.number, i.index), "url": f"http://127.0.0.1:{i.port}",
                         "revision": rev.number, "state": "active"} for i in infos]
            drain = [{"id": self._replica_program(name, rev.number, i.index), "url": f"http://127.0.0.1:{i.port}",
                      "revision": rev.number, "state": "draining"} for i in removed]
            self._write_lb_config(name, svc, backends + drain, stack)
            if drain:
                self._wait_drained(name, {b["id"] for b in drain}, time.monotonic() + DRAIN_TIMEOUT)
                self._write_lb_config(name, svc, backends, stack)
                for b in drain:
                    self.supervisor.remove_program(b["id"])
            self.state.replace_replicas(name, rev.number, infos)
            self.state.record_event("scaled", f"{len(current)} -> {replicas} replica(s)", name)
        return DeploymentResult(name, self.url(name), rev.number, replicas)

    def rollback(self, name: str, to: int | None = None) -> DeploymentResult:
        """Deploy an earlier revision's spec again, as a new revision."""
        dep = self.state.get_deployment(name)
        if dep is None:
            raise NotFoundError("NAME", name, "deployment",
                                suggestions=[d.name for d in self.state.list_deployments()])
        revisions = [r for r in self.state.revisions(name) if r.status in ("retired", "ready", "active")]
        earlier = [r for r in revisions if r.number != dep.active_revision]
        if to is not None:
            earlier = [r for r in earlier if r.number == to]
            if not earlier:
                raise InputError("--to", f"revision {to} of {name} cannot be rolled back to",
                                 hint="choose one of " + ", ".join(str(r.number) for r in revisions))
        if not earlier:
            raise InputError("--to", f"{name} has no earlier revision to roll back to")
        target = max(earlier, key=lambda r: r.number)
        stack = Stack.model_validate(target.spec["stack"])
        return self._deploy_one(stack, target.spec["service"], name, Path(target.spec["stack_dir"]),
                                note=f" (rollback to revision {target.number})",
                                origin=self._dir(name) / "revisions" / str(target.number) / "app")

    def down(self, name: str) -> None:
        """Stop every replica and the load balancer, forget the deployment; idempotent."""
        self._break_dead_lease(name)
        self.supervisor.ensure_running()
        with self.state.lock(name, ttl=LEASE_TTL):
            for program in self.supervisor.all_status():
                helpers = (f"{name}-lb", f"{name}-autoscaler", f"{name}-monitor")
                if program in helpers or program.startswith(f"{name}-r"):
                    self.supervisor.remove_program(program)
            self.state.delete_deployment(name)
            self.state.record_event("down", "all replicas and the load balancer stopped", name)
            for path in (self._lb_config_path(name), self._dir(name) / "lb-port",
                         self._dir(name) / "autoscaler-port"):
                path.unlink(missing_ok=True)

    def status(self, name: str) -> dict[str, Any]:
        rev, _, _, _ = self._require(name)
        programs = self.supervisor.all_status()
        replicas = []
        for r in self.state.replicas(name, rev.number):
            prog = self._replica_program(name, r.revision, r.index)
            st = programs.get(prog)
            replicas.append({"replica": r.index, "port": r.port, "state": st.state if st else "MISSING",
                             "pid": st.pid if st else None})
        return {"name": name, "url": self.url(name), "revision": rev.number, "replicas": replicas,
                "load_balancer": self.lb_status(name),
                "revisions": [{"number": x.number, "status": x.status} for x in self.state.revisions(name)],
                "events": [{"kind": e.kind, "message": e.message} for e in self.state.events(name, limit=10)]}

    def list_deployments(self) -> list[dict[str, Any]]:
        """Deployments on this machine (the state store also records cloud ones; those are not ours)."""
        return [{"name": d.name, "status": d.status, "revision": d.active_revision,
                 "replicas": len(self.state.replicas(d.name, d.active_revision)) if d.active_revision else 0,
                 "url": self.url(d.name)} for d in self.state.list_deployments() if d.provider == "local"]

    def log_files(self, name: str, replica: int | None = None) -> list[Path]:
        rev, _, _, _ = self._require(name)
        return [self.supervisor.log_path(self._replica_program(name, r.revision, r.index))
                for r in self.state.replicas(name, rev.number) if replica is None or r.index == replica]

    def follow(self, paths: list[Path], lines: int = 20) -> Iterator[str]:
        """Last ``lines`` of each file, then new lines as they arrive (until interrupted)."""
        from pepperpy.cloud.providers.local.supervisor import tail_file

        redactor = self.secrets.redactor()
        handles = []
        for path in paths:
            for line in tail_file(path, lines):
                yield redactor.redact(line)
            fh = path.open("r", encoding="utf-8", errors="replace")
            fh.seek(0, os.SEEK_END)
            handles.append(fh)
        while True:
            quiet = True
            for fh in handles:
                line = fh.readline()
                if line:
                    quiet = False
                    yield redactor.redact(line.rstrip("\n"))
            if quiet:
                time.sleep(0.2)
