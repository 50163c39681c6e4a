"""Opt-in live suite: real Azure OpenAI, Bedrock, SageMaker and Vertex AI endpoints.

Each test runs only when its credentials and the variables below are present, and is
skipped with the reason otherwise (these control planes have no emulator). They create
billable resources and delete them at the end, even on failure.

- Azure OpenAI: ``PEPPERPY_LIVE_AZURE_OPENAI_ACCOUNT``, ``AZURE_SUBSCRIPTION_ID``, ``AZURE_RESOURCE_GROUP``,
  azure-identity credentials; ``PEPPERPY_LIVE_AZURE_MODEL`` (gpt-4o-mini), ``PEPPERPY_LIVE_AZURE_MODEL_VERSION``.
- Bedrock: ``PEPPERPY_LIVE_BEDROCK_MODEL`` (an on-demand model id enabled in the account) + AWS credentials.
- SageMaker: ``PEPPERPY_LIVE_SAGEMAKER_ROLE_ARN``, ``PEPPERPY_LIVE_SAGEMAKER_IMAGE_URI``,
  ``PEPPERPY_LIVE_SAGEMAKER_MODEL`` (a Hub id), ``PEPPERPY_LIVE_SAGEMAKER_INSTANCE`` (ml.g5.xlarge) + AWS credentials.
- Vertex AI: ``PEPPERPY_LIVE_VERTEX_PROJECT`` + application default credentials; ``PEPPERPY_LIVE_VERTEX_MODEL``
  (gemini-2.0-flash).
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from typing import Any

import pytest

from pepperpy.cloud.ai.config import EndpointConfig


def _missing(*names: str) -> list[str]:
    return [n for n in names if not os.environ.get(n)]


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is absent
        return False


def _aws_credentials() -> bool:
    if not _has("boto3"):
        return False
    import boto3

    return boto3.session.Session().get_credentials() is not None


def _round_trip(service: Any, model_id: str, config: EndpointConfig) -> None:
    name = f"pp-live-{uuid.uuid4().hex[:8]}"
    try:
        deployment = service.deploy_model(model_id, name, config)
        result = deployment.generate("Reply with the single word OK.", max_tokens=16)
        assert result.text.strip()
        assert name in [d.name for d in service.list_deployments()]
    finally:
        try:
            service.delete_deployment(name)
        except Exception as exc:  # deploy may have failed before anything existed
            if "unknown model deployment" not in str(exc):
                raise
    assert name not in [d.name for d in service.list_deployments(refresh=False)]


@pytest.mark.skipif(bool(_missing("PEPPERPY_LIVE_AZURE_OPENAI_ACCOUNT", "AZURE_SUBSCRIPTION_ID",
                                  "AZURE_RESOURCE_GROUP")) or not _has("azure.identity"),
                    reason="live Azure OpenAI: set PEPPERPY_LIVE_AZURE_OPENAI_ACCOUNT, AZURE_SUBSCRIPTION_ID, "
                           "AZURE_RESOURCE_GROUP and install azure-identity (pepperpy-cloud[azure])")
def test_live_azure_openai() -> None:
    from pepperpy.cloud import AzureProvider, ManagedAIService

    service = ManagedAIService(AzureProvider(subscription_id=os.environ["AZURE_SUBSCRIPTION_ID"]),
                               account_name=os.environ["PEPPERPY_LIVE_AZURE_OPENAI_ACCOUNT"])
    _round_trip(service, os.environ.get("PEPPERPY_LIVE_AZURE_MODEL", "gpt-4o-mini"),
                EndpointConfig(capacity=1, model_version=os.environ.get("PEPPERPY_LIVE_AZURE_MODEL_VERSION")))


@pytest.mark.skipif(bool(_missing("PEPPERPY_LIVE_BEDROCK_MODEL")) or not _aws_credentials(),
                    reason="live Bedrock: set PEPPERPY_LIVE_BEDROCK_MODEL and AWS credentials (boto3 installed)")
def test_live_bedrock_on_demand() -> None:
    from pepperpy.cloud import AWSProvider, ManagedAIService

    service = ManagedAIService(AWSProvider(region=os.environ.get("AWS_REGION", "us-east-1")))
    _round_trip(service, os.environ["PEPPERPY_LIVE_BEDROCK_MODEL"], EndpointConfig(timeout_ms=60_000))


@pytest.mark.skipif(bool(_missing("PEPPERPY_LIVE_SAGEMAKER_ROLE_ARN", "PEPPERPY_LIVE_SAGEMAKER_IMAGE_URI",
                                  "PEPPERPY_LIVE_SAGEMAKER_MODEL")) or not _aws_credentials(),
                    reason="live SageMaker (a GPU endpoint, billed hourly): set PEPPERPY_LIVE_SAGEMAKER_ROLE_ARN, "
                           "PEPPERPY_LIVE_SAGEMAKER_IMAGE_URI, PEPPERPY_LIVE_SAGEMAKER_MODEL and AWS credentials")
def test_live_sagemaker_endpoint() -> None:
    from pepperpy.cloud import AWSProvider, ManagedAIService

    service = ManagedAIService(AWSProvider(region=os.environ.get("AWS_REGION", "us-east-1")),
                               sagemaker_role_arn=os.environ["PEPPERPY_LIVE_SAGEMAKER_ROLE_ARN"],
                               sagemaker_image_uri=os.environ["PEPPERPY_LIVE_SAGEMAKER_IMAGE_URI"])
    instance = os.environ.get("PEPPERPY_LIVE_SAGEMAKER_INSTANCE", "ml.g5.xlarge")
    _round_trip(service, os.environ["PEPPERPY_LIVE_SAGEMAKER_MODEL"],
                EndpointConfig(instance_type=instance, timeout_ms=120_000))


@pytest.mark.skipif(bool(_missing("PEPPERPY_LIVE_VERTEX_PROJECT")) or not _has("google.auth"),
                    reason="live Vertex AI: set PEPPERPY_LIVE_VERTEX_PROJECT, application default credentials, "
                           "and install google-auth (pepperpy-cloud[gcp])")
def test_live_vertex_gemini() -> None:
    from pepperpy.cloud import GCPProvider, ManagedAIService

    provider = GCPProvider(region=os.environ.get("PEPPERPY_LIVE_VERTEX_REGION", "us-central1"),
                           project=os.environ["PEPPERPY_LIVE_VERTEX_PROJECT"])
    _round_trip(ManagedAIService(provider), os.environ.get("PEPPERPY_LIVE_VERTEX_MODEL", "gemini-2.0-flash"),
                EndpointConfig(timeout_ms=60_000))
