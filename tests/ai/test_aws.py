"""Bedrock and SageMaker: the exact requests (validated against botocore's service models) and the
SageMaker control plane + runtime against a moto server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("boto3", reason="boto3 is the aws extra: pip install 'pepperpy-cloud[aws]'")

from pepperpy.cloud.ai.backends import aws_clients, bedrock, sagemaker
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import InputError

ROLE = "arn:aws:iam::123456789012:role/sagemaker-exec"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.4.0-tgi2.4.0-gpu-py311-cu124-ubuntu22.04"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"


def _client(service: str) -> Any:
    import boto3

    return boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                 aws_secret_access_key="testing").client(service)


def _validated(service: str, operation: str, params: dict[str, Any], response: dict[str, Any]) -> Any:
    """Call ``operation`` through a Stubber: botocore validates ``params`` against the real API model."""
    from botocore.stub import Stubber

    client = _client(service)
    with Stubber(client) as stub:
        stub.add_response(operation, response, expected_params=params)
        return getattr(client, operation)(**params)


# ---------------------------------------------------------------- pure request builders


def test_sagemaker_requests_are_exact_and_valid() -> None:
    config = EndpointConfig(instance_type="ml.g5.xlarge", instance_count=2)
    model = sagemaker.create_model_request("llama", "meta-llama/Llama-3.2-1B-Instruct", ROLE, IMAGE,
                                           environment={"SM_NUM_GPUS": "1"})
    assert model == {"ModelName": "llama", "ExecutionRoleArn": ROLE,
                     "PrimaryContainer": {"Image": IMAGE, "Environment": {"HF_MODEL_ID": "meta-llama/Llama-3.2-1B-Instruct",
                                                                          "SM_NUM_GPUS": "1"}},
                     "Tags": [{"Key": "pepperpy:managed-ai", "Value": "llama"}]}
    endpoint_config = sagemaker.create_endpoint_config_request("llama", config)
    assert endpoint_config["ProductionVariants"] == [{"VariantName": "AllTraffic", "ModelName": "llama",
                                                      "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 2,
                                                      "InitialVariantWeight": 1.0}]
    invoke = sagemaker.invoke_request("llama", "Hi", 64, {"temperature": 0.2, "stop": "\n"})
    assert json.loads(invoke.pop("Body")) == {"inputs": "Hi", "parameters": {"max_new_tokens": 64, "return_full_text": False,
                                                                            "temperature": 0.2, "stop": ["\n"]}}
    assert invoke == {"EndpointName": "llama", "ContentType": "application/json", "Accept": "application/json"}
    arn = "arn:aws:sagemaker:us-east-1:123456789012:"
    _validated("sagemaker", "create_model", model, {"ModelArn": arn + "model/llama"})
    _validated("sagemaker", "create_endpoint_config", endpoint_config, {"EndpointConfigArn": arn + "endpoint-config/llama"})
    _validated("sagemaker", "create_endpoint", sagemaker.create_endpoint_request("llama"), {"EndpointArn": arn + "endpoint/llama"})
    with pytest.raises(InputError, match="system: not supported by SageMaker"):
        sagemaker.invoke_request("llama", "Hi", 8, {"system": "x"})


def test_sagemaker_answers_are_parsed() -> None:
    assert sagemaker.parse_invoke(b'[{"generated_text": "RAG retrieves."}]', "e").text == "RAG retrieves."
    detailed = sagemaker.parse_invoke(json.dumps({"generated_text": "x", "details": {"generated_tokens": 3,
                                                                                     "finish_reason": "length"}}).encode(), "e")
    assert (detailed.usage, detailed.finish_reason) == ({"completion_tokens": 3}, "length")
    chat = {"choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}], "usage": {"total_tokens": 4}}
    assert sagemaker.parse_invoke(json.dumps(chat).encode(), "e").text == "hello"
    with pytest.raises(Exception, match="e answered JSON without generated_text"):
        sagemaker.parse_invoke(b'{"outputs": 1}', "e")


def test_bedrock_requests_are_exact_and_valid() -> None:
    converse = bedrock.converse_request(CLAUDE, "Explique RAG.", 500, {"temperature": 0, "system": "Be brief."})
    assert converse == {"modelId": CLAUDE, "messages": [{"role": "user", "content": [{"text": "Explique RAG."}]}],
                        "inferenceConfig": {"maxTokens": 500, "temperature": 0}, "system": [{"text": "Be brief."}]}
    answer = {"output": {"message": {"role": "assistant", "content": [{"text": "RAG = "}, {"text": "retrieve + generate"}]}},
              "stopReason": "end_turn", "usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17},
              "metrics": {"latencyMs": 120}}
    result = bedrock.parse_converse(_validated("bedrock-runtime", "converse", converse, answer), "b")
    assert (result.text, result.finish_reason) == ("RAG = retrieve + generate", "end_turn")
    assert result.usage == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}

    provisioned = bedrock.provisioned_throughput_request("claude-pt", CLAUDE, 1)
    assert provisioned == {"modelUnits": 1, "provisionedModelName": "claude-pt", "modelId": CLAUDE,
                           "tags": [{"key": "pepperpy:managed-ai", "value": "claude-pt"}]}
    _validated("bedrock", "create_provisioned_model_throughput", provisioned,
               {"provisionedModelArn": "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc"})
    assert bedrock.check_model_request(CLAUDE) == ("get_foundation_model", {"modelIdentifier": CLAUDE})
    assert bedrock.check_model_request("us." + CLAUDE)[0] == "get_inference_profile"
    with pytest.raises(InputError, match="top_k: not supported by Bedrock Converse"):
        bedrock.converse_request(CLAUDE, "x", 5, {"top_k": 3})


@pytest.mark.parametrize(("model_id", "expected"), [
    (CLAUDE, True), ("us.meta.llama3-2-1b-instruct-v1:0", True), ("amazon.titan-text-express-v1", True),
    ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc", True),
    ("gpt-4", False), ("gpt-3.5-turbo", False), ("meta-llama/Llama-3.2-1B-Instruct", False)])
def test_aws_backend_is_chosen_by_model_id(model_id: str, expected: bool) -> None:
    assert bedrock.is_bedrock_model(model_id) is expected


# ---------------------------------------------------------------- Bedrock through the service, stubbed


def test_bedrock_on_demand_and_provisioned_through_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.stub import Stubber

    from pepperpy.cloud import AWSProvider, ManagedAIService

    control, runtime = _client("bedrock"), _client("bedrock-runtime")
    monkeypatch.setattr(aws_clients, "client", lambda provider, service, options, timeout_s=None:
                        runtime if service == "bedrock-runtime" else control)
    arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/pt1"
    with Stubber(control) as cstub, Stubber(runtime) as rstub:
        cstub.add_response("get_foundation_model", {"modelDetails": {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/x",
                                                                     "modelId": CLAUDE}}, {"modelIdentifier": CLAUDE})
        rstub.add_response("converse", {"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
                                        "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1,
                                                                            "totalTokens": 2}, "metrics": {"latencyMs": 1}},
                           bedrock.converse_request(CLAUDE, "hi", 50, {}))
        cstub.add_response("create_provisioned_model_throughput", {"provisionedModelArn": arn},
                           bedrock.provisioned_throughput_request("claude-pt", CLAUDE, 2))
        cstub.add_response("get_provisioned_model_throughput", _pt(arn, "Creating"), {"provisionedModelId": arn})
        cstub.add_response("get_provisioned_model_throughput", _pt(arn, "InService"), {"provisionedModelId": arn})
        cstub.add_response("get_provisioned_model_throughput", _pt(arn, "InService"), {"provisionedModelId": arn})
        cstub.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": arn})

        service = ManagedAIService(AWSProvider(region="us-east-1"), poll_interval_s=0)
        on_demand = service.deploy_model(CLAUDE, "claude", EndpointConfig(timeout_ms=5000))
        assert (on_demand.backend, on_demand.endpoint) == ("bedrock", CLAUDE)
        assert on_demand.generate("hi", max_tokens=50).text == "ok"
        provisioned = service.deploy_model(CLAUDE, "claude-pt", EndpointConfig(capacity=2))
        assert provisioned.endpoint == arn
        assert [(d.name, d.status) for d in service.list_deployments()] == [("claude", "ready"), ("claude-pt", "ready")]
        service.delete_deployment("claude")
        service.delete_deployment("claude-pt")
        assert service.list_deployments() == []
        cstub.assert_no_pending_responses()
        rstub.assert_no_pending_responses()


def _pt(arn: str, status: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return {"modelUnits": 2, "desiredModelUnits": 2, "provisionedModelName": "claude-pt", "provisionedModelArn": arn,
            "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/x",
            "desiredModelArn": "arn:aws:bedrock:us-east-1::foundation-model/x",
            "foundationModelArn": "arn:aws:bedrock:us-east-1::foundation-model/x", "status": status,
            "creationTime": now, "lastModifiedTime": now}


# ---------------------------------------------------------------- SageMaker against moto


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    pytest.importorskip("moto.server", reason="moto[server] runs the SageMaker control plane locally")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _moto_results(url: str, bodies: list[Any]) -> None:
    import httpx

    results = [{"Body": json.dumps(b), "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic",
                "CustomAttributes": ""} for b in bodies]
    httpx.post(f"{url}/moto-api/static/sagemaker/endpoint-results", json={"results": results}).raise_for_status()


def test_sagemaker_endpoint_lifecycle_on_moto(moto_url: str) -> None:
    from pepperpy.cloud import AWSProvider, ManagedAIService

    provider = AWSProvider(region="us-east-1", credentials={"access_key_id": "testing", "secret_access_key": "testing"},
                           endpoint_url=moto_url)
    service = ManagedAIService(provider, sagemaker_role_arn=ROLE, sagemaker_image_uri=IMAGE, poll_interval_s=0)
    config = EndpointConfig(instance_type="ml.g4dn.xlarge", instance_count=1, timeout_ms=10_000,
                            max_concurrent_requests=4)
    deployment = service.deploy_model("meta-llama/Llama-3.2-1B-Instruct", "llama-sm", config)
    assert deployment.backend == "sagemaker" and deployment.endpoint.endswith(":endpoint/llama-sm")

    sm = aws_clients.client(provider, "sagemaker", {})
    container = sm.describe_model(ModelName="llama-sm")["PrimaryContainer"]
    assert container["Environment"] == {"HF_MODEL_ID": "meta-llama/Llama-3.2-1B-Instruct"} and container["Image"] == IMAGE
    variant = sm.describe_endpoint_config(EndpointConfigName="llama-sm")["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.g4dn.xlarge", 1)

    _moto_results(moto_url, [[{"generated_text": "RAG busca e depois gera."}]])
    assert deployment.generate("Explique RAG.", max_tokens=32).text == "RAG busca e depois gera."
    assert [(d.name, d.status) for d in service.list_deployments()] == [("llama-sm", "ready")]

    service.delete_deployment("llama-sm")
    assert service.list_deployments() == []
    for call in (lambda: sm.describe_endpoint(EndpointName="llama-sm"), lambda: sm.describe_model(ModelName="llama-sm")):
        with pytest.raises(Exception, match="Could not find"):
            call()

    with pytest.raises(InputError, match="instance_type: SageMaker needs an ml.\\* instance type"):
        service.deploy_model("meta-llama/Llama-3.2-1B-Instruct", "x", EndpointConfig(instance_type="Standard_DS3_v2"))
    with pytest.raises(InputError, match="sagemaker_role_arn: SageMaker endpoints need it"):
        ManagedAIService(provider).deploy_model("org/model", "x", config)


def test_sagemaker_failed_deploy_leaves_nothing_behind(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """CreateEndpoint refused (here: an injected quota error) → the model and endpoint config are deleted again."""
    from botocore.exceptions import ClientError

    from pepperpy.cloud import AWSProvider, ManagedAIService
    from pepperpy.cloud.ai.backends.base import EndpointError

    provider = AWSProvider(region="us-east-1", credentials={"access_key_id": "testing", "secret_access_key": "testing"},
                           endpoint_url=moto_url)
    sm = aws_clients.client(provider, "sagemaker", {})

    class QuotaExceeded:
        def __getattr__(self, name: str) -> Any:
            return getattr(sm, name)

        def create_endpoint(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "ResourceLimitExceeded", "Message": "account-level service limit "
                                                                                    "'ml.g4dn.xlarge for endpoint usage' is 0"}},
                              "CreateEndpoint")

    monkeypatch.setattr(aws_clients, "client", lambda *a, **k: QuotaExceeded())
    service = ManagedAIService(provider, sagemaker_role_arn=ROLE, sagemaker_image_uri=IMAGE, poll_interval_s=0)
    with pytest.raises(EndpointError, match="SageMaker endpoint 'quota': ResourceLimitExceeded: account-level"):
        service.deploy_model("org/m", "quota", EndpointConfig(instance_type="ml.g4dn.xlarge"))
    assert service.list_deployments() == []
    with pytest.raises(Exception, match="Could not find"):
        sm.describe_model(ModelName="quota")
    with pytest.raises(Exception, match="Could not find"):
        sm.describe_endpoint_config(EndpointConfigName="quota")
