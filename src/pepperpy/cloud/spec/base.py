"""A pydantic base for the seed 000 configuration objects: bad arguments raise SpecError.

Users build these objects directly (``DeploymentConfig(min_replicas=3, max_replicas=1)``), so a
mistake should arrive as PepperPy's own error naming the field, not as a pydantic traceback.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pepperpy.cloud.errors import SpecError


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            from pepperpy.cloud.spec.loader import spec_errors

            raise SpecError(spec_errors(exc), source=type(self).__name__) from None
