"""Vertex AI: Gemini and other publisher models directly; any other model deployed to an endpoint.

``model_id`` ``gemini-2.0-flash`` (or ``publishers/<p>/models/<m>``) needs no deployment: the
record is a named handle and calls go to ``:generateContent``. Any other ``model_id`` is a
Model Registry model (``123`` or ``projects/…/models/123``): an endpoint named after the
deployment is created and the model deployed to it on ``instance_type`` machines
(``instance_count`` .. ``max_instance_count`` replicas); calls go to ``:predict`` with the
vLLM/Model Garden instance shape (``prompt``, ``max_tokens``).

Settings: ``GCPProvider(project=...)`` or ``$GOOGLE_CLOUD_PROJECT``; the region is the
provider's. Tokens from ``token_provider`` (a callable) or google-auth
(``credentials_file`` or application default credentials). Options: ``wait`` (True),
``poll_interval_s`` (10), ``deploy_timeout_s`` (3600).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from pepperpy.cloud.ai.backends.base import (
    Deadline,
    DeploymentRecord,
    EndpointError,
    GenerationResult,
    HTTPRequest,
    send,
)
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import DeployError, InputError, MissingDependencyError
from pepperpy.cloud.providers.base import CloudProvider

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
LABEL = "pepperpy-managed-ai"
PARAMS = {"temperature": "temperature", "top_p": "topP", "stop": "stopSequences", "seed": "seed"}


def api_base(region: str, endpoint_url: str | None = None) -> str:
    return (endpoint_url or f"https://{region}-aiplatform.googleapis.com").rstrip("/") + "/v1"


def is_publisher_model(model_id: str) -> bool:
    return model_id.startswith(("gemini-", "publishers/"))


def publisher_model(parent: str, model_id: str) -> str:
    if model_id.startswith("publishers/"):
        return f"{parent}/{model_id}"
    return f"{parent}/publishers/google/models/{model_id}"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def generate_content_request(base: str, model: str, prompt: str, max_tokens: int, options: Mapping[str, Any],
                             token: str) -> HTTPRequest:
    """``POST …/publishers/google/models/<m>:generateContent``; ``system`` → systemInstruction."""
    unknown = sorted(set(options) - {*PARAMS, "system"})
    if unknown:
        raise InputError(unknown[0], f"not supported by Vertex AI; allowed: {', '.join([*PARAMS, 'system'])}")
    generation: dict[str, Any] = {"maxOutputTokens": max_tokens}
    generation.update({PARAMS[k]: v for k, v in options.items() if k in PARAMS and v is not None})
    if isinstance(generation.get("stopSequences"), str):
        generation["stopSequences"] = [generation["stopSequences"]]
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
                            "generationConfig": generation}
    if options.get("system"):
        body["systemInstruction"] = {"parts": [{"text": str(options["system"])}]}
    return HTTPRequest("POST", f"{base}/{model}:generateContent", body, headers=_auth(token))


def parse_generate_content(data: Any, what: str) -> GenerationResult:
    try:
        candidate = data["candidates"][0]
        parts = candidate["content"]["parts"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"{what} answered without candidates[0].content") from None
    usage = data.get("usageMetadata") or {}
    names = {"promptTokenCount": "prompt_tokens", "candidatesTokenCount": "completion_tokens",
             "totalTokenCount": "total_tokens"}
    return GenerationResult(text="".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)),
                            model=str(data.get("modelVersion") or ""),
                            usage={ours: int(usage[k]) for k, ours in names.items() if k in usage},
                            finish_reason=candidate.get("finishReason"))


def create_endpoint_request(base: str, parent: str, name: str, token: str) -> HTTPRequest:
    return HTTPRequest("POST", f"{base}/{parent}/endpoints", {"displayName": name, "labels": {LABEL: name}},
                       headers=_auth(token))


def deploy_model_request(base: str, endpoint: str, model: str, name: str, config: EndpointConfig,
                         token: str) -> HTTPRequest:
    """``POST …/endpoints/<id>:deployModel`` on dedicated machines, with all the traffic."""
    machine = config.instance_type or "n1-standard-4"
    resources = {"machineSpec": {"machineType": machine}, "minReplicaCount": config.instance_count,
                 "maxReplicaCount": config.max_instance_count or config.instance_count}
    body = {"deployedModel": {"model": model, "displayName": name, "dedicatedResources": resources},
            "trafficSplit": {"0": 100}}
    return HTTPRequest("POST", f"{base}/{endpoint}:deployModel", body, headers=_auth(token))


def predict_request(base: str, endpoint: str, prompt: str, max_tokens: int, options: Mapping[str, Any],
                    token: str) -> HTTPRequest:
    """``POST …/endpoints/<id>:predict`` in the vLLM / Model Garden instance shape."""
    unknown = sorted(set(options) - {"temperature", "top_p", "stop", "seed"})
    if unknown:
        raise InputError(unknown[0], "not supported by Vertex AI endpoints; allowed: temperature, top_p, stop, seed")
    instance = {"prompt": prompt, "max_tokens": max_tokens, **{k: v for k, v in options.items() if v is not None}}
    return HTTPRequest("POST", f"{base}/{endpoint}:predict", {"instances": [instance]}, headers=_auth(token))


def parse_predict(data: Any, what: str) -> GenerationResult:
    try:
        prediction = data["predictions"][0]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"{what} answered without predictions[0]") from None
    if isinstance(prediction, dict):
        prediction = prediction.get("content") or prediction.get("generated_text") or prediction.get("text") or ""
    return GenerationResult(text=str(prediction))


class VertexBackend:
    kind = "vertex"

    def __init__(self, provider: CloudProvider, options: Mapping[str, Any]) -> None:
        self.provider = provider
        self.options = {**provider.options, **options}
        self.transport = self.options.get("transport")
        self._token_provider: Callable[[], str] | None = self.options.get("token_provider")
        self.base = api_base(provider.region, self.options.get("vertex_endpoint") or provider.endpoint_url)

    @property
    def parent(self) -> str:
        project = getattr(self.provider, "project", None) or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise InputError("project", "Vertex AI needs a project",
                             hint="pass GCPProvider(project=...) or set GOOGLE_CLOUD_PROJECT")
        return f"projects/{project}/locations/{self.provider.region}"

    def _token(self) -> str:
        if self._token_provider is None:
            self._token_provider = _google_token_provider(self.provider)
        return self._token_provider()

    def _call(self, request: HTTPRequest, what: str, seconds: float = 60) -> Any:
        return send(request, what=what, deadline=Deadline.after(seconds), transport=self.transport)

    def deploy(self, model_id: str, name: str, config: EndpointConfig) -> DeploymentRecord:
        stored = config.model_dump(exclude_none=True)
        if is_publisher_model(model_id):
            return DeploymentRecord(name=name, scope="", backend=self.kind, model_id=model_id, config=stored,
                                    endpoint=publisher_model(self.parent, model_id), resources={"mode": "publisher"})
        what = f"Vertex AI endpoint {name!r}"
        model = model_id if "/models/" in model_id else f"{self.parent}/models/{model_id}"
        operation = self._call(create_endpoint_request(self.base, self.parent, name, self._token()), what)
        endpoint = str(self._finish(operation, what)["name"])
        try:
            operation = self._call(deploy_model_request(self.base, endpoint, model, name, config, self._token()), what)
            deployed = self._finish(operation, what) if self.options.get("wait", True) else {}
        except Exception:
            self._quietly_delete(endpoint)
            raise
        deployed_id = str((deployed.get("deployedModel") or {}).get("id", ""))
        return DeploymentRecord(name=name, scope="", backend=self.kind, model_id=model_id, config=stored,
                                endpoint=endpoint, resources={"mode": "endpoint", "deployed_model_id": deployed_id})

    def _finish(self, operation: Mapping[str, Any], what: str) -> dict[str, Any]:
        """Poll a long-running operation until done; its ``response`` (or DeployError with its ``error``)."""
        deadline = time.monotonic() + float(self.options.get("deploy_timeout_s", 3600))
        while not operation.get("done"):
            if time.monotonic() > deadline:
                raise DeployError(f"{what}: operation {operation.get('name')} not done before the deploy timeout")
            time.sleep(float(self.options.get("poll_interval_s", 10)))
            operation = self._call(HTTPRequest("GET", f"{self.base}/{operation['name']}",
                                               headers=_auth(self._token())), what)
        if operation.get("error"):
            raise DeployError(f"{what}: {operation['error'].get('message', operation['error'])}")
        return dict(operation.get("response") or {})

    def generate(self, record: DeploymentRecord, prompt: str, max_tokens: int, deadline: Deadline,
                 options: Mapping[str, Any]) -> GenerationResult:
        what = f"Vertex AI deployment {record.name!r}"
        if record.resources.get("mode") == "publisher":
            request = generate_content_request(self.base, record.endpoint, prompt, max_tokens, options, self._token())
            return parse_generate_content(send(request, what=what, deadline=deadline, transport=self.transport), what)
        request = predict_request(self.base, record.endpoint, prompt, max_tokens, options, self._token())
        return parse_predict(send(request, what=what, deadline=deadline, transport=self.transport), what)

    def status(self, record: DeploymentRecord) -> str:
        if record.resources.get("mode") == "publisher":
            return "ready"
        try:
            data = self._call(HTTPRequest("GET", f"{self.base}/{record.endpoint}", headers=_auth(self._token())),
                              f"Vertex AI endpoint {record.name!r}", 10)
        except EndpointError as exc:
            return "missing" if "HTTP 404" in str(exc) else "unknown"
        return "ready" if data.get("deployedModels") else "creating"

    def delete(self, record: DeploymentRecord) -> None:
        """Undeploy the model (billing stops), then delete the endpoint; already gone is fine."""
        if record.resources.get("mode") == "publisher":
            return
        what = f"Vertex AI endpoint {record.name!r}"
        deployed = record.resources.get("deployed_model_id")
        try:
            if deployed:
                body = {"deployedModelId": deployed}
                self._finish(self._call(HTTPRequest("POST", f"{self.base}/{record.endpoint}:undeployModel", body,
                                                    headers=_auth(self._token())), what), what)
            self._finish(self._call(HTTPRequest("DELETE", f"{self.base}/{record.endpoint}",
                                                headers=_auth(self._token())), what), what)
        except EndpointError as exc:
            if "HTTP 404" not in str(exc):
                raise

    def _quietly_delete(self, endpoint: str) -> None:
        try:
            self._call(HTTPRequest("DELETE", f"{self.base}/{endpoint}", headers=_auth(self._token())), "cleanup")
        except Exception:  # best effort after a failed deploy; the deploy error is what the user sees
            return


def _google_token_provider(provider: CloudProvider) -> Callable[[], str]:
    """Tokens from google-auth: the provider's credentials file, else application default credentials."""
    try:
        import google.auth  # type: ignore[import-not-found,unused-ignore]
        from google.auth.transport.requests import Request  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise MissingDependencyError("google-auth", "gcp") from None
    path = getattr(provider, "credentials_file", None)
    if path:
        from google.oauth2 import service_account  # type: ignore[import-not-found,unused-ignore]

        credentials = service_account.Credentials.from_service_account_file(str(path), scopes=[SCOPE])
    else:
        credentials, _ = google.auth.default(scopes=[SCOPE])

    def token() -> str:
        if not credentials.valid:
            credentials.refresh(Request())
        return str(credentials.token)

    return token


BACKEND = VertexBackend
