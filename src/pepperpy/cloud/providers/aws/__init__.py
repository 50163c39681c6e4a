"""Amazon Web Services: pricing from the catalog; boto3 operations arrive with the SDK extra."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register


@register("aws", "amazon")
class AWSProvider(CloudProvider):
    """``AWSProvider(region="us-west-2", credentials={"access_key_id": ..., "secret_access_key": ...})``."""

    name = "aws"
    display_name = "AWS"
    default_region = "us-east-1"
    capabilities_map = {"price": Capability(True)}

    def __init__(self, region: str | None = None, credentials: Mapping[str, Any] | None = None,
                 *, profile: str | None = None, endpoint_url: str | None = None,
                 **options: Any) -> None:
        super().__init__(region, credentials=credentials, endpoint_url=endpoint_url, **options)
        self.profile = profile
