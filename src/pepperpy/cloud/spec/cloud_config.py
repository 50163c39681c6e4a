"""Seed 000's advanced configuration: network, security, monitoring and cost optimization."""

from __future__ import annotations

from pydantic import Field, field_validator

from pepperpy.cloud.spec.base import ConfigModel

_CHANNEL_PREFIXES = ("email:", "webhook:", "sns:", "slack:")


class NetworkConfig(ConfigModel):
    vpc_id: str | None = None
    subnets: list[str] = []
    security_groups: list[str] = []
    use_private_endpoints: bool = False
    enable_cdn: bool = False
    custom_domain: str | None = Field(
        None, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
    ssl_certificate_arn: str | None = None


class SecurityConfig(ConfigModel):
    enable_encryption: bool = True
    encryption_key_arn: str | None = None
    iam_role: str | None = None
    enable_waf: bool = False
    waf_rules: list[str] = []
    secrets_manager: str | None = None


class MonitoringConfig(ConfigModel):
    enable_logging: bool = True
    log_retention_days: int = Field(30, ge=1, le=3653)
    enable_tracing: bool = False
    tracing_provider: str | None = None
    metrics_namespace: str = "PepperPy"
    create_dashboard: bool = False
    alert_notifications: list[str] = []
    scrape_interval_seconds: float = Field(10, ge=0.5, le=3600)

    @field_validator("alert_notifications")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for channel in value:
            if not channel.startswith(_CHANNEL_PREFIXES) or channel.endswith(":"):
                raise ValueError(f"{channel!r} is not a channel; use email:ADDRESS, webhook:URL, "
                                 "sns:TOPIC_ARN or slack:URL")
        return value


class CostOptimizationConfig(ConfigModel):
    use_spot_instances: bool = False
    spot_instance_types: list[str] = []
    enable_auto_scaling: bool = True
    scale_to_zero: bool = False
    idle_timeout_minutes: float = Field(30, gt=0)
    reserved_instances: bool = False
    budget_alert_threshold: float | None = Field(None, gt=0)
    budget_alert_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CloudConfig(ConfigModel):
    network: NetworkConfig = NetworkConfig()
    security: SecurityConfig = SecurityConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    cost_optimization: CostOptimizationConfig = CostOptimizationConfig()
