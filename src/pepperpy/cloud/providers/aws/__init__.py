"""Amazon Web Services: pricing from the catalog; resources and secrets through boto3 (the ``aws`` extra).

Nothing here imports boto3: :mod:`.session` does, on the first call that needs
AWS, so ``import pepperpy.cloud`` stays cheap and a missing SDK is one clear
"install pepperpy-cloud[aws]" line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register

if TYPE_CHECKING:
    from pepperpy.cloud.providers.aws.resources import AWSResources
    from pepperpy.cloud.providers.aws.secrets import AWSSecretStore
    from pepperpy.cloud.providers.aws.session import AWSSession
    from pepperpy.cloud.providers.aws.stack import AWSDeploymentResult


@register("aws", "amazon")
class AWSProvider(CloudProvider):
    """``AWSProvider(region="us-west-2", credentials={"access_key_id": ..., "secret_access_key": ...})``.

    Also ``profile=`` and ``credentials_file=`` (a shared credentials file), or
    nothing for boto3's default chain; ``endpoint_url=`` (or ``AWS_ENDPOINT_URL``)
    sends every call to an emulator. Options: ``max_attempts`` (standard retry
    mode, default 5), ``connect_timeout``/``read_timeout`` (s), ``wait_delay``
    (s between status polls while RDS starts or stops, default 30),
    ``secrets_prefix`` (prepended to ``${SECRET:name}`` in Secrets Manager), ``check_region``
    (default True: refuse a region botocore does not list for the service; turn off for a
    private cloud or emulator with its own region names).
    """

    name = "aws"
    display_name = "AWS"
    default_region = "us-east-1"
    capabilities_map = {
        "price": Capability(True),
        "resources": Capability(True, "object_storage → S3 bucket (private, AES256, versioning on request); "
                                      "postgres → RDS PostgreSQL (password in Secrets Manager); "
                                      "serverless → Lambda"),
        "secrets": Capability(True, "${SECRET:name} read from AWS Secrets Manager"),
        "deploy": Capability(True, "ECS Fargate services behind an ALB with target-tracking autoscaling (or EKS "
                                   "with kubernetes_hosting='eks'); serverless services on Lambda with a Function "
                                   "URL; RDS, ElastiCache Redis, Amazon MQ RabbitMQ, S3; images are pushed by you "
                                   "(Docker)"),
        "scale": Capability(True, "ECS desired count within the autoscaling bounds"),
        "monitor": Capability(True, "CloudWatch metrics (ECS, ALB, Container Insights), alarms with SNS "
                                    "notifications, dashboards"),
        "actual_costs": Capability(True, "Cost Explorer, costs tagged managed-by=pepperpy-cloud"),
    }

    def __init__(self, region: str | None = None, credentials: Mapping[str, Any] | None = None,
                 *, profile: str | None = None, credentials_file: str | Path | None = None,
                 endpoint_url: str | None = None, **options: Any) -> None:
        from pepperpy.cloud.providers.aws.session import explicit_credentials  # no boto3 import: cheap

        super().__init__(region, credentials=credentials, endpoint_url=endpoint_url, **options)
        explicit_credentials(self.credentials)  # a malformed dict fails here, not at the first call
        self.profile = profile
        self.credentials_file = Path(credentials_file).expanduser() if credentials_file else None
        self._session: AWSSession | None = None

    def session(self) -> AWSSession:
        """The boto3 session behind every AWS call of this provider (made on first use)."""
        if self._session is None:
            from pepperpy.cloud.providers.aws.session import AWSSession

            self._session = AWSSession(self)
        return self._session

    def monitoring(self) -> Any:
        """CloudWatch metrics, alarms and dashboards for ``CloudMonitor``."""
        from pepperpy.cloud.providers.aws.cloudwatch import CloudWatchMonitor

        return CloudWatchMonitor(self)

    def resources(self) -> AWSResources:
        """The AWS resource backend used by ResourceManager."""
        from pepperpy.cloud.providers.aws.resources import AWSResources

        return AWSResources(self)

    def secret_store(self) -> AWSSecretStore:
        """Where ``${SECRET:name}`` references resolve for this provider: AWS Secrets Manager."""
        from pepperpy.cloud.providers.aws.secrets import AWSSecretStore

        return AWSSecretStore(self)

    def deploy_stack(self, stack: Any, *, stack_dir: Any, progress: Any = None) -> list[AWSDeploymentResult]:
        """Create or converge ``stack`` on AWS (see :mod:`.stack`); one result per container service.

        Re-running converges; a failure removes what that run created and says so.
        """
        from pepperpy.cloud.providers.aws.stack import AWSStack

        return AWSStack(self, progress=progress).deploy(stack, Path(stack_dir))

    def destroy_stack(self, name: str, *, progress: Any = None) -> list[str]:
        """Delete every AWS object tagged as part of deployment ``name``; returns what was removed."""
        from pepperpy.cloud.providers.aws.stack import AWSStack

        return AWSStack(self, progress=progress).destroy(name)

    def scale(self, name: str, replicas: int, *, service: str | None = None) -> AWSDeploymentResult:
        """Set a deployed service's ECS task count (within its autoscaling min..max)."""
        from pepperpy.cloud.providers.aws.stack import AWSStack

        return AWSStack(self).scale(name, replicas, service)
