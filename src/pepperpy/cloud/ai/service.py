"""Seed 000's ``ManagedAIService`` and ``ModelDeployment``: deploy a model behind an endpoint, call it, list, delete.

Which backend serves a provider:

============  ==========================================================================
provider      backend
============  ==========================================================================
local         an OpenAI-compatible server registered by URL (vLLM, llama.cpp, Ollama)
azure         an Azure OpenAI deployment (ARM ``Microsoft.CognitiveServices/accounts/deployments``)
aws           Amazon Bedrock for Bedrock model ids (``anthropic.claude-…``, ``us.meta.llama…``),
              else a SageMaker real-time endpoint (model + endpoint config + endpoint)
gcp           Vertex AI: Gemini/publisher models directly, other models deployed to an endpoint
============  ==========================================================================

Any other provider raises NotSupportedError from the constructor.

Client-side limits (the same on every backend): at most
``EndpointConfig.max_concurrent_requests`` calls of one deployment are in flight in this
process; a further caller waits for a slot, and ``timeout_ms`` is the deadline of the whole
call, waiting included. A caller that never got a slot gets ``EndpointBusyError``; one whose
request outlives the deadline gets ``EndpointTimeoutError``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.ai.backends.base import (
    Backend,
    Deadline,
    DeploymentRecord,
    EndpointBusyError,
    GenerationResult,
    Registry,
)
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import InputError, NotSupportedError
from pepperpy.cloud.providers.base import CloudProvider

NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
BACKENDS = {"local": "local", "azure": "azure_openai", "aws": "bedrock|sagemaker", "gcp": "vertex"}


class _Slots:
    """A counting semaphore that also knows how many calls are in flight (for errors and tests)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sem = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.in_flight = 0

    def acquire(self, timeout: float) -> bool:
        if not self._sem.acquire(timeout=max(timeout, 0)):
            return False
        with self._lock:
            self.in_flight += 1
        return True

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
        self._sem.release()


_SLOTS: dict[tuple[str, str, str], _Slots] = {}
_SLOTS_LOCK = threading.Lock()


def _slots(record: DeploymentRecord) -> _Slots:
    """The process-wide slots of one deployment (shared by every ModelDeployment object for it)."""
    limit = int(record.config.get("max_concurrent_requests", 10))
    key = (record.scope, record.name, record.created_at)
    with _SLOTS_LOCK:
        slots = _SLOTS.get(key)
        if slots is None or slots.limit != limit:
            slots = _SLOTS[key] = _Slots(limit)
        return slots


def backend_kind(provider: CloudProvider, model_id: str = "") -> str:
    """The backend module for ``provider`` (and, on AWS, for the model id); NotSupportedError otherwise."""
    kinds = BACKENDS.get(provider.name)
    if kinds is None:
        raise NotSupportedError(
            f"{provider.display_name} cannot run managed AI endpoints: it has no managed model service",
            hint="use LocalProvider() with an OpenAI-compatible server (vLLM, llama.cpp, Ollama), "
                 "AzureProvider, AWSProvider or GCPProvider")
    if kinds == "bedrock|sagemaker":
        from pepperpy.cloud.ai.backends.bedrock import is_bedrock_model

        return "bedrock" if is_bedrock_model(model_id) else "sagemaker"
    return kinds


def make_backend(kind: str, provider: CloudProvider, options: Mapping[str, Any]) -> Backend:
    import importlib

    module = importlib.import_module(f"pepperpy.cloud.ai.backends.{kind}")
    backend: Backend = module.BACKEND(provider, options)
    return backend


def _positive(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(field, f"must be a positive integer, not {value!r}")


class ModelDeployment:
    """One deployed model endpoint: ``generate(prompt, max_tokens)`` → a result with ``.text``."""

    def __init__(self, record: DeploymentRecord, backend: Backend, service: ManagedAIService) -> None:
        self._record = record
        self._backend = backend
        self._service = service

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def model_id(self) -> str:
        return self._record.model_id

    @property
    def status(self) -> str:
        """``ready``, ``creating``, ``updating``, ``failed``, ``missing``, ``unreachable``… as last asked."""
        return self._record.status

    @property
    def backend(self) -> str:
        return self._record.backend

    @property
    def endpoint(self) -> str:
        """The base URL, ARN or resource name calls go to."""
        return self._record.endpoint

    @property
    def created_at(self) -> str:
        return self._record.created_at

    @property
    def config(self) -> EndpointConfig:
        return self._record.endpoint_config

    @property
    def in_flight(self) -> int:
        """Calls of this deployment in flight in this process right now."""
        return _slots(self._record).in_flight

    def generate(self, prompt: str, max_tokens: int = 256, *, timeout_ms: int | None = None,
                 **params: Any) -> GenerationResult:
        """Complete ``prompt``; ``params`` may be ``temperature``, ``top_p``, ``stop``, ``seed``, ``system``.

        ``timeout_ms`` overrides the endpoint's deadline for this one call (waiting for a slot included).
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("prompt", "must be a non-empty string")
        _positive("max_tokens", max_tokens)
        if timeout_ms is not None:
            _positive("timeout_ms", timeout_ms)
        config = self.config
        timeout_s = timeout_ms / 1000 if timeout_ms is not None else config.timeout_s
        deadline = Deadline.after(timeout_s)
        start = time.monotonic()
        slots = _slots(self._record)
        if not slots.acquire(deadline.at - start):
            raise EndpointBusyError(
                f"deployment {self.name!r}: {slots.limit} requests in flight for the whole "
                f"{timeout_s:g} s deadline (EndpointConfig.max_concurrent_requests)",
                hint="raise max_concurrent_requests or timeout_ms, or send fewer requests at once")
        try:
            sent = time.monotonic()
            result = self._backend.generate(self._record, prompt, max_tokens, deadline, params)
        finally:
            slots.release()
        result.queued_ms = round((sent - start) * 1000, 3)
        result.latency_ms = round((time.monotonic() - sent) * 1000, 3)
        return result

    def refresh(self) -> str:
        """Ask the backend for the current status (and remember it)."""
        self._record.status = self._backend.status(self._record)
        return self._record.status

    def delete(self) -> None:
        self._service.delete_deployment(self.name)

    def __repr__(self) -> str:
        return (f"ModelDeployment(name={self.name!r}, model_id={self.model_id!r}, backend={self.backend!r}, "
                f"status={self.status!r}, endpoint={self.endpoint!r})")


class ManagedAIService:
    """``ManagedAIService(provider=azure_provider)``; backend options as keyword arguments (see each backend)."""

    def __init__(self, provider: CloudProvider | None = None, **options: Any) -> None:
        if provider is None:
            from pepperpy.cloud.providers.local import LocalProvider

            provider = LocalProvider()
        backend_kind(provider)  # refuse unsupported providers now, not at the first call
        self.provider = provider
        self.options = options
        self.scope = f"{provider.name}:{provider.region}"
        self._registry = Registry()
        self._backends: dict[str, Backend] = {}

    def _backend(self, kind: str) -> Backend:
        if kind not in self._backends:
            self._backends[kind] = make_backend(kind, self.provider, self.options)
        return self._backends[kind]

    def deploy_model(self, model_id: str, deployment_name: str, config: EndpointConfig | None = None
                     ) -> ModelDeployment:
        """Create (or replace) the endpoint ``deployment_name`` serving ``model_id``; returns it when usable."""
        if not isinstance(model_id, str) or not model_id.strip():
            raise InputError("model_id", "must be a non-empty string")
        if not isinstance(deployment_name, str) or not NAME.match(deployment_name):
            raise InputError("deployment_name", f"{deployment_name!r} is not a valid name",
                             hint="use 1-63 letters, digits and '-', starting and ending with a letter or digit")
        if config is None:
            config = EndpointConfig()
        elif not isinstance(config, EndpointConfig):
            raise InputError("config", f"must be an EndpointConfig, not {type(config).__name__}")
        backend = self._backend(backend_kind(self.provider, model_id))
        record = backend.deploy(model_id, deployment_name, config)
        record.scope = self.scope
        self._registry.put(record)
        return ModelDeployment(record, backend, self)

    def get_deployment(self, name: str) -> ModelDeployment:
        record = self._registry.get(self.scope, name)
        return ModelDeployment(record, self._backend(record.backend), self)

    def list_deployments(self, *, refresh: bool = True) -> list[ModelDeployment]:
        """Deployments made through PepperPy on this provider and region, each status asked of the backend."""
        deployments = [ModelDeployment(r, self._backend(r.backend), self)
                       for r in self._registry.all(self.scope)]
        if refresh:
            for deployment in deployments:
                deployment.refresh()
        return deployments

    def delete_deployment(self, name: str) -> None:
        """Tear down the endpoint's cloud resources, then forget it."""
        record = self._registry.get(self.scope, name)
        self._backend(record.backend).delete(record)
        self._registry.remove(self.scope, name)

    def __repr__(self) -> str:
        return f"ManagedAIService(provider={self.provider!r})"
