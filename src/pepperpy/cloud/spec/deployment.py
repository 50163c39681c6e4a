"""Seed 000's ``DeploymentConfig`` and ``ScalingConfig``: the Python side of a stack's service."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pepperpy.cloud.spec.base import ConfigModel
from pepperpy.cloud.spec.secrets import check_env

ScalingMetric = Literal["cpu_utilization", "memory_utilization", "requests_per_second", "response_time"]


class ScalingConfig(ConfigModel):
    """``ScalingConfig(metric="cpu_utilization", target_value=70, cooldown_seconds=300)``."""

    metric: ScalingMetric = "cpu_utilization"
    target_value: float = Field(70, gt=0)
    cooldown_seconds: int = Field(300, ge=0)


class DeploymentConfig(ConfigModel):
    """How one app runs: size, replicas, environment (with ``${SECRET:name}`` references), probes."""

    instance_type: str | None = None
    memory: str = "2Gi"
    cpu: str = "1"
    gpu_type: str | None = None
    gpu_count: int = Field(0, ge=0)
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    environment_variables: dict[str, str] = {}
    health_check_path: str = "/health"
    readiness_probe_path: str = "/ready"
    port: int = Field(8000, ge=1, le=65535)
    image: str | None = None
    disk: str | None = None

    @field_validator("environment_variables")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        return check_env(value)

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _ordered(self) -> DeploymentConfig:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        return self
