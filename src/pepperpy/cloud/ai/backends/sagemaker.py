"""Amazon SageMaker real-time endpoints: a model, an endpoint config and an endpoint, all named after the deployment.

Options (``ManagedAIService(aws, sagemaker_role_arn=..., ...)`` or the provider's options):
``sagemaker_role_arn`` (execution role, required), ``sagemaker_image_uri`` (serving container,
required; e.g. the Hugging Face TGI or LMI image of your region), ``sagemaker_model_data_url``
(S3 model artefacts; absent = the container downloads ``model_id`` from the Hugging Face Hub via
``HF_MODEL_ID``), ``sagemaker_environment`` (extra container variables), ``wait`` (default True:
return once the endpoint is InService), ``poll_interval_s`` (15), ``deploy_timeout_s`` (1800).

Invocation speaks the TGI/LMI JSON contract (``{"inputs", "parameters": {"max_new_tokens"}}``),
and also reads OpenAI-style answers from containers that use the messages API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from pepperpy.cloud.ai.backends import aws_clients
from pepperpy.cloud.ai.backends.base import Deadline, DeploymentRecord, EndpointError, GenerationResult
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import DeployError, InputError
from pepperpy.cloud.providers.base import CloudProvider

TAG_KEY = "pepperpy:managed-ai"
PARAMS = {"temperature": "temperature", "top_p": "top_p", "stop": "stop", "seed": "seed"}
STATUS = {"InService": "ready", "Creating": "creating", "Updating": "updating", "SystemUpdating": "updating",
          "RollingBack": "updating", "Deleting": "deleting", "Failed": "failed", "OutOfService": "failed",
          "UpdateRollbackFailed": "failed"}


def tags(name: str) -> list[dict[str, str]]:
    return [{"Key": TAG_KEY, "Value": name}]


def create_model_request(name: str, model_id: str, role_arn: str, image_uri: str, *,
                         model_data_url: str | None = None,
                         environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``sagemaker.create_model`` arguments: one container; ``HF_MODEL_ID`` tells TGI/LMI what to load."""
    container: dict[str, Any] = {"Image": image_uri, "Environment": {"HF_MODEL_ID": model_id, **(environment or {})}}
    if model_data_url:
        container["ModelDataUrl"] = model_data_url
    return {"ModelName": name, "ExecutionRoleArn": role_arn, "PrimaryContainer": container, "Tags": tags(name)}


def create_endpoint_config_request(name: str, config: EndpointConfig) -> dict[str, Any]:
    """``sagemaker.create_endpoint_config`` arguments: one variant with all the traffic."""
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": config.instance_type,
               "InitialInstanceCount": config.instance_count, "InitialVariantWeight": 1.0}
    return {"EndpointConfigName": name, "ProductionVariants": [variant], "Tags": tags(name)}


def create_endpoint_request(name: str) -> dict[str, Any]:
    return {"EndpointName": name, "EndpointConfigName": name, "Tags": tags(name)}


def invoke_request(name: str, prompt: str, max_tokens: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """``sagemaker-runtime.invoke_endpoint`` arguments in the TGI/LMI JSON contract."""
    unknown = sorted(set(options) - set(PARAMS))
    if unknown:
        raise InputError(unknown[0], f"not supported by SageMaker endpoints; allowed: {', '.join(PARAMS)}")
    parameters: dict[str, Any] = {"max_new_tokens": max_tokens, "return_full_text": False}
    parameters.update({PARAMS[k]: v for k, v in options.items() if v is not None})
    if isinstance(parameters.get("stop"), str):
        parameters["stop"] = [parameters["stop"]]
    body = json.dumps({"inputs": prompt, "parameters": parameters})
    return {"EndpointName": name, "ContentType": "application/json", "Accept": "application/json", "Body": body}


def parse_invoke(payload: bytes, what: str) -> GenerationResult:
    """Text from TGI (``[{"generated_text"}]``), LMI (``{"generated_text"}``) or OpenAI-style answers."""
    try:
        data = json.loads(payload)
    except ValueError:
        raise EndpointError(f"{what} answered with a body that is not JSON") from None
    item = data[0] if isinstance(data, list) and data else data
    if isinstance(item, dict) and "generated_text" in item:
        details = item.get("details") or {}
        usage = {"completion_tokens": int(details["generated_tokens"])} if "generated_tokens" in details else {}
        return GenerationResult(text=str(item["generated_text"]), usage=usage,
                                finish_reason=details.get("finish_reason"))
    if isinstance(item, dict) and "choices" in item:
        from pepperpy.cloud.ai.backends.openai_compat import parse_chat

        return parse_chat(item, what)
    raise EndpointError(f"{what} answered JSON without generated_text",
                        hint="the serving container must speak the TGI/LMI or OpenAI JSON contract")


class SageMakerBackend:
    kind = "sagemaker"

    def __init__(self, provider: CloudProvider, options: Mapping[str, Any]) -> None:
        self.provider = provider
        self.options = {**provider.options, **options}

    def _option(self, key: str) -> Any:
        value = self.options.get(key)
        if not value:
            raise InputError(key, "SageMaker endpoints need it",
                             hint=f"pass ManagedAIService(provider, {key}=...)")
        return value

    def _control(self) -> Any:
        return aws_clients.client(self.provider, "sagemaker", self.options)

    def deploy(self, model_id: str, name: str, config: EndpointConfig) -> DeploymentRecord:
        if not config.instance_type or not config.instance_type.startswith("ml."):
            raise InputError("instance_type", f"SageMaker needs an ml.* instance type, not {config.instance_type!r}",
                             hint="e.g. EndpointConfig(instance_type='ml.g5.xlarge')")
        requests = [("create_model", create_model_request(
                        name, model_id, self._option("sagemaker_role_arn"), self._option("sagemaker_image_uri"),
                        model_data_url=self.options.get("sagemaker_model_data_url"),
                        environment=self.options.get("sagemaker_environment"))),
                    ("create_endpoint_config", create_endpoint_config_request(name, config)),
                    ("create_endpoint", create_endpoint_request(name))]
        sm = self._control()
        undo: list[Callable[[], Any]] = []
        try:
            for operation, kwargs in requests:
                response = getattr(sm, operation)(**kwargs)
                undo.append(self._undo(sm, operation, name))
            if self.options.get("wait", True):
                self._wait(sm, name)
        except Exception as exc:
            for step in reversed(undo):
                _quietly(step)
            error = aws_clients.translate(exc, f"SageMaker endpoint {name!r}", config.timeout_s)
            raise error from None
        stored = config.model_dump(exclude_none=True)
        return DeploymentRecord(name=name, scope="", backend=self.kind, model_id=model_id, config=stored,
                                endpoint=str(response.get("EndpointArn", name)),
                                resources={"model": name, "endpoint_config": name, "endpoint": name})

    @staticmethod
    def _undo(sm: Any, operation: str, name: str) -> Callable[[], Any]:
        delete = {"create_model": lambda: sm.delete_model(ModelName=name),
                  "create_endpoint_config": lambda: sm.delete_endpoint_config(EndpointConfigName=name),
                  "create_endpoint": lambda: sm.delete_endpoint(EndpointName=name)}
        return delete[operation]

    def _wait(self, sm: Any, name: str) -> None:
        deadline = time.monotonic() + float(self.options.get("deploy_timeout_s", 1800))
        while True:
            described = sm.describe_endpoint(EndpointName=name)
            state = described["EndpointStatus"]
            if state == "InService":
                return
            if STATUS.get(state) == "failed":
                raise DeployError(f"SageMaker endpoint {name!r} is {state}: {described.get('FailureReason', '')}")
            if time.monotonic() > deadline:
                raise DeployError(f"SageMaker endpoint {name!r} still {state} after the deploy timeout",
                                  hint="raise deploy_timeout_s or pass wait=False and poll list_deployments()")
            time.sleep(float(self.options.get("poll_interval_s", 15)))

    def generate(self, record: DeploymentRecord, prompt: str, max_tokens: int, deadline: Deadline,
                 options: Mapping[str, Any]) -> GenerationResult:
        what = f"SageMaker endpoint {record.name!r}"
        request = invoke_request(record.resources.get("endpoint", record.name), prompt, max_tokens, options)
        runtime = aws_clients.client(self.provider, "sagemaker-runtime", self.options,
                                     timeout_s=deadline.left(what))
        try:
            response = runtime.invoke_endpoint(**request)
            payload = response["Body"].read()
        except Exception as exc:
            raise aws_clients.translate(exc, what, deadline.seconds) from None
        return parse_invoke(payload, what)

    def status(self, record: DeploymentRecord) -> str:
        try:
            described = self._control().describe_endpoint(EndpointName=record.resources.get("endpoint", record.name))
        except Exception as exc:
            return "missing" if aws_clients.error_code(exc) == "ValidationException" else "unknown"
        return STATUS.get(described["EndpointStatus"], described["EndpointStatus"].lower())

    def delete(self, record: DeploymentRecord) -> None:
        """Endpoint, then its config, then the model; ones already gone are fine."""
        sm = self._control()
        names = record.resources
        for operation, kwargs in (("delete_endpoint", {"EndpointName": names.get("endpoint", record.name)}),
                                  ("delete_endpoint_config", {"EndpointConfigName": names.get("endpoint_config",
                                                                                              record.name)}),
                                  ("delete_model", {"ModelName": names.get("model", record.name)})):
            try:
                getattr(sm, operation)(**kwargs)
            except Exception as exc:
                if aws_clients.error_code(exc) != "ValidationException":  # SageMaker's "could not find"
                    raise aws_clients.translate(exc, f"SageMaker {operation}", 60) from None


def _quietly(step: Callable[[], Any]) -> None:
    try:
        step()
    except Exception:  # rollback of a failed deploy: best effort, the original error is what matters
        return


BACKEND = SageMakerBackend
