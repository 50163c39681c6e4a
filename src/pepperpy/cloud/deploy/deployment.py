"""``CloudDeployment`` and ``CloudManager`` (seed 000).

A deployment is a named ``DeploymentConfig`` on a provider. It becomes a one-service
:class:`~pepperpy.cloud.spec.stack.Stack`, so everything a stack file can do (render,
estimate) works from Python too. Running it (``deploy``) is the provider's job and is
refused with the reason where the provider cannot do it yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pepperpy.cloud.providers.base import CloudProvider
from pepperpy.cloud.spec.cloud_config import CloudConfig
from pepperpy.cloud.spec.deployment import DeploymentConfig, ScalingConfig
from pepperpy.cloud.spec.loader import validate
from pepperpy.cloud.spec.stack import Stack

CLOUDS = ("aws", "azure", "gcp")


class CloudDeployment:
    """``CloudDeployment(provider=..., name=..., config=DeploymentConfig(...))``."""

    def __init__(self, provider: CloudProvider, name: str, config: DeploymentConfig, *,
                 cloud_config: CloudConfig | None = None, scaling: ScalingConfig | None = None) -> None:
        self.provider = provider
        self.name = name
        self.config = config
        self.cloud_config = cloud_config or CloudConfig()
        self.scaling = scaling

    def set_scaling_config(self, scaling_config: ScalingConfig) -> None:
        self.scaling = scaling_config

    def to_stack(self, *, source_dir: str | None = None, entry_point: str | None = None,
                 requirements_file: str | None = None,
                 additional_files: Sequence[str] = ()) -> Stack:
        """The stack this deployment stands for (validated like a stack file)."""
        cfg = self.config
        service: dict[str, Any] = {
            "cpu": cfg.cpu, "memory": cfg.memory, "port": cfg.port,
            "replicas": {"min": cfg.min_replicas, "max": cfg.max_replicas},
            "env": dict(cfg.environment_variables),
            "health_path": cfg.health_check_path, "readiness_path": cfg.readiness_probe_path,
            "additional_files": list(additional_files),
        }
        if cfg.image and not source_dir:
            service["image"] = cfg.image
        else:
            service.update(source=source_dir or ".", entry_point=entry_point or "app.py",
                           requirements=requirements_file or "requirements.txt")
        if cfg.instance_type and self.provider.name in CLOUDS:
            service["instance_type"] = {self.provider.name: cfg.instance_type}
        if cfg.gpu_type and cfg.gpu_count:
            service["gpu"] = {"model": cfg.gpu_type, "count": cfg.gpu_count}
        if cfg.disk:
            service["disk"] = cfg.disk
        if self.scaling is not None:
            service["scaling"] = {"metric": self.scaling.metric, "target": self.scaling.target_value,
                                  "cooldown_seconds": self.scaling.cooldown_seconds}
        data: dict[str, Any] = {
            "name": self.name, "provider": self.provider.name, "services": {"app": service},
            "cloud": self.cloud_config.model_dump(),
        }
        if self.provider.name in CLOUDS:
            data["region"] = self.provider.region
        return validate(Stack, data, source=f"deployment {self.name!r}")

    def render(self, target: str = "all", out_dir: str | Path = "deploy", *, force: bool = False,
               source_dir: str | None = None, entry_point: str | None = None) -> list[Path]:
        """Write the deployment's artifacts for ``target`` (or ``all``) under ``out_dir``."""
        from pepperpy.cloud import render as renderer

        stack = self.to_stack(source_dir=source_dir, entry_point=entry_point)
        return renderer.write(renderer.render(stack, target), out_dir, force=force)

    def deploy(self, source_dir: str, entry_point: str = "app.py",
               requirements_file: str = "requirements.txt",
               additional_files: Sequence[str] = ()) -> Any:
        """Build and run on the provider; refused, with the reason, where it cannot yet.

        Returns the result of the app's deployment, whose ``.url`` answers requests.
        """
        stack = self.to_stack(source_dir=".", entry_point=entry_point,
                              requirements_file=requirements_file, additional_files=additional_files)
        self.provider.require("deploy")
        results = self.provider.deploy_stack(stack, stack_dir=source_dir)  # type: ignore[attr-defined]
        result = results[0]
        if getattr(result, "image_pushed", True) is False:
            import warnings

            commands = "; ".join(getattr(result, "push_commands", []) or [])
            warnings.warn(f"{self.name}: the image {getattr(result, 'image', '')} is not pushed yet (no Docker "
                          f"here); the service starts once it is: {commands}", UserWarning, stacklevel=2)
        return result

    def __repr__(self) -> str:
        return f"CloudDeployment(name={self.name!r}, provider={self.provider!r})"


class CloudManager:
    """Creates deployments on one provider with shared advanced configuration."""

    def __init__(self, provider: CloudProvider, config: CloudConfig | None = None) -> None:
        self.provider = provider
        self.config = config or CloudConfig()

    def create_deployment(self, name: str, config: DeploymentConfig) -> CloudDeployment:
        return CloudDeployment(self.provider, name, config, cloud_config=self.config)
