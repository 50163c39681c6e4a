"""Seed 000's deployment objects: the snippets run as written, and render like a stack file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pepperpy.cloud.errors import NotSupportedError, SpecError


def test_advanced_configuration_snippet_runs_as_written() -> None:
    from pepperpy.cloud import (
        CloudConfig,
        CostOptimizationConfig,
        MonitoringConfig,
        NetworkConfig,
        SecurityConfig,
    )

    cloud_config = CloudConfig(
        network=NetworkConfig(
            vpc_id="vpc-12345",
            subnets=["subnet-1", "subnet-2"],
            security_groups=["sg-12345"],
            use_private_endpoints=True,
            enable_cdn=True,
            custom_domain="api.example.com",
            ssl_certificate_arn="arn:aws:acm:us-west-2:123456789012:certificate/abcdef"
        ),
        security=SecurityConfig(
            enable_encryption=True,
            encryption_key_arn="arn:aws:kms:us-west-2:123456789012:key/abcdef",
            iam_role="arn:aws:iam::123456789012:role/pepperpy-app-role",
            enable_waf=True,
            waf_rules=["AWSManagedRulesCommonRuleSet"],
            secrets_manager="aws_secrets_manager"
        ),
        monitoring=MonitoringConfig(
            enable_logging=True,
            log_retention_days=30,
            enable_tracing=True,
            tracing_provider="xray",
            metrics_namespace="PepperPy",
            create_dashboard=True,
            alert_notifications=["email:admin@example.com", "sns:arn:aws:sns:us-west-2:123456789012:alerts"]
        ),
        cost_optimization=CostOptimizationConfig(
            use_spot_instances=True,
            spot_instance_types=["t3.medium", "t3a.medium", "m5.large"],
            enable_auto_scaling=True,
            scale_to_zero=True,
            idle_timeout_minutes=30,
            reserved_instances=False,
            budget_alert_threshold=100,
            budget_alert_email="finance@example.com"
        )
    )

    from pepperpy.cloud import AWSProvider, CloudManager, DeploymentConfig

    provider = AWSProvider(region="us-west-2")
    cloud_manager = CloudManager(provider=provider, config=cloud_config)

    deployment = cloud_manager.create_deployment(
        name="pepperpy-advanced-app",
        config=DeploymentConfig(
            instance_type="t3.medium",
            memory="4Gi",
            cpu="2"
        )
    )
    stack = deployment.to_stack()
    assert stack.cloud.security.enable_waf and stack.region == "us-west-2"
    assert stack.services["app"].instance_for("aws") == "t3.medium"


def test_deployment_with_scaling_and_secrets_renders(tmp_path: Path) -> None:
    from pepperpy.cloud import AWSProvider, CloudDeployment, DeploymentConfig, ScalingConfig

    aws_provider = AWSProvider(region="us-west-2", credentials={"access_key_id": "AKIAEXAMPLE",
                                                                "secret_access_key": "very-secret"})
    deployment = CloudDeployment(
        provider=aws_provider,
        name="pepperpy-rag-app",
        config=DeploymentConfig(
            instance_type="t3.medium",
            memory="4Gi",
            cpu="2",
            min_replicas=1,
            max_replicas=5,
            environment_variables={
                "OPENAI_API_KEY": "${SECRET:openai-api-key}",
                "LOG_LEVEL": "INFO"
            }
        )
    )
    scaling_config = ScalingConfig(metric="cpu_utilization", target_value=70, cooldown_seconds=300)
    deployment.set_scaling_config(scaling_config)
    written = deployment.render("compose", tmp_path / "out", source_dir="./my-pepperpy-app")
    compose_file = next(p for p in written if p.name == "compose.yaml")
    doc = yaml.safe_load(compose_file.read_text())
    app = doc["services"]["app"]
    assert app["environment"] == {"LOG_LEVEL": "INFO", "OPENAI_API_KEY_FILE": "/run/secrets/openai-api-key"}
    assert app["build"] == {"context": "./my-pepperpy-app"}
    text = "".join(p.read_text() for p in written)
    assert "very-secret" not in text and "AKIAEXAMPLE" not in text
    assert deployment.to_stack().services["app"].scaling.target == 70  # type: ignore[union-attr]
    from pepperpy.cloud.providers.base import CloudProvider

    class NoDeployProvider(CloudProvider):
        name = "local"  # a provider name stacks accept; its empty capabilities_map deploys nothing
        display_name = "NoDeploy"

    # AWS, Azure and GCP deploy now (tests/providers/*/); a provider without deployments still refuses first.
    deployment.provider = NoDeployProvider()
    with pytest.raises(NotSupportedError, match="NoDeploy cannot deploy"):
        deployment.deploy(source_dir="./my-pepperpy-app", entry_point="app.py")


def test_bad_deployment_config_names_the_field() -> None:
    from pepperpy.cloud import DeploymentConfig, LocalProvider
    from pepperpy.cloud.deploy.deployment import CloudDeployment

    with pytest.raises(SpecError, match=r"DeploymentConfig: .*max_replicas \(1\) must be >= min_replicas \(3\)"):
        DeploymentConfig(min_replicas=3, max_replicas=1)
    dep = CloudDeployment(LocalProvider(), "Bad_Name!", DeploymentConfig())
    with pytest.raises(SpecError, match="name"):
        dep.to_stack()
