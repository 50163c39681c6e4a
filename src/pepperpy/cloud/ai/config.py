"""Seed 000's ``EndpointConfig``: how one managed model endpoint is sized and how callers may use it.

The four seed fields (``instance_type``, ``instance_count``, ``timeout_ms``,
``max_concurrent_requests``) mean the same on every backend; the optional fields
below them only matter to the backends named in their descriptions. The
timeout and the concurrency limit are enforced by the client (see
:mod:`pepperpy.cloud.ai.service`), so they hold even where the cloud has no such knob.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from pepperpy.cloud.spec.base import ConfigModel
from pepperpy.cloud.spec.secrets import secret_name


class EndpointConfig(ConfigModel):
    """How one endpoint is sized and used; seed 000 passes ``instance_type``, ``instance_count``, ``timeout_ms``
    and ``max_concurrent_requests``.

    - ``instance_type``: the machine behind the endpoint (SageMaker ``ml.g5.xlarge``, Vertex
      ``n1-standard-4``); recorded but meaningless for token-billed services (Azure OpenAI,
      Bedrock on demand) and for a local server.
    - ``instance_count``: machines (SageMaker, Vertex min replicas).
    - ``timeout_ms``: the deadline of one ``generate`` call, waiting for a free slot included.
    - ``max_concurrent_requests``: calls in flight at once from this process; further callers
      wait for a slot until their deadline, then get ``EndpointBusyError``.
    - ``endpoint_url``: an OpenAI-compatible server's URL (local: vLLM, llama.cpp, Ollama), or
      the Azure OpenAI account endpoint to invoke.
    - ``api_key``: only as ``${SECRET:name}``; resolved from the secret store at call time.
    - ``capacity``: Azure OpenAI sku capacity (thousands of tokens per minute); Bedrock
      provisioned-throughput model units (absent = on demand).
    - ``sku``: Azure OpenAI deployment sku (``Standard``, ``GlobalStandard``, ``ProvisionedManaged``).
    - ``model_version``: Azure OpenAI model version (absent = the account's default).
    - ``max_instance_count``: Vertex max replicas (absent = ``instance_count``).
    """

    instance_type: str | None = None
    instance_count: int = Field(1, ge=1, le=1000)
    timeout_ms: int = Field(30_000, ge=1, le=3_600_000)
    max_concurrent_requests: int = Field(10, ge=1, le=10_000)
    endpoint_url: str | None = None
    api_key: str | None = None
    capacity: int | None = Field(None, ge=1)
    sku: str = "Standard"
    model_version: str | None = None
    max_instance_count: int | None = Field(None, ge=1)

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and secret_name(value) is None:
            raise ValueError("write the key as ${SECRET:name} (store it with 'pepperpy-cloud secrets set NAME'); "
                             "a key in clear text is refused")
        return value

    @field_validator("max_instance_count")
    @classmethod
    def _max(cls, value: int | None, info: Any) -> int | None:
        count = info.data.get("instance_count")
        if value is not None and count is not None and value < count:
            raise ValueError(f"max_instance_count ({value}) must be >= instance_count ({count})")
        return value

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000
