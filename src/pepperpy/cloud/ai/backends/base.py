"""What every managed-AI backend shares: the record of a deployment, a result, errors, the registry, HTTP.

A backend turns ``deploy / generate / status / delete`` into one cloud's requests.
Deployments made through PepperPy are remembered in a small registry
(``<home>/ai/deployments.json``, written atomically under a file lock) so
``list_deployments`` and ``delete_deployment`` know what this tool created and on
which backend, without listing every endpoint of an account. No secret value is
ever written there: an API key is kept as its ``${SECRET:name}`` reference.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import NotFoundError, PepperpyCloudError


class EndpointError(PepperpyCloudError):
    """A model endpoint answered with an error, or not in a usable way."""

    http_status = 502


class EndpointUnreachableError(EndpointError):
    """Nothing answers at the endpoint's address."""


class EndpointTimeoutError(EndpointError):
    """The call did not finish within ``EndpointConfig.timeout_ms``."""

    http_status = 504


class EndpointBusyError(EndpointError):
    """``max_concurrent_requests`` calls were in flight for the whole of this call's deadline."""

    http_status = 429


@dataclass
class GenerationResult:
    """One completion: ``text``, token ``usage``, ``latency_ms`` (request only, not queueing), ``finish_reason``."""

    text: str
    model: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0
    queued_ms: float = 0.0
    finish_reason: str | None = None

    def __str__(self) -> str:
        return self.text


@dataclass
class DeploymentRecord:
    """What the registry keeps about one deployment (JSON-able; secrets as references only)."""

    name: str
    scope: str
    backend: str
    model_id: str
    config: dict[str, Any]
    status: str = "ready"
    endpoint: str = ""
    resources: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def endpoint_config(self) -> EndpointConfig:
        return EndpointConfig(**self.config)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeploymentRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class Backend(Protocol):
    """One cloud's managed model endpoints."""

    kind: str

    def deploy(self, model_id: str, name: str, config: EndpointConfig) -> DeploymentRecord: ...

    def generate(self, record: DeploymentRecord, prompt: str, max_tokens: int, deadline: Deadline,
                 options: Mapping[str, Any]) -> GenerationResult: ...

    def status(self, record: DeploymentRecord) -> str: ...

    def delete(self, record: DeploymentRecord) -> None: ...


class Registry:
    """Deployments by ``(scope, name)`` in one JSON file; every change is lock + read + atomic replace."""

    def __init__(self, root: Path | None = None) -> None:
        from pepperpy.cloud.catalog.store import home_dir

        self.root = root or home_dir() / "ai"
        self.path = self.root / "deployments.json"

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise PepperpyCloudError(f"the managed-AI registry {self.path} is not valid JSON",
                                     hint="restore it from a backup or delete it") from exc
        return dict(data.get("deployments", {}))

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": 1, "deployments": data}, indent=2, sort_keys=True), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._load()
            yield data
            self._save(data)

    def put(self, record: DeploymentRecord) -> None:
        with self._locked() as data:
            data[f"{record.scope}/{record.name}"] = asdict(record)

    def remove(self, scope: str, name: str) -> None:
        with self._locked() as data:
            data.pop(f"{scope}/{name}", None)

    def all(self, scope: str) -> list[DeploymentRecord]:
        return [DeploymentRecord.from_dict(v) for k, v in sorted(self._load().items()) if k.startswith(scope + "/")]

    def get(self, scope: str, name: str) -> DeploymentRecord:
        data = self._load()
        if f"{scope}/{name}" not in data:
            from pepperpy.cloud.catalog.store import closest

            known = [r.name for r in self.all(scope)]
            raise NotFoundError("deployment_name", name, "model deployment", suggestions=closest(name, known),
                                hint="see ManagedAIService.list_deployments()")
        return DeploymentRecord.from_dict(data[f"{scope}/{name}"])


@dataclass(frozen=True)
class Deadline:
    """When a call must be over (``time.monotonic()`` value) and the timeout it came from (for messages)."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def timeout_error(self, what: str) -> EndpointTimeoutError:
        return EndpointTimeoutError(f"{what} did not answer within {self.seconds:g} s (EndpointConfig.timeout_ms)",
                                    hint="raise timeout_ms, lower max_tokens or check the server's load")

    def left(self, what: str) -> float:
        """Seconds left, or EndpointTimeoutError when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.timeout_error(what)
        return left


SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})


@dataclass
class HTTPRequest:
    """One HTTP request exactly as it will be sent; ``repr`` masks credential headers."""

    method: str
    url: str
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        shown = {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in self.headers.items()}
        return f"HTTPRequest({self.method} {self.url} params={self.params} headers={shown} body={self.body})"

    __str__ = __repr__


def send(request: HTTPRequest, *, what: str, deadline: Deadline, transport: Any = None) -> Any:
    """Send ``request`` and return its JSON, within ``deadline`` (checked between chunks, so a
    server that trickles bytes cannot stretch the call); failures become one clear EndpointError."""
    import httpx

    left = deadline.left(what)
    try:
        with httpx.Client(timeout=httpx.Timeout(left), transport=transport) as client, \
                client.stream(request.method, request.url, params=request.params or None,
                              headers=request.headers, json=request.body) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                deadline.left(what)
            status, body = response.status_code, b"".join(chunks)
    except httpx.TimeoutException:
        raise deadline.timeout_error(what) from None
    except httpx.TransportError as exc:
        raise EndpointUnreachableError(f"cannot reach {what} at {_origin(request.url)}: {_reason(exc)}",
                                       hint="start the server or fix the endpoint URL") from None
    if status >= 400:
        raise EndpointError(f"{what} answered HTTP {status}: {_error_message(body)}", hint=_status_hint(status))
    try:
        return json.loads(body) if body else {}
    except ValueError:
        raise EndpointError(f"{what} answered HTTP {status} with a body that is not JSON",
                            hint="is this URL really the API's base URL?") from None


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _error_message(body: bytes) -> str:
    """The provider's own error message (OpenAI, Azure and Google all nest it under ``error``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip().splitlines()[0][:200] if body.strip() else "(empty body)"
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)[:300]
    return str(error)[:300]


def _status_hint(status: int) -> str | None:
    if status in (401, 403):
        return "check the API key (EndpointConfig.api_key=${SECRET:name}) or the credentials' permissions"
    if status == 404:
        return "check the deployment name, model id and endpoint URL"
    if status == 429:
        return "the service is rate limiting; lower max_concurrent_requests or raise the quota"
    return None
