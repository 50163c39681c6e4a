"""Keep replicas alive after the CLI exits, by driving supervisord (PyPI ``supervisor``).

Writing a process supervisor is easy to get subtly wrong (reaping, restart
backoff, process groups, log rotation); supervisord already does all of it
and runs as a daemon, so ``pepperpy-cloud up -d`` can return while replicas
keep running. This module owns one supervisord per PepperPy home:

``<home>/supervisor/`` (mode 0700)
    ``supervisord.conf``, ``supervisor.sock`` (the XML-RPC endpoint; no TCP
    port is opened), ``supervisord.pid``, ``supervisord.log`` (rotated by
    supervisord: ``logfile_maxbytes``), ``programs/<name>.conf`` (one per
    program, pulled in by ``[include]``) and ``env/<name>.env`` (0600).
``<home>/logs/<name>.log``
    The program's stdout and stderr as written by the app (JSON lines for
    PepperPy apps); supervisord rotates it at ``log_maxbytes`` keeping
    ``log_backups`` old files.

Secrets: a program's environment never goes into supervisord's config, its
memory, its log or a command line. It is written to ``env/<name>.env``
(0600) and the program runs as ``python -P .../launch.py ENV_FILE -- CMD``,
which execs ``CMD`` with the merged environment (see ``launch.py``).

Crash safety: if supervisord is killed (``kill -9``), its children keep
running, orphaned, holding their ports. :meth:`Supervisor.ensure_running`
notices that the daemon is gone (dead pid, stale socket), finds the orphans
by the ``SUPERVISOR_SERVER_URL`` variable supervisord gave them, kills them,
and starts a fresh supervisord, which restarts every program whose config
is still in ``programs/``.

supervisord is started with a small, fixed environment (``PATH``, ``HOME``,
locale, ...) rather than the caller's: programs get exactly what
``add_program`` passes, not whatever happened to be in the shell that first
started the daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from supervisor.xmlrpc import Faults, SupervisorTransport  # type: ignore[import-untyped]

from pepperpy.cloud.catalog.store import home_dir
from pepperpy.cloud.errors import InputError, SupervisorError
from pepperpy.cloud.providers.local import launch
from pepperpy.cloud.providers.local.launch import write_env_file

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SOCKET_PATH_MAX = 100
"""``sun_path`` holds 108 bytes on Linux (104 on macOS); longer homes get a socket elsewhere."""

STOPPED_STATES = frozenset({"STOPPED", "EXITED", "FATAL"})
_DAEMON_ENV_KEYS = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
                    "SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                    "XDG_CONFIG_HOME")


@dataclass(frozen=True)
class ProgramStatus:
    """One program as supervisord sees it."""

    name: str
    state: str
    """STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL or UNKNOWN."""
    pid: int
    """0 when not running."""
    exitstatus: int
    spawnerr: str
    description: str
    log_file: str

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> ProgramStatus:
        group, name = str(info.get("group", "")), str(info.get("name", ""))
        return cls(
            name=name if group in ("", name) else f"{group}:{name}",
            state=str(info.get("statename", "UNKNOWN")),
            pid=int(info.get("pid", 0) or 0),
            exitstatus=int(info.get("exitstatus", 0) or 0),
            spawnerr=str(info.get("spawnerr", "") or ""),
            description=str(info.get("description", "") or ""),
            log_file=str(info.get("stdout_logfile", "") or ""),
        )


class _UnixConnection(http.client.HTTPConnection):
    """supervisor's UnixStreamHTTPConnection, but with a timeout so a hung daemon cannot hang us."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _Transport(SupervisorTransport):
    def __init__(self, socket_path: Path, timeout: float) -> None:
        super().__init__(None, None, f"unix://{socket_path}")
        self._get_connection = lambda: _UnixConnection(str(socket_path), timeout)


class Supervisor:
    """One supervisord per PepperPy home, driven over its unix-socket XML-RPC API."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = Path(home) if home is not None else home_dir()
        self.dir = self.home / "supervisor"
        self.conf_path = self.dir / "supervisord.conf"
        self.programs_dir = self.dir / "programs"
        self.env_dir = self.dir / "env"
        self.pidfile = self.dir / "supervisord.pid"
        self.logfile = self.dir / "supervisord.log"
        self.start_log = self.dir / "supervisord.start.log"
        self.logs_dir = self.home / "logs"
        self.socket_path = _socket_path(self.dir, self.home)

    @property
    def server_url(self) -> str:
        """What supervisord puts in each child's ``SUPERVISOR_SERVER_URL``: how orphans are recognised."""
        return f"unix://{self.socket_path}"

    # ----------------------------------------------------------------- daemon

    def ensure_running(self) -> None:
        """Start supervisord unless it already answers; recover from a killed one first."""
        with self._locked():
            self._ensure_running()

    def is_running(self) -> bool:
        return self._answering()

    def pid(self) -> int | None:
        """supervisord's pid, when it answers."""
        try:
            return int(self._call("getPID", timeout=5.0))
        except (SupervisorError, xmlrpc.client.Fault):
            return None

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop every program (each within its stopwaitsecs) and supervisord; kill what outlives ``timeout``.

        Program configs stay, so a later :meth:`ensure_running` brings them back;
        use :meth:`remove_program` to forget one.
        """
        with self._locked():
            pid = self._read_pid()
            if self._answering():
                with contextlib.suppress(xmlrpc.client.Fault, SupervisorError):
                    self._call("shutdown", timeout=10.0)
                deadline = time.monotonic() + timeout
                while pid and _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
            self._recover()

    # --------------------------------------------------------------- programs

    def add_program(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stdout_log: Path | None = None,
        *,
        secret_env: Mapping[str, str] | None = None,
        autostart: bool = True,
        autorestart: bool = True,
        startsecs: int = 1,
        startretries: int = 5,
        stopwaitsecs: int = 15,
        stopsignal: str = "TERM",
        log_maxbytes: int = 10 * 1024 * 1024,
        log_backups: int = 3,
    ) -> Path:
        """Define (or redefine) program ``name`` and start it; returns its log file.

        Idempotent: adding an identical program again leaves it running (or
        starts it if it had stopped); a changed command, directory or
        environment restarts it. ``secret_env`` is handled exactly like
        ``env`` but kept apart so callers can say which values are secret;
        neither is written to supervisord's config. Restarts after a crash
        use supervisord's backoff (``startretries`` attempts while a start
        fails within ``startsecs``, then FATAL).
        """
        _check_name(name)
        argv = [str(part) for part in command]
        if not argv:
            raise InputError("command", "is empty")
        if any("\n" in part or "\r" in part or "\0" in part for part in argv):
            raise InputError("command", "contains a newline or NUL character")
        merged = _merge_env(env or {}, secret_env or {})
        workdir = Path(cwd) if cwd is not None else self.home
        if not workdir.is_dir():
            raise InputError("cwd", f"{workdir} is not a directory")
        log = Path(stdout_log) if stdout_log is not None else self.logs_dir / f"{name}.log"
        signame = stopsignal.upper().removeprefix("SIG")
        if signame not in {"TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2"}:
            raise InputError("stopsignal", f"unsupported signal {stopsignal!r}")

        with self._locked():
            self._ensure_running()
            log.parent.mkdir(parents=True, exist_ok=True)
            env_file = self.env_dir / f"{name}.env"
            launcher = [sys.executable, "-P", launch.__file__, str(env_file), "--"]
            conf = _program_conf(
                name, [*launcher, *argv], workdir, log, env_file=env_file, autostart=autostart,
                autorestart=autorestart, startsecs=startsecs, startretries=startretries,
                stopwaitsecs=stopwaitsecs, stopsignal=signame, log_maxbytes=log_maxbytes, log_backups=log_backups,
            )
            conf_file = self.programs_dir / f"{name}.conf"
            env_changed = _env_differs(env_file, merged)
            self.env_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_env_file(env_file, merged)
            self.programs_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(conf_file, conf)
            try:
                added, changed, _removed = self._call("reloadConfig")[0]
                if name in changed:
                    self._stop_group(name, stopwaitsecs)
                    self._call("removeProcessGroup", name)
                    self._call("addProcessGroup", name)
                elif name in added:
                    self._call("addProcessGroup", name)
                elif autostart:
                    current = self._status(name)
                    if current is None:
                        self._call("addProcessGroup", name)
                    elif env_changed and current.state not in STOPPED_STATES:
                        self._stop_group(name, stopwaitsecs)
                        self._call("startProcessGroup", name, False)
                    elif current.state in STOPPED_STATES:
                        self._call("startProcessGroup", name, False)
            except xmlrpc.client.Fault as fault:
                raise SupervisorError(f"supervisord refused program {name!r}: {fault.faultString}",
                                      log_tail=tail_file(self.logfile, 20)) from fault
        return log

    def remove_program(self, name: str, *, delete_log: bool = False) -> None:
        """Stop program ``name`` (stopsignal, then SIGKILL after stopwaitsecs) and forget it."""
        _check_name(name)
        with self._locked():
            if self._answering():
                with contextlib.suppress(xmlrpc.client.Fault):
                    self._stop_group(name, 60)
                with contextlib.suppress(xmlrpc.client.Fault):
                    self._call("removeProcessGroup", name)
            else:
                _terminate(self._orphans(program=name))
            log = self._log_path(name)
            for path in (self.programs_dir / f"{name}.conf", self.env_dir / f"{name}.env"):
                path.unlink(missing_ok=True)
            if delete_log:
                for rotated in log.parent.glob(f"{log.name}*"):
                    rotated.unlink(missing_ok=True)

    def status(self, name: str) -> ProgramStatus | None:
        """The program's state, or None when supervisord does not know it."""
        return self._status(name)

    def all_status(self) -> dict[str, ProgramStatus]:
        infos = self._call("getAllProcessInfo")
        statuses = [ProgramStatus.from_info(info) for info in infos]
        return {s.name: s for s in statuses}

    def restart(self, name: str) -> None:
        """Stop (if running) and start again; returns once the start is requested, not when RUNNING."""
        self._require(name)
        self._stop_group(name, 60)
        self._call("startProcessGroup", name, False)

    def stop(self, name: str) -> None:
        """Stop the program and keep it stopped (until :meth:`start`, :meth:`restart` or a new add)."""
        self._require(name)
        self._stop_group(name, 60)

    def start(self, name: str) -> None:
        self._require(name)
        with contextlib.suppress(xmlrpc.client.Fault):
            self._call("startProcessGroup", name, False)

    def wait_for(self, name: str, states: Iterable[str] = ("RUNNING",), timeout: float = 15.0) -> ProgramStatus:
        """Poll until the program reaches one of ``states``; raise with its log tail on FATAL or timeout."""
        wanted = set(states)
        deadline = time.monotonic() + timeout
        last: ProgramStatus | None = None
        while True:
            last = self._status(name)
            if last is not None and last.state in wanted:
                return last
            if last is not None and last.state == "FATAL" and "FATAL" not in wanted:
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        state = last.state if last else "unknown"
        why = f" ({last.spawnerr or last.description})" if last and (last.spawnerr or last.description) else ""
        raise SupervisorError(f"program {name!r} is {state}{why}, not {'/'.join(sorted(wanted))}",
                              log_tail=self.tail(name, 20))

    def tail(self, name: str, lines: int = 50) -> list[str]:
        """The last ``lines`` lines of the program's log file (empty when there is none yet)."""
        return tail_file(self._log_path(name), lines)

    def log_path(self, name: str) -> Path:
        return self._log_path(name)

    # --------------------------------------------------------------- internals

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize daemon start and config changes across processes (flock; released if we die)."""
        self._make_dir()
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _make_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _ensure_running(self) -> None:
        if self._answering():
            return
        pid = self._read_pid()
        # Alive but silent: maybe still starting. Give it a moment before replacing it.
        if pid and _alive(pid) and self._is_our_daemon(pid) and self._wait_answering(5.0):
            return
        self._recover()
        self._write_conf()
        self._start()

    def _recover(self) -> None:
        """Kill a silent daemon of ours and its orphaned children; clear the stale pidfile and socket."""
        daemons = [p for p in _processes() if self._is_our_daemon(p.pid)]
        _terminate(daemons, grace=2.0)
        _terminate(self._orphans())
        self.pidfile.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)

    def _orphans(self, program: str | None = None) -> list[psutil.Process]:
        """Processes started by our supervisord (recognised by SUPERVISOR_SERVER_URL), optionally one program's."""
        found = []
        me = os.getpid()
        for proc in _processes():
            if proc.pid == me:
                continue
            try:
                env = proc.environ()
            except (psutil.Error, OSError):
                continue
            if env.get("SUPERVISOR_SERVER_URL") != self.server_url:
                continue
            if program is None or env.get("SUPERVISOR_GROUP_NAME") == program:
                found.append(proc)
        return found

    def _is_our_daemon(self, pid: int) -> bool:
        try:
            cmdline = psutil.Process(pid).cmdline()
        except (psutil.Error, OSError):
            return False
        return any("supervisord" in part for part in cmdline) and str(self.conf_path) in cmdline

    def _start(self) -> None:
        cmd = [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf_path)]
        with open(self.start_log, "wb") as out:
            try:
                proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                      env=self._daemon_env(), cwd=self.dir, timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SupervisorError(f"could not start supervisord: {exc}") from exc
        if proc.returncode != 0:
            lines = tail_file(self.start_log, 20)
            reason = next((line for line in reversed(lines) if line.strip()), f"exit status {proc.returncode}")
            raise SupervisorError(f"supervisord did not start: {reason}", log_tail=lines + tail_file(self.logfile, 10))
        if not self._wait_answering(15.0):
            raise SupervisorError("supervisord started but does not answer on its socket",
                                  log_tail=tail_file(self.logfile, 20))

    def _daemon_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in _DAEMON_ENV_KEYS or k.startswith("LC_")}
        env.setdefault("PATH", os.defpath)
        env["PEPPERPY_CLOUD_HOME"] = str(self.home)
        env["PYTHONUNBUFFERED"] = "1"  # so app logs reach the log file as they are written
        return env

    def _write_conf(self) -> None:
        self.programs_dir.mkdir(parents=True, exist_ok=True)
        self.env_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.conf_path, _daemon_conf(self))

    def _answering(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            state = self._call("getState", timeout=3.0)
        except (SupervisorError, xmlrpc.client.Fault):
            return False
        return isinstance(state, dict) and state.get("statename") == "RUNNING"

    def _wait_answering(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answering():
                return True
            time.sleep(0.05)
        return False

    def daemon_pid(self) -> int | None:
        """The pid of the running supervisord as its pidfile says (None before the first start)."""
        return self._read_pid()

    def _read_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _call(self, method: str, *args: Any, timeout: float = 30.0) -> Any:
        transport = _Transport(self.socket_path, timeout)
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        try:
            return getattr(proxy.supervisor, method)(*args)
        except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
            raise SupervisorError(f"supervisord is not answering on {self.socket_path}: {exc}",
                                  hint="run 'pepperpy-cloud up' again to restart it") from exc
        finally:
            transport.close()

    def _status(self, name: str) -> ProgramStatus | None:
        try:
            return ProgramStatus.from_info(self._call("getProcessInfo", name))
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == Faults.BAD_NAME:
                return None
            raise SupervisorError(f"cannot read the status of {name!r}: {fault.faultString}") from fault

    def _require(self, name: str) -> None:
        if self._status(name) is None:
            raise InputError("program", f"supervisord has no program named {name!r}")

    def _stop_group(self, name: str, stopwaitsecs: float) -> None:
        """Stop and wait (the RPC returns once every process has exited or been killed)."""
        try:
            self._call("stopProcessGroup", name, True, timeout=stopwaitsecs + 15.0)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode not in (Faults.NOT_RUNNING,):
                raise

    def _log_path(self, name: str) -> Path:
        """The program's log: from its config when present (a custom ``stdout_log``), else the default."""
        conf = self.programs_dir / f"{name}.conf"
        with contextlib.suppress(OSError):
            for line in conf.read_text(encoding="utf-8").splitlines():
                if line.startswith("stdout_logfile="):
                    return Path(line.partition("=")[2].replace("%%", "%"))
        return self.logs_dir / f"{name}.log"


# ------------------------------------------------------------------- helpers


def tail_file(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a text file, reading backwards so big logs stay cheap."""
    if lines <= 0:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            block, data = 8192, b""
            while end > 0 and data.count(b"\n") <= lines:
                start = max(0, end - block)
                fh.seek(start)
                data = fh.read(end - start) + data
                end = start
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


def _socket_path(folder: Path, home: Path) -> Path:
    preferred = folder / "supervisor.sock"
    if len(str(preferred).encode()) <= SOCKET_PATH_MAX:
        return preferred
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"pepperpy-cloud-{os.getuid()}"
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    return base / f"{digest}.sock"


def _check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InputError("name", f"{name!r} is not a valid program name",
                         hint="use letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit")


def _merge_env(env: Mapping[str, str], secret_env: Mapping[str, str]) -> dict[str, str]:
    both = set(env) & set(secret_env)
    if both:
        raise InputError("secret_env", f"{', '.join(sorted(both))} also given in env")
    merged: dict[str, str] = {}
    for key, value in [*env.items(), *secret_env.items()]:
        if not ENV_NAME_RE.match(key):
            raise InputError("env", f"{key!r} is not a valid environment variable name")
        if not isinstance(value, str) or "\0" in value:
            raise InputError("env", f"{key}: value must be a string without NUL characters")
        merged[key] = value
    return merged


def _env_differs(path: Path, env: Mapping[str, str]) -> bool:
    try:
        return launch.read_env_file(path) != dict(env)
    except (OSError, ValueError):
        return True


def _escape(value: str) -> str:
    """supervisord %-expands option values; keep ours literal."""
    return value.replace("%", "%%")


def _program_conf(name: str, argv: Sequence[str], cwd: Path, log: Path, *, env_file: Path, autostart: bool,
                  autorestart: bool, startsecs: int, startretries: int, stopwaitsecs: int, stopsignal: str,
                  log_maxbytes: int, log_backups: int) -> str:
    # shlex.join quotes every argument holding ';' or '#', which supervisord would otherwise
    # read as the start of an inline comment.
    return "\n".join([
        "; written by pepperpy-cloud; the environment is in the env file (0600), never here",
        f"; env file: {env_file}",
        f"[program:{name}]",
        f"command={_escape(shlex.join(argv))}",
        f"directory={_escape(str(cwd))}",
        f"autostart={str(autostart).lower()}",
        f"autorestart={str(autorestart).lower()}",
        f"startsecs={int(startsecs)}",
        f"startretries={int(startretries)}",
        f"stopwaitsecs={int(stopwaitsecs)}",
        f"stopsignal={stopsignal}",
        "stopasgroup=true",
        "killasgroup=true",
        "umask=022",
        "redirect_stderr=true",
        f"stdout_logfile={_escape(str(log))}",
        f"stdout_logfile_maxbytes={int(log_maxbytes)}",
        f"stdout_logfile_backups={int(log_backups)}",
        "",
    ])


def _daemon_conf(sup: Supervisor) -> str:
    # As root, naming the user silences supervisord's CRIT "privileges were not dropped" line.
    user = [f"user={pwd.getpwuid(0).pw_name}"] if os.geteuid() == 0 else []
    return "\n".join([
        "; written by pepperpy-cloud: one supervisord per PepperPy home, reached over a unix socket only",
        "[unix_http_server]",
        f"file={_escape(str(sup.socket_path))}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={_escape(str(sup.logfile))}",
        "logfile_maxbytes=5MB",
        "logfile_backups=2",
        "loglevel=info",
        f"pidfile={_escape(str(sup.pidfile))}",
        f"directory={_escape(str(sup.dir))}",
        f"childlogdir={_escape(str(sup.dir))}",
        "identifier=pepperpy-cloud",
        "umask=077",
        "minfds=256",
        "minprocs=64",
        "nodaemon=false",
        *user,
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_escape(str(sup.socket_path))}",
        "",
        "[include]",
        "files = programs/*.conf",
        "",
    ])


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _processes() -> Iterator[psutil.Process]:
    yield from psutil.process_iter()


def _alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped by its new parent) counts as dead."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, OSError):
        return False


def _terminate(procs: Sequence[psutil.Process], grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL whatever is still alive after ``grace`` seconds; includes descendants."""
    victims: dict[int, psutil.Process] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                victims[child.pid] = child
        victims[proc.pid] = proc
    if not victims:
        return
    for proc in victims.values():
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    alive = _wait_gone(victims.values(), grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_gone(alive, grace)


def _wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until the processes are dead or zombies; return those still alive.

    Not ``psutil.wait_procs``: orphans are not our children, so their zombies
    may never be reaped (a container's PID 1 often does not) and would look alive.
    """
    pending = list(procs)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [p for p in pending if _alive_process(p)]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return pending


def _alive_process(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, OSError):
        return False
