"""Build an app's isolated virtualenv, once per set of requirements.

Every revision of a deployment needs an interpreter with exactly its
requirements, but most redeploys do not change them; so environments live
under ``<home>/venvs/<key>`` where the key hashes the interpreter and the
requirements file's bytes, and a second build with the same inputs is a
directory look-up.

Building is crash-safe and race-free:

* the venv is built in ``<key>.tmp-<pid>`` and renamed into place only when
  complete, so a ``kill -9`` mid-build never leaves a half-built venv that a
  later run would mistake for a cached one;
* builders of one key serialize on an ``fcntl`` lock (``<key>.lock``); the
  second waits and then finds the first one's result instead of racing it;
* a failed install raises :class:`~pepperpy.cloud.errors.BuildError` with the
  installer's last lines and removes its temporary directory.

``uv`` is used when it is on ``PATH`` (much faster); otherwise the standard
library ``venv`` plus ``pip``, which inherits the user's pip configuration
(``pip.conf``, ``PIP_*`` variables) so private or offline indexes keep working.
Whether the requirements provide the server the app needs (uvicorn, streamlit)
is checked when a replica starts, not here: this module knows nothing of apps.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pepperpy.cloud.catalog.store import home_dir
from pepperpy.cloud.errors import BuildError, InputError

MANIFEST_NAME = "pepperpy-build.json"
"""Written inside the venv before the final rename, so its presence means 'complete'."""

TAIL_LINES = 20
KEY_LENGTH = 16
"""Hex digits of the sha256 used in directory names; 64 bits cannot collide here, and
short paths keep console-script shebangs under the kernel's length limit."""

Installer = Literal["auto", "uv", "pip"]
Progress = Callable[[str], None]

# Variables that would leak the caller's environment into the build or point pip at
# another interpreter; the index configuration (PIP_INDEX_URL, ...) is kept on purpose.
_DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER", "PIP_TARGET", "PIP_PREFIX",
                "PIP_PYTHON", "PIP_REQUIRE_VIRTUALENV", "UV_PROJECT_ENVIRONMENT", "CONDA_PREFIX")


@dataclass(frozen=True)
class BuildResult:
    """Where the environment is, and whether this call had to build it."""

    venv: Path
    cache_hit: bool
    key: str
    seconds: float

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def bin_dir(self) -> Path:
        return self.venv / "bin"


def venvs_dir() -> Path:
    return home_dir() / "venvs"


def python_identity() -> str:
    """The interpreter a venv is tied to: version, implementation, machine and base install.

    A venv's ``bin/python`` links to the base interpreter, so two different
    installs of the same version must not share one.
    """
    v = sys.version_info
    return f"{sys.implementation.name}-{v.major}.{v.minor}.{v.micro}-{platform.machine()}-{sys.base_prefix}"


def environment_key(requirements: bytes, python: str | None = None) -> str:
    """The cache key: a prefix of sha256(python identity, requirements bytes)."""
    return _digest(requirements, python)[:KEY_LENGTH]


def _digest(requirements: bytes, python: str | None) -> str:
    h = hashlib.sha256()
    h.update((python or python_identity()).encode())
    h.update(b"\0")
    h.update(requirements)
    return h.hexdigest()


def build_environment(
    source_dir: Path,
    requirements_file: str | None,
    *,
    progress: Progress | None = None,
    seed_from: Path | None = None,
    installer: Installer = "auto",
) -> BuildResult:
    """Return a virtualenv with ``requirements_file`` installed, building it only when not cached.

    ``requirements_file`` is relative to ``source_dir`` (or absolute); ``None``
    gives a bare venv. The installer runs in ``source_dir`` so relative paths in
    the file (``./wheels/x.whl``, ``-e .``) resolve as the user wrote them.
    ``seed_from`` is an optional local directory of wheels offered to the
    installer (``--find-links``), for offline or fast builds; it is never used
    unless given. ``progress`` receives one line per step and per installer line.
    """
    started = time.monotonic()
    say: Progress = progress or _silent
    source = Path(source_dir)
    if not source.is_dir():
        raise InputError("source_dir", f"{source} is not a directory")
    requirements = _resolve_requirements(source, requirements_file)
    data = _read_requirements(requirements, requirements_file) if requirements else b""
    full_digest = _digest(data, None)
    key = full_digest[:KEY_LENGTH]
    root = venvs_dir()
    final = root / key

    if _complete(final):
        say(f"environment {key}: cached")
        return BuildResult(final, True, key, time.monotonic() - started)

    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / f"{key}.lock", say, key):
        if _complete(final):  # another process built it while we waited
            say(f"environment {key}: built by a concurrent run")
            return BuildResult(final, True, key, time.monotonic() - started)
        _clear_leftovers(root, key)
        tmp = root / f"{key}.tmp-{os.getpid()}"
        uv = _choose_uv(installer)
        tool = "uv" if uv else "pip"
        what = requirements.name if requirements else "no requirements"
        say(f"environment {key}: building with {tool} from {what}")
        try:
            if uv:
                _build_with_uv(uv, tmp, key, requirements, data, source, seed_from, say)
            else:
                _build_with_pip(tmp, key, requirements, data, source, seed_from, say)
            _retarget_scripts(tmp, final)
            seconds = time.monotonic() - started
            manifest = {
                "key": key,
                "python": python_identity(),
                "python_executable": sys.executable,
                "requirements_file": str(requirements) if requirements else None,
                "requirements_sha256": hashlib.sha256(data).hexdigest(),
                "key_sha256": full_digest,
                "installer": tool,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "build_seconds": round(seconds, 3),
            }
            (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    seconds = time.monotonic() - started
    say(f"environment {key}: ready in {seconds:.1f}s")
    return BuildResult(final, False, key, seconds)


def read_manifest(venv: Path) -> dict[str, object]:
    """The manifest of a built environment (key, python, requirements hash, created_at, ...)."""
    loaded: dict[str, object] = json.loads((venv / MANIFEST_NAME).read_text(encoding="utf-8"))
    return loaded


def _silent(_line: str) -> None:
    return None


def _resolve_requirements(source: Path, requirements_file: str | None) -> Path | None:
    if requirements_file is None or not str(requirements_file).strip():
        return None
    path = Path(requirements_file)
    return path if path.is_absolute() else source / path


def _read_requirements(path: Path, given: str | None) -> bytes:
    if not path.is_file():
        raise InputError("requirements_file", f"{given} not found (looked for {path})",
                         hint="create it, fix the path, or leave requirements_file unset")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError("requirements_file", f"cannot read {path}: {exc.strerror}") from exc


def _complete(venv: Path) -> bool:
    # bin/python is a symlink to the base interpreter: exists() is False when that is gone.
    return (venv / MANIFEST_NAME).is_file() and (venv / "bin" / "python").exists()


@contextlib.contextmanager
def _exclusive(lock_path: Path, say: Progress, key: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path``; the kernel drops it if we die."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"environment {key}: waiting for a concurrent build of the same requirements")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _clear_leftovers(root: Path, key: str) -> None:
    """Remove what a killed builder left: its temp dir and any incomplete final dir.

    Called with the key's lock held, so no live builder owns these.
    """
    for leftover in root.glob(f"{key}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    final = root / key
    if final.exists() or final.is_symlink():
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final, ignore_errors=True)
        else:
            final.unlink()


def _choose_uv(installer: Installer) -> str | None:
    if installer == "pip":
        return None
    uv = shutil.which("uv")
    if installer == "uv" and uv is None:
        raise BuildError("uv was requested as the installer but is not on PATH",
                         hint="install uv or use installer='pip'")
    return uv


def _has_requirements(data: bytes) -> bool:
    """True when the file names anything to install (not only blanks and comments)."""
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            return True
    return False


def _build_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _pip_supports_python_flag() -> bool:
    """pip >= 22.3 can install into another interpreter (``--python``): no pip inside the venv needed."""
    if importlib.util.find_spec("pip") is None:
        return False
    try:
        import pip

        major, minor = (int(part) for part in pip.__version__.split(".")[:2])
    except (ImportError, ValueError):
        return False
    return (major, minor) >= (22, 3)


def _build_with_pip(tmp: Path, prompt: str, requirements: Path | None, data: bytes, source: Path,
                    seed_from: Path | None, say: Progress) -> None:
    env = _build_env()
    outer_pip = _pip_supports_python_flag()
    # --prompt: otherwise the activate scripts would name the temporary directory.
    create = [sys.executable, "-m", "venv", "--prompt", prompt] + (["--without-pip"] if outer_pip else []) + [str(tmp)]
    _run(create, cwd=tmp.parent, env=env, say=say, what="creating the virtualenv")
    if requirements is None or not _has_requirements(data):
        return
    venv_python = str(tmp / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", venv_python] if outer_pip else [venv_python, "-m", "pip"]
    cmd = [*pip, "install", "--no-input", "-r", str(requirements)]
    if seed_from is not None:
        cmd += ["--find-links", str(seed_from)]
    _run(cmd, cwd=source, env=env, say=say, what=f"installing {requirements.name}")


def _build_with_uv(uv: str, tmp: Path, prompt: str, requirements: Path | None, data: bytes, source: Path,
                   seed_from: Path | None, say: Progress) -> None:
    env = _build_env()
    _run([uv, "venv", "--python", sys.executable, "--prompt", prompt, str(tmp)], cwd=tmp.parent, env=env, say=say,
         what="creating the virtualenv")
    if requirements is None or not _has_requirements(data):
        return
    cmd = [uv, "pip", "install", "--python", str(tmp / "bin" / "python"), "-r", str(requirements)]
    cmd += _uv_index_flags(env)
    if seed_from is not None:
        cmd += ["--find-links", str(seed_from)]
    _run(cmd, cwd=source, env=env, say=say, what=f"installing {requirements.name}")


def _uv_index_flags(env: dict[str, str]) -> list[str]:
    """Carry pip's index variables over to uv, which does not read them (nor ``pip.conf``)."""
    flags: list[str] = []
    if env.get("PIP_INDEX_URL") and not (env.get("UV_INDEX_URL") or env.get("UV_DEFAULT_INDEX")):
        flags += ["--index-url", env["PIP_INDEX_URL"]]
    if env.get("PIP_EXTRA_INDEX_URL") and not (env.get("UV_EXTRA_INDEX_URL") or env.get("UV_INDEX")):
        for url in env["PIP_EXTRA_INDEX_URL"].split():
            flags += ["--extra-index-url", url]
    if env.get("PIP_FIND_LINKS") and not env.get("UV_FIND_LINKS"):
        for link in env["PIP_FIND_LINKS"].split():
            flags += ["--find-links", link]
    return flags


def _run(cmd: Sequence[str], *, cwd: Path, env: dict[str, str], say: Progress, what: str) -> None:
    """Run an installer step, streaming its output to ``say``; raise BuildError with its tail on failure."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
    except OSError as exc:
        raise BuildError(f"{what} failed: cannot run {cmd[0]}: {exc.strerror}") from exc
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            text = line.rstrip("\n")
            tail.append(text)
            say(text)
        code = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: do not leave the installer running
            proc.kill()
            proc.wait()
    if code != 0:
        lines = list(tail)
        raise BuildError(f"{what} failed: {_reason(lines, code)}", output_tail=lines)


def _reason(lines: list[str], code: int) -> str:
    """The most telling line of installer output: its last error line, else its last line."""
    for prefixes in (("error:",), ("╰─▶",), ("×", "error")):
        for line in reversed(lines):
            stripped = line.strip()
            if stripped.lower().startswith(prefixes):
                return stripped
    meaningful = [line.strip() for line in lines if line.strip()]
    return meaningful[-1] if meaningful else f"exit status {code}"


def _retarget_scripts(tmp: Path, final: Path) -> None:
    """Point scripts written during the build at the final path.

    Virtualenvs are not relocatable: console-script shebangs and the activate
    scripts name the directory they were built in. After the rename only the
    temp name is wrong, so rewrite it in the small text files that hold it.
    """
    old, new = str(tmp).encode(), str(final).encode()
    candidates = [tmp / "pyvenv.cfg"]
    bin_dir = tmp / "bin"
    if bin_dir.is_dir():
        candidates += list(bin_dir.iterdir())
    for path in candidates:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        content = path.read_bytes()
        if b"\0" in content or old not in content:
            continue
        mode = path.stat().st_mode
        path.write_bytes(content.replace(old, new))
        path.chmod(mode)
