"""The local secret store behind ``${SECRET:name}`` references.

Values are encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256) so a copied
``store.json`` or a backup of the home dir reveals nothing without the key; the key and
the data are files only their owner can read (0600, directory 0700), and modes loosened
by a copy or a careless ``chmod`` are put back every time the store is opened.

Values leave this module in two ways only: :meth:`SecretStore.get`/:meth:`SecretStore.resolve`
for a replica's environment, and a :class:`Redactor` that masks them in text. Errors,
``repr`` and listings name secrets, never show them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import stat
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.fernet import Fernet, InvalidToken

from pepperpy.cloud.catalog.store import closest, home_dir
from pepperpy.cloud.errors import InputError, NotFoundError, PepperpyCloudError
from pepperpy.cloud.spec.secrets import secret_name

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
FORMAT_VERSION = 1
SET_HINT = "set it with: pepperpy-cloud secrets set NAME"


def validate_name(name: str) -> str:
    """A secret name must be one a spec can reference, so the same rule as ``${SECRET:name}``."""
    if not isinstance(name, str) or secret_name(f"${{SECRET:{name}}}") != name:
        raise InputError("secret name", f"{name!r} is not a valid secret name",
                         hint="use letters, digits, '.', '_' and '-', starting with a letter or digit "
                              "(at most 128 characters)")
    return name


class Redactor:
    """Masks every known secret value in a text (logs, error messages) with ``***``.

    The URL-encoded form is masked too, because secrets most often leak inside connection strings.
    Longer values are replaced first so a secret containing another is masked whole.
    """

    MASK = "***"

    def __init__(self, values: Iterable[str]) -> None:
        forms: set[str] = set()
        for value in values:
            if value:
                forms.update({value, quote(value, safe="")})
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._count = len(forms)

    def redact(self, text: str) -> str:
        return self._pattern.sub(self.MASK, text) if self._pattern else text

    __call__ = redact

    def __repr__(self) -> str:
        return f"Redactor({self._count} values)"


class SecretStore:
    """Encrypted name → value pairs under ``<home>/secrets``; see the module docstring for the guarantees."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or home_dir() / "secrets"
        self.key_path = self.root / "key"
        self.data_path = self.root / "store.json"
        self._lock_path = self.root / ".lock"
        _ensure_private_dir(self.root)
        self._fernet = Fernet(self._load_or_create_key())
        for path in (self.data_path, self._lock_path):
            if path.exists():
                _ensure_private_file(path)

    @classmethod
    def open(cls, root: Path | None = None) -> SecretStore:
        return cls(root)

    def __repr__(self) -> str:
        return f"SecretStore({str(self.root)!r}, {len(self.names())} secrets)"

    __str__ = __repr__

    # -- the API --

    def set(self, name: str, value: str) -> None:
        validate_name(name)
        if not isinstance(value, str) or not value:
            raise InputError("secret value", f"the value of {name!r} is empty", hint=SET_HINT)
        token = self._fernet.encrypt(value.encode()).decode()
        with self._locked():
            data = self._load()
            data[name] = token
            self._save(data)

    def get(self, name: str) -> str:
        data = self._load()
        if name not in data:
            raise self._missing(name, data)
        return self._decrypt(name, data[name])

    def names(self) -> list[str]:
        return sorted(self._load())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._load()

    def delete(self, name: str) -> None:
        with self._locked():
            data = self._load()
            if name not in data:
                raise self._missing(name, data)
            del data[name]
            self._save(data)

    def resolve(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with every ``${SECRET:name}`` value replaced by the secret; fails naming what is missing."""
        data = self._load()
        refs = {var: ref for var, value in env.items() if (ref := secret_name(value)) is not None}
        missing = [(var, ref) for var, ref in refs.items() if ref not in data]
        if missing:
            var, ref = missing[0]
            others = "; also missing: " + ", ".join(f"{r} (for {v})" for v, r in missing[1:]) if missing[1:] else ""
            raise self._missing(ref, data, field=f"environment variable {var}", extra=others)
        return {var: self._decrypt(refs[var], data[refs[var]]) if var in refs else value
                for var, value in env.items()}

    def redactor(self) -> Redactor:
        """A :class:`Redactor` for every value in the store."""
        data = self._load()
        return Redactor(self._decrypt(name, token) for name, token in data.items())

    # -- files --

    def _missing(self, name: str, data: Mapping[str, str], *, field: str = "secret",
                 extra: str = "") -> NotFoundError:
        known = ", ".join(sorted(data)) or "none"
        return NotFoundError(field, name, "secret", suggestions=closest(name, data),
                             hint=f"known secrets: {known}{extra}; {SET_HINT.replace('NAME', name)}")

    def _decrypt(self, name: str, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise PepperpyCloudError(
                f"secret {name!r} cannot be decrypted with the key in {self.key_path}",
                hint=f"the key file was replaced; set the secret again with: pepperpy-cloud secrets set {name}",
            ) from None

    def _load_or_create_key(self) -> bytes:
        """Read the key, or create it atomically (hard link) so concurrent first runs agree on one key."""
        if not self.key_path.exists():
            tmp = self.root / f".key.{uuid.uuid4().hex}.tmp"
            _write_private(tmp, Fernet.generate_key())
            try:
                os.link(tmp, self.key_path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        _ensure_private_file(self.key_path)
        return _read_private(self.key_path).strip()

    def _load(self) -> dict[str, str]:
        if not self.data_path.exists():
            return {}
        raw: Any = json.loads(_read_private(self.data_path) or b"{}")
        secrets = raw.get("secrets", {}) if isinstance(raw, dict) else None
        if not isinstance(secrets, dict):
            raise PepperpyCloudError(f"{self.data_path} is not a PepperPy secret store",
                                     hint="move it away and set the secrets again")
        return {str(k): str(v) for k, v in secrets.items()}

    def _save(self, data: Mapping[str, str]) -> None:
        """Write a private temp file and rename it over the store, so a crash never leaves half a file."""
        body = json.dumps({"version": FORMAT_VERSION, "secrets": dict(sorted(data.items()))}, indent=2)
        tmp = self.root / f".store.{uuid.uuid4().hex}.tmp"
        _write_private(tmp, body.encode())
        os.replace(tmp, self.data_path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-modify-write across processes."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _fix_mode(path, DIR_MODE, os.lstat(path))


def _ensure_private_file(path: Path) -> None:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise PepperpyCloudError(f"{path} is not a regular file",
                                 hint="remove it; the secret store does not follow links")
    _fix_mode(path, FILE_MODE, info)


def _fix_mode(path: Path, mode: int, info: os.stat_result) -> None:
    """Refuse files owned by someone else; tighten modes that would let others read secrets."""
    if info.st_uid != os.getuid():
        raise PepperpyCloudError(f"{path} belongs to another user (uid {info.st_uid})",
                                 hint="the secret store must be owned by the user running pepperpy-cloud")
    if stat.S_IMODE(info.st_mode) != mode:
        log.warning("%s had mode %o; setting it to %o", path, stat.S_IMODE(info.st_mode), mode)
        os.chmod(path, mode)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # the umask may have narrowed it; never widened
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _read_private(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class CloudSecretStore:
    """What every cloud's secret store (Secrets Manager, Key Vault, Secret Manager) shares on top of its
    own ``get(name)`` and ``names()``: resolving ``${SECRET:name}`` references and building a redactor."""

    def get(self, name: str) -> str:
        raise NotImplementedError

    def names(self) -> list[str]:
        raise NotImplementedError

    def resolve(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with every ``${SECRET:name}`` replaced by its value; fails naming the variable and the secret."""
        values: dict[str, str] = {}
        for var, value in env.items():
            ref = secret_name(value)
            if ref is None:
                values[var] = value
                continue
            try:
                values[var] = self.get(ref)
            except NotFoundError as exc:
                raise NotFoundError(f"environment variable {var}", ref, "secret", suggestions=exc.suggestions,
                                    hint=exc.hint) from None
        return values

    def redactor(self, names: list[str] | None = None) -> Redactor:
        """A :class:`Redactor` for the values of ``names`` (default: every secret this store set)."""
        return Redactor(self.get(n) for n in (names if names is not None else self.names()))
