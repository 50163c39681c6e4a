"""Exec a command with extra environment variables read from a private file.

Usage: ``python -m pepperpy.cloud.providers.local.launch ENV_FILE -- COMMAND [ARG...]``

supervisord writes a program's ``environment=`` into its config file and
keeps it in memory; secrets must not be there, nor on any command line that
``ps`` shows. So a supervised program is started through this launcher: the
variables live in ``ENV_FILE`` (JSON ``{"env": {...}}``, mode 0600, written
by :func:`write_env_file`), and the launcher replaces itself (``exec``) with
the command, so the real process has the merged environment and no trace of
the launcher. The file is left in place because supervisord restarts a
crashed program with the same command line.

Only the standard library is used at import, so this file also runs by path
(``python -P .../launch.py``) and starts in a few milliseconds. When the env
file sets ``PEPPERPY_RESOLVE_SECRETS=1`` its ``${SECRET:name}`` values are
references, resolved from the encrypted secret store just before ``exec``;
that is how the local runtime keeps secret values off the disk.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

RESOLVE_FLAG = "PEPPERPY_RESOLVE_SECRETS"
USAGE = "usage: python -m pepperpy.cloud.providers.local.launch ENV_FILE -- COMMAND [ARG...]"


def write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """Write ``env`` to ``path`` atomically, readable only by the owner (0600) from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is filtered by the umask; be explicit
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = -1
            json.dump({"env": dict(env)}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp.exists():
            tmp.unlink()


def read_env_file(path: str | Path) -> dict[str, str]:
    """The variables in an env file; ValueError when it is not the expected shape."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    env = data.get("env") if isinstance(data, dict) else None
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ValueError("expected {\"env\": {name: value}}")
    return env


def _resolve_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """Replace ``${SECRET:name}`` values from the encrypted secret store, in this process only.

    With the flag set, the env file holds references, never values: the values are decrypted
    here, just before ``exec``, and exist only in the app's environment.
    """
    from pepperpy.cloud.deploy.secrets import SecretStore
    from pepperpy.cloud.spec.secrets import secret_name

    refs = {k: v for k, v in env.items() if secret_name(v)}
    return SecretStore.open().resolve(refs) if refs else {}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    env_file, command = args[0], args[2:]
    try:
        extra = read_env_file(env_file)
    except (OSError, ValueError) as exc:
        # Never echo the file's content: it holds secrets.
        print(f"launch: cannot read environment file {env_file}: {type(exc).__name__}", file=sys.stderr)
        return 2
    if extra.pop(RESOLVE_FLAG, None) == "1":
        try:
            extra.update(_resolve_secrets(extra))
        except Exception as exc:
            print(f"launch: cannot resolve secrets: {exc}", file=sys.stderr)
            return 2
    env = dict(os.environ)
    env.update(extra)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        print(f"launch: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover - execvpe does not return


if __name__ == "__main__":
    raise SystemExit(main())
