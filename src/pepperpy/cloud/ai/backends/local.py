"""On this machine: any OpenAI-compatible server (vLLM, llama.cpp's ``llama-server``, Ollama) registered by URL.

The URL comes from, in order: ``EndpointConfig(endpoint_url=...)``,
``ManagedAIService(provider, base_url=...)``, ``LocalProvider(ai_base_url=...)``, then
``$PEPPERPY_AI_BASE_URL``. ``http://host:8000`` and ``http://host:8000/v1`` mean the same.
``deploy_model`` does not start a server: it checks that one answers ``/v1/models`` and
serves the model, then records the endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.ai.backends import openai_compat as oa
from pepperpy.cloud.ai.backends.base import Deadline, DeploymentRecord, EndpointError, GenerationResult, send
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.providers.base import CloudProvider

ENV_URL = "PEPPERPY_AI_BASE_URL"
STATUS_PROBE_S = 2.0


def normalize_base(url: str) -> str:
    """The API base ending in ``/v1``, however the user wrote the server's address."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def resolve_api_key(reference: str | None) -> str | None:
    """The key behind a ``${SECRET:name}`` reference, read from the secret store now (never stored)."""
    if not reference:
        return None
    from pepperpy.cloud.deploy.secrets import SecretStore
    from pepperpy.cloud.spec.secrets import secret_name

    name = secret_name(reference)
    if name is None:  # EndpointConfig refuses this already; records edited by hand land here
        raise InputError("api_key", "write the key as ${SECRET:name}")
    return SecretStore().get(name)


class LocalOpenAIBackend:
    """Endpoints are OpenAI-compatible servers the user runs; we only talk to them."""

    kind = "local"

    def __init__(self, provider: CloudProvider, options: Mapping[str, Any]) -> None:
        self.default_url = (options.get("base_url") or provider.options.get("ai_base_url")
                            or os.environ.get(ENV_URL))
        self.transport = options.get("transport")

    def base_url(self, config: EndpointConfig) -> str:
        url = config.endpoint_url or self.default_url
        if not url:
            raise InputError("endpoint_url", "no OpenAI-compatible server URL given",
                             hint=f"pass EndpointConfig(endpoint_url='http://127.0.0.1:8000/v1'), "
                                  f"LocalProvider(ai_base_url=...) or set {ENV_URL}")
        if not str(url).startswith(("http://", "https://")):
            raise InputError("endpoint_url", f"{url!r} is not an http(s) URL")
        return normalize_base(str(url))

    def served_models(self, base: str, config: EndpointConfig, timeout_s: float) -> list[str]:
        request = oa.models_request(base, resolve_api_key(config.api_key))
        data = send(request, what="the OpenAI-compatible server", deadline=Deadline.after(timeout_s),
                    transport=self.transport)
        return oa.model_ids(data)

    def deploy(self, model_id: str, name: str, config: EndpointConfig) -> DeploymentRecord:
        base = self.base_url(config)
        served = self.served_models(base, config, config.timeout_s)
        if model_id not in served:
            from pepperpy.cloud.catalog.store import closest

            raise NotFoundError("model_id", model_id, "model", suggestions=closest(model_id, served) or served[:5],
                                hint=f"the server at {base} does not serve it; load it there first (vLLM "
                                     "--served-model-name, llama-server --alias, ollama pull)")
        stored = config.model_dump(exclude_none=True) | {"endpoint_url": base}
        return DeploymentRecord(name=name, scope="", backend=self.kind, model_id=model_id, config=stored,
                                endpoint=base)

    def generate(self, record: DeploymentRecord, prompt: str, max_tokens: int, deadline: Deadline,
                 options: Mapping[str, Any]) -> GenerationResult:
        config = record.endpoint_config
        request = oa.chat_request(record.endpoint, record.model_id, prompt, max_tokens,
                                  resolve_api_key(config.api_key), options)
        data = send(request, what=f"deployment {record.name!r}", deadline=deadline, transport=self.transport)
        return oa.parse_chat(data, f"deployment {record.name!r}")

    def status(self, record: DeploymentRecord) -> str:
        """``ready`` when the server answers and serves the model; else why not, in one word."""
        config = record.endpoint_config
        try:
            served = self.served_models(record.endpoint, config, min(STATUS_PROBE_S, config.timeout_s))
        except EndpointError:
            return "unreachable"
        except NotFoundError:
            return "secret-missing"
        return "ready" if record.model_id in served else "model-missing"

    def delete(self, record: DeploymentRecord) -> None:
        """Nothing to tear down: the server is the user's; the registry entry is removed by the service."""


BACKEND = LocalOpenAIBackend
