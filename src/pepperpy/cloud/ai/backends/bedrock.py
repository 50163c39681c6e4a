"""Amazon Bedrock: foundation models on demand (nothing to create), or provisioned throughput.

``EndpointConfig(capacity=N)`` buys N model units of provisioned throughput
(``CreateProvisionedModelThroughput``, billed hourly until deleted); without it the
deployment is a named handle on the on-demand model, checked to exist. Invocation
uses the Converse API, which takes the same request for every model family.
Options: ``wait`` (True), ``poll_interval_s`` (15), ``deploy_timeout_s`` (1800).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.ai.backends import aws_clients
from pepperpy.cloud.ai.backends.base import Deadline, DeploymentRecord, EndpointError, GenerationResult
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import DeployError, InputError
from pepperpy.cloud.providers.base import CloudProvider

VENDORS = ("amazon", "anthropic", "ai21", "cohere", "meta", "mistral", "stability", "deepseek", "writer",
           "luma", "twelvelabs", "openai", "qwen")
GEO = ("us", "eu", "apac", "us-gov", "global", "jp", "au", "ca")
MODEL_ID = re.compile(rf"^(?:(?:{'|'.join(GEO)})\.)?(?:{'|'.join(VENDORS)})\.[A-Za-z0-9._:-]+$")
PARAMS = {"temperature": "temperature", "top_p": "topP", "stop": "stopSequences"}
STATUS = {"InService": "ready", "Creating": "creating", "Updating": "updating", "Failed": "failed"}
TAG_KEY = "pepperpy:managed-ai"


def is_bedrock_model(model_id: str) -> bool:
    """Bedrock model ids (``anthropic.claude-3-haiku-20240307-v1:0``), inference profiles (``us.…``), ARNs."""
    return bool(MODEL_ID.match(model_id)) or model_id.startswith("arn:aws:bedrock:")


def converse_request(model_id: str, prompt: str, max_tokens: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """``bedrock-runtime.converse`` arguments: one user turn, ``system`` as a system block."""
    unknown = sorted(set(options) - {*PARAMS, "system"})
    if unknown:
        raise InputError(unknown[0], f"not supported by Bedrock Converse; allowed: {', '.join([*PARAMS, 'system'])}")
    inference: dict[str, Any] = {"maxTokens": max_tokens}
    inference.update({PARAMS[k]: v for k, v in options.items() if k in PARAMS and v is not None})
    if isinstance(inference.get("stopSequences"), str):
        inference["stopSequences"] = [inference["stopSequences"]]
    request: dict[str, Any] = {"modelId": model_id,
                               "messages": [{"role": "user", "content": [{"text": prompt}]}],
                               "inferenceConfig": inference}
    if options.get("system"):
        request["system"] = [{"text": str(options["system"])}]
    return request


def parse_converse(response: Mapping[str, Any], what: str) -> GenerationResult:
    try:
        blocks = response["output"]["message"]["content"]
    except (KeyError, TypeError):
        raise EndpointError(f"{what} answered without output.message") from None
    usage = response.get("usage") or {}
    names = {"inputTokens": "prompt_tokens", "outputTokens": "completion_tokens", "totalTokens": "total_tokens"}
    return GenerationResult(text="".join(str(b.get("text", "")) for b in blocks if isinstance(b, dict)),
                            usage={ours: int(usage[theirs]) for theirs, ours in names.items() if theirs in usage},
                            finish_reason=response.get("stopReason"))


def provisioned_throughput_request(name: str, model_id: str, model_units: int) -> dict[str, Any]:
    """``bedrock.create_provisioned_model_throughput`` arguments (no commitment: hourly, deletable)."""
    return {"modelUnits": model_units, "provisionedModelName": name, "modelId": model_id,
            "tags": [{"key": TAG_KEY, "value": name}]}


def check_model_request(model_id: str) -> tuple[str, dict[str, str]]:
    """The control-plane call proving an on-demand model (or inference profile) exists here."""
    profile_arn = model_id.startswith("arn:aws:bedrock:") and ":inference-profile/" in model_id
    if model_id.split(".", 1)[0] in GEO or profile_arn:
        return "get_inference_profile", {"inferenceProfileIdentifier": model_id}
    return "get_foundation_model", {"modelIdentifier": model_id}


class BedrockBackend:
    kind = "bedrock"

    def __init__(self, provider: CloudProvider, options: Mapping[str, Any]) -> None:
        self.provider = provider
        self.options = {**provider.options, **options}

    def _control(self) -> Any:
        return aws_clients.client(self.provider, "bedrock", self.options)

    def deploy(self, model_id: str, name: str, config: EndpointConfig) -> DeploymentRecord:
        stored = config.model_dump(exclude_none=True)
        what = f"Bedrock model {model_id!r}"
        bedrock = self._control()
        try:
            if config.capacity is None:
                operation, kwargs = check_model_request(model_id)
                getattr(bedrock, operation)(**kwargs)
                return DeploymentRecord(name=name, scope="", backend=self.kind, model_id=model_id, config=stored,
                                        endpoint=model_id, resources={"mode": "on-demand"})
            arn = bedrock.create_provisioned_model_throughput(
                **provisioned_throughput_request(name, model_id, config.capacity))["provisionedModelArn"]
        except Exception as exc:
            raise aws_clients.translate(exc, what, config.timeout_s) from None
        if self.options.get("wait", True):
            self._wait(bedrock, name, arn)
        return DeploymentRecord(name=name, scope="", backend=self.kind, model_id=model_id, config=stored,
                                endpoint=arn, resources={"mode": "provisioned", "provisioned_model_arn": arn})

    def _wait(self, bedrock: Any, name: str, arn: str) -> None:
        deadline = time.monotonic() + float(self.options.get("deploy_timeout_s", 1800))
        while (state := bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["status"]) != "InService":
            if state == "Failed" or time.monotonic() > deadline:
                raise DeployError(f"Bedrock provisioned throughput {name!r} is {state}",
                                  hint=f"delete it with ManagedAIService.delete_deployment({name!r}) if unused; "
                                       "it is billed hourly while it exists")
            time.sleep(float(self.options.get("poll_interval_s", 15)))

    def generate(self, record: DeploymentRecord, prompt: str, max_tokens: int, deadline: Deadline,
                 options: Mapping[str, Any]) -> GenerationResult:
        what = f"Bedrock deployment {record.name!r}"
        request = converse_request(record.endpoint, prompt, max_tokens, options)
        runtime = aws_clients.client(self.provider, "bedrock-runtime", self.options,
                                     timeout_s=deadline.left(what))
        try:
            response = runtime.converse(**request)
        except Exception as exc:
            raise aws_clients.translate(exc, what, deadline.seconds) from None
        result = parse_converse(response, what)
        result.model = record.model_id
        return result

    def status(self, record: DeploymentRecord) -> str:
        arn = record.resources.get("provisioned_model_arn")
        if not arn:
            return "ready"
        try:
            state = self._control().get_provisioned_model_throughput(provisionedModelId=arn)["status"]
        except Exception as exc:
            return "missing" if aws_clients.error_code(exc) == "ResourceNotFoundException" else "unknown"
        return STATUS.get(state, str(state).lower())

    def delete(self, record: DeploymentRecord) -> None:
        arn = record.resources.get("provisioned_model_arn")
        if not arn:
            return
        try:
            self._control().delete_provisioned_model_throughput(provisionedModelId=arn)
        except Exception as exc:
            if aws_clients.error_code(exc) != "ResourceNotFoundException":
                raise aws_clients.translate(exc, f"Bedrock deployment {record.name!r}", 60) from None


BACKEND = BedrockBackend
