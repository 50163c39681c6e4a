"""Vertex AI: the exact REST requests, and the endpoint lifecycle (long-running operations included)
against a recording stand-in on 127.0.0.1."""

from __future__ import annotations

import pytest

from pepperpy.cloud.ai.backends import vertex
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import InputError
from tests.ai.conftest import CloudFake

PARENT = "projects/pepperpy-demo/locations/us-central1"
ENDPOINT = f"{PARENT}/endpoints/4242"


def test_requests_are_exact() -> None:
    base = vertex.api_base("us-central1")
    assert base == "https://us-central1-aiplatform.googleapis.com/v1"
    gemini = vertex.publisher_model(PARENT, "gemini-2.0-flash")
    request = vertex.generate_content_request(base, gemini, "Explique RAG.", 500, {"temperature": 0.1,
                                                                                 "system": "Seja breve."}, "tok")
    assert request.url == f"{base}/{PARENT}/publishers/google/models/gemini-2.0-flash:generateContent"
    assert request.body == {"contents": [{"role": "user", "parts": [{"text": "Explique RAG."}]}],
                            "generationConfig": {"maxOutputTokens": 500, "temperature": 0.1},
                            "systemInstruction": {"parts": [{"text": "Seja breve."}]}}
    deploy = vertex.deploy_model_request(base, ENDPOINT, f"{PARENT}/models/77", "llama-vx",
                                         EndpointConfig(instance_type="g2-standard-8", instance_count=1,
                                                        max_instance_count=3), "tok")
    assert deploy.url == f"{base}/{ENDPOINT}:deployModel"
    assert deploy.body == {"deployedModel": {"model": f"{PARENT}/models/77", "displayName": "llama-vx",
                                             "dedicatedResources": {"machineSpec": {"machineType": "g2-standard-8"},
                                                                    "minReplicaCount": 1, "maxReplicaCount": 3}},
                           "trafficSplit": {"0": 100}}
    assert vertex.create_endpoint_request(base, PARENT, "llama-vx", "tok").body == {
        "displayName": "llama-vx", "labels": {"pepperpy-managed-ai": "llama-vx"}}
    predict = vertex.predict_request(base, ENDPOINT, "Oi", 32, {"temperature": 0}, "ya29.secret-token")
    assert predict.body == {"instances": [{"prompt": "Oi", "max_tokens": 32, "temperature": 0}]}
    assert predict.headers == {"Authorization": "Bearer ya29.secret-token"} and "ya29" not in repr(predict)
    with pytest.raises(InputError, match="system: not supported by Vertex AI endpoints"):
        vertex.predict_request(base, ENDPOINT, "Oi", 32, {"system": "x"}, "tok")


def test_answers_are_parsed() -> None:
    answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": "RAG "}, {"text": "ok"}]},
                              "finishReason": "STOP"}],
              "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6},
              "modelVersion": "gemini-2.0-flash-001"}
    result = vertex.parse_generate_content(answer, "v")
    assert (result.text, result.finish_reason, result.model) == ("RAG ok", "STOP", "gemini-2.0-flash-001")
    assert result.usage == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    assert vertex.parse_predict({"predictions": ["Prompt:\nOi\nOutput:\nolá"]}, "v").text.endswith("olá")


def test_endpoint_lifecycle(cloud_fake: CloudFake) -> None:
    from pepperpy.cloud import GCPProvider, ManagedAIService

    ops = f"/v1/{PARENT}/operations"
    cloud_fake.routes[("POST", f"/v1/{PARENT}/endpoints")] = [(200, {"name": f"{ops}/1", "done": True,
                                                                     "response": {"name": ENDPOINT}})]
    cloud_fake.routes[("POST", f"/v1/{ENDPOINT}:deployModel")] = [(200, {"name": f"{PARENT}/operations/2"})]
    cloud_fake.routes[("GET", f"/v1/{PARENT}/operations/2")] = [
        (200, {"name": f"{PARENT}/operations/2"}),
        (200, {"name": f"{PARENT}/operations/2", "done": True, "response": {"deployedModel": {"id": "dm-9"}}})]
    cloud_fake.routes[("POST", f"/v1/{ENDPOINT}:predict")] = [(200, {"predictions": ["RAG = busca + geração"]})]
    cloud_fake.routes[("GET", f"/v1/{ENDPOINT}")] = [(200, {"name": ENDPOINT, "deployedModels": [{"id": "dm-9"}]})]
    cloud_fake.routes[("POST", f"/v1/{ENDPOINT}:undeployModel")] = [(200, {"name": "op3", "done": True})]
    cloud_fake.routes[("DELETE", f"/v1/{ENDPOINT}")] = [(200, {"name": "op4", "done": True})]

    provider = GCPProvider(region="us-central1", project="pepperpy-demo", endpoint_url=cloud_fake.url)
    service = ManagedAIService(provider, token_provider=lambda: "gcp-token", poll_interval_s=0)
    deployment = service.deploy_model("77", "llama-vx", EndpointConfig(instance_type="g2-standard-8"))
    assert deployment.endpoint == ENDPOINT
    assert deployment.generate("Explique RAG.", max_tokens=64).text == "RAG = busca + geração"
    assert [(d.name, d.status) for d in service.list_deployments()] == [("llama-vx", "ready")]
    service.delete_deployment("llama-vx")
    assert [(m, p.split("?")[0]) for m, p, _h, _b in cloud_fake.calls] == [
        ("POST", f"/v1/{PARENT}/endpoints"), ("POST", f"/v1/{ENDPOINT}:deployModel"),
        ("GET", f"/v1/{PARENT}/operations/2"), ("GET", f"/v1/{PARENT}/operations/2"),
        ("POST", f"/v1/{ENDPOINT}:predict"), ("GET", f"/v1/{ENDPOINT}"),
        ("POST", f"/v1/{ENDPOINT}:undeployModel"), ("DELETE", f"/v1/{ENDPOINT}")]
    assert cloud_fake.calls[0][3]["displayName"] == "llama-vx"
    assert cloud_fake.calls[1][3]["deployedModel"]["model"] == f"{PARENT}/models/77"
    assert cloud_fake.calls[6][3] == {"deployedModelId": "dm-9"}
    assert all(h["authorization"] == "Bearer gcp-token" for _m, _p, h, _b in cloud_fake.calls)


def test_gemini_needs_no_deployment(cloud_fake: CloudFake) -> None:
    from pepperpy.cloud import GCPProvider, ManagedAIService

    model = f"/v1/{PARENT}/publishers/google/models/gemini-2.0-flash:generateContent"
    cloud_fake.routes[("POST", model)] = [(200, {"candidates": [{"content": {"parts": [{"text": "olá"}]},
                                                                 "finishReason": "STOP"}]})]
    service = ManagedAIService(GCPProvider(project="pepperpy-demo", endpoint_url=cloud_fake.url),
                               token_provider=lambda: "t")
    deployment = service.deploy_model("gemini-2.0-flash", "gemini")
    assert deployment.generate("oi", max_tokens=5).text == "olá"
    assert [c[0] for c in cloud_fake.calls] == ["POST"]
    service.delete_deployment("gemini")
    assert len(cloud_fake.calls) == 1
