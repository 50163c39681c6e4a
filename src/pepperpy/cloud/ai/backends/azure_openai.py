"""Azure OpenAI: a deployment of a model in a Cognitive Services (OpenAI) account, created through ARM.

Settings (``ManagedAIService(azure, resource_group=..., account_name=...)``, the provider's
options, or ``$AZURE_RESOURCE_GROUP`` / ``$AZURE_OPENAI_ACCOUNT``; the subscription from
``AzureProvider(subscription_id=...)`` or ``$AZURE_SUBSCRIPTION_ID``). ``credential`` may be any
azure-identity ``TokenCredential``; without it one is built from the provider's
``tenant_id``/``client_id``/``client_secret``, else ``DefaultAzureCredential``.

The deployment's sku is ``EndpointConfig.sku`` (``Standard``) with ``capacity`` in thousands of
tokens per minute (default 10); ``instance_type``/``instance_count`` do not apply (Azure OpenAI
is billed per token) and are only recorded. Calls go to
``https://<account>.openai.azure.com/openai/deployments/<name>/chat/completions`` (or
``EndpointConfig.endpoint_url`` / the ``openai_endpoint`` option) with ``api-key`` when
``api_key=${SECRET:name}`` is given, else an Entra ID token.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.ai.backends import openai_compat as oa
from pepperpy.cloud.ai.backends.base import (
    Deadline,
    DeploymentRecord,
    EndpointError,
    GenerationResult,
    HTTPRequest,
    send,
)
from pepperpy.cloud.ai.backends.local import resolve_api_key
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import DeployError, InputError, MissingDependencyError
from pepperpy.cloud.providers.base import CloudProvider

ARM = "https://management.azure.com"
ARM_API_VERSION = "2024-10-01"
DATA_API_VERSION = "2024-10-21"
ARM_SCOPE = "https://management.azure.com/.default"
DATA_SCOPE = "https://cognitiveservices.azure.com/.default"
DEFAULT_CAPACITY = 10
STATUS = {"Succeeded": "ready", "Creating": "creating", "Accepted": "creating", "Updating": "updating",
          "Deleting": "deleting", "Failed": "failed", "Canceled": "failed"}


def deployment_url(arm: str, subscription: str, group: str, account: str, name: str) -> str:
    return (f"{arm}/subscriptions/{subscription}/resourceGroups/{group}/providers/"
            f"Microsoft.CognitiveServices/accounts/{account}/deployments/{name}")


def deployment_body(model_id: str, config: EndpointConfig) -> dict[str, Any]:
    """The ARM body of ``Microsoft.CognitiveServices/accounts/deployments``: sku + OpenAI model."""
    model: dict[str, str] = {"format": "OpenAI", "name": model_id}
    if config.model_version:
        model["version"] = config.model_version
    return {"sku": {"name": config.sku, "capacity": config.capacity or DEFAULT_CAPACITY},
            "properties": {"model": model}}


def create_deployment_request(url: str, model_id: str, config: EndpointConfig, token: str) -> HTTPRequest:
    return HTTPRequest("PUT", url, deployment_body(model_id, config), {"api-version": ARM_API_VERSION},
                       {"Authorization": f"Bearer {token}"})


def arm_request(method: str, url: str, token: str) -> HTTPRequest:
    return HTTPRequest(method, url, None, {"api-version": ARM_API_VERSION}, {"Authorization": f"Bearer {token}"})


def account_endpoint(account: str) -> str:
    return f"https://{account}.openai.azure.com"


def chat_request(endpoint: str, name: str, prompt: str, max_tokens: int, options: Mapping[str, Any], *,
                 api_key: str | None = None, token: str | None = None) -> HTTPRequest:
    """Chat completions on a deployment: the URL names the deployment, so the body has no ``model``."""
    headers = {"api-key": api_key} if api_key else {"Authorization": f"Bearer {token}"}
    return HTTPRequest("POST", f"{endpoint}/openai/deployments/{name}/chat/completions",
                       oa.chat_body(None, prompt, max_tokens, options), {"api-version": DATA_API_VERSION}, headers)


class AzureOpenAIBackend:
    kind = "azure_openai"

    def __init__(self, provider: CloudProvider, options: Mapping[str, Any]) -> None:
        self.provider = provider
        self.options = {**provider.options, **options}
        self.transport = self.options.get("transport")
        self._credential = self.options.get("credential")

    def _setting(self, key: str, env: str, value: Any = None) -> str:
        value = value or self.options.get(key) or os.environ.get(env)
        if not value:
            raise InputError(key, "Azure OpenAI deployments need it",
                             hint=f"pass ManagedAIService(provider, {key}=...) or set {env}")
        return str(value)

    def _url(self, name: str) -> str:
        arm = (self.options.get("arm_endpoint") or self.provider.endpoint_url or ARM).rstrip("/")
        return deployment_url(arm, self._setting("subscription_id", "AZURE_SUBSCRIPTION_ID",
                                                 getattr(self.provider, "subscription_id", None)),
                              self._setting("resource_group", "AZURE_RESOURCE_GROUP"),
                              self._setting("account_name", "AZURE_OPENAI_ACCOUNT"), name)

    def _token(self, scope: str) -> str:
        if self._credential is None:
            self._credential = _default_credential(self.provider)
        return str(self._credential.get_token(scope).token)

    def deploy(self, model_id: str, name: str, config: EndpointConfig) -> DeploymentRecord:
        url = self._url(name)
        what = f"Azure OpenAI deployment {name!r}"
        answer = send(create_deployment_request(url, model_id, config, self._token(ARM_SCOPE)), what=what,
                      deadline=Deadline.after(max(config.timeout_s, 60)), transport=self.transport)
        state = (answer.get("properties") or {}).get("provisioningState", "Succeeded")
        if self.options.get("wait", True):
            state = self._wait(url, name, state)
        endpoint = (config.endpoint_url or self.options.get("openai_endpoint")
                    or account_endpoint(self._setting("account_name", "AZURE_OPENAI_ACCOUNT")))
        return DeploymentRecord(name=name, scope="", backend=self.kind, model_id=model_id,
                                config=config.model_dump(exclude_none=True), status=STATUS.get(state, state.lower()),
                                endpoint=endpoint, resources={"arm_id": str(answer.get("id", url))})

    def _wait(self, url: str, name: str, state: str) -> str:
        deadline = time.monotonic() + float(self.options.get("deploy_timeout_s", 1800))
        while state != "Succeeded":
            if STATUS.get(state) == "failed" or time.monotonic() > deadline:
                raise DeployError(f"Azure OpenAI deployment {name!r} is {state}",
                                  hint="see the account's deployments in the Azure portal")
            time.sleep(float(self.options.get("poll_interval_s", 10)))
            state = self._state(url, name)
        return state

    def _state(self, url: str, name: str) -> str:
        answer = send(arm_request("GET", url, self._token(ARM_SCOPE)), what=f"Azure OpenAI deployment {name!r}",
                      deadline=Deadline.after(60), transport=self.transport)
        return str((answer.get("properties") or {}).get("provisioningState", "Unknown"))

    def generate(self, record: DeploymentRecord, prompt: str, max_tokens: int, deadline: Deadline,
                 options: Mapping[str, Any]) -> GenerationResult:
        key = resolve_api_key(record.endpoint_config.api_key)
        request = chat_request(record.endpoint, record.name, prompt, max_tokens, options, api_key=key,
                               token=None if key else self._token(DATA_SCOPE))
        what = f"Azure OpenAI deployment {record.name!r}"
        return oa.parse_chat(send(request, what=what, deadline=deadline, transport=self.transport), what)

    def status(self, record: DeploymentRecord) -> str:
        try:
            state = self._state(self._url(record.name), record.name)
        except EndpointError as exc:
            return "missing" if "HTTP 404" in str(exc) else "unknown"
        return STATUS.get(state, state.lower())

    def delete(self, record: DeploymentRecord) -> None:
        try:
            send(arm_request("DELETE", self._url(record.name), self._token(ARM_SCOPE)),
                 what=f"Azure OpenAI deployment {record.name!r}", deadline=Deadline.after(120),
                 transport=self.transport)
        except EndpointError as exc:
            if "HTTP 404" not in str(exc):
                raise


def _default_credential(provider: CloudProvider) -> Any:
    """A ClientSecretCredential from the provider's credentials, else DefaultAzureCredential (azure-identity)."""
    try:
        from azure import identity  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise MissingDependencyError("azure-identity", "azure") from None
    creds = {k: v.reveal() for k, v in provider.credentials.items() if v is not None and v.reveal() not in ("", "None")}
    if {"tenant_id", "client_id", "client_secret"} <= creds.keys():
        return identity.ClientSecretCredential(creds["tenant_id"], creds["client_id"], creds["client_secret"])
    return identity.DefaultAzureCredential()


BACKEND = AzureOpenAIBackend
