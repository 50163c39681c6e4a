"""Request and response models: they make the OpenAPI document precise (the dashboard and schemathesis read it).

Money is a decimal string (``"157.25"``), never a float, as everywhere in PepperPy Cloud.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Cloud = Literal["aws", "azure", "gcp"]
ResourceType = Literal["compute", "storage", "object_storage", "block_storage", "database", "cache", "queue",
                       "load_balancer", "kubernetes", "egress", "serverless", "monitoring"]
MAX_STACK_TEXT = 100_000
MAX_QUESTION = 2000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceSpec(BaseModel):
    """One seed-000 resource dict; fields beyond these (``lcu``, ``requests``, ``volume_type``...) pass through."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"type": "compute", "instance_type": "e2-standard-2", "count": 3}]})

    type: ResourceType
    name: str | None = Field(None, max_length=200)
    instance_type: str | None = Field(None, max_length=200)
    count: int | None = Field(None, ge=0, le=100_000)
    size_gb: float | str | None = None
    vcpus: float | None = Field(None, ge=0)
    memory_gb: float | str | None = None
    gpu: str | None = Field(None, max_length=50)
    hours: float | None = Field(None, ge=0, le=744)


class EstimateRequest(_Strict):
    """Either ``resources`` (seed 000 dicts) or ``stack`` (a stack as a JSON object or YAML text), not both."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"provider": "gcp", "resources": [{"type": "compute", "instance_type": "e2-standard-2", "count": 3},
                                          {"type": "storage", "size_gb": 100}]}]})

    provider: Cloud | None = Field(None, description="default: the stack's provider if a cloud, else aws")
    region: str | None = Field(None, min_length=1, max_length=64, description="default: the provider's default")
    resources: list[ResourceSpec] | None = Field(None, min_length=1, max_length=500)
    stack: dict[str, Any] | str | None = Field(None, description="stack as a JSON object or as YAML text")
    strict: bool = Field(False, description="an instance class the catalog does not know is an error (422)")

    @model_validator(mode="after")
    def _one_input(self) -> EstimateRequest:
        if (self.resources is None) == (self.stack is None):
            raise ValueError("give exactly one of 'resources' or 'stack'")
        if isinstance(self.stack, str) and len(self.stack) > MAX_STACK_TEXT:
            raise ValueError(f"stack text is longer than {MAX_STACK_TEXT} characters")
        return self


class CompareRequest(_Strict):
    stack: dict[str, Any] | str = Field(description="stack as a JSON object or as YAML text")

    @model_validator(mode="after")
    def _size(self) -> CompareRequest:
        if isinstance(self.stack, str) and len(self.stack) > MAX_STACK_TEXT:
            raise ValueError(f"stack text is longer than {MAX_STACK_TEXT} characters")
        return self


class AskRequest(_Strict):
    question: str = Field(min_length=1, max_length=MAX_QUESTION, description="a pricing question in plain language")


class ScaleRequest(_Strict):
    replicas: int = Field(ge=0, le=100)


class PriceRowOut(BaseModel):
    provider: str
    service: str
    sku: str
    region: str
    pricing_model: str
    unit: str
    price: str
    currency: str
    as_of: str
    source: str
    zone: str
    tier_start: str
    vcpus: float | None
    memory_gib: float | None
    gpu_model: str
    gpu_count: int
    gpu_memory_gib: float | None
    arch: str
    description: str


class AlternativeOut(BaseModel):
    pricing_model: str
    monthly: str
    row: PriceRowOut


class LineItemOut(BaseModel):
    component: str
    service: str
    managed_service: str
    sku: str
    region: str
    quantity: str
    unit: str
    unit_price: str | None
    monthly: str | None = Field(description="null when no catalog row prices the line (never $0)")
    note: str
    rows: list[PriceRowOut]
    alternatives: dict[str, AlternativeOut]


class EstimateOut(BaseModel):
    provider: str
    region: str
    currency: str
    total_monthly: str
    complete: bool
    unknown_items: list[str]
    savings: dict[str, str]
    items: list[LineItemOut]
    warnings: list[str]


class CompareRow(BaseModel):
    provider: str
    region: str
    on_demand: str
    spot: str | None
    reserved_1y: str | None
    reserved_3y: str | None
    unpriced: int
    cheapest: bool


class CompareOut(BaseModel):
    stack: str
    rows: list[CompareRow]


class InstanceOut(PriceRowOut):
    monthly: str


class InstancesOut(BaseModel):
    count: int
    instances: list[InstanceOut]


class DeploymentSummary(BaseModel):
    name: str
    status: str
    revision: int | None
    replicas: int
    url: str


class DeploymentsOut(BaseModel):
    deployments: list[DeploymentSummary]


class ReplicaOut(BaseModel):
    replica: int
    port: int | None
    state: str
    pid: int | None


class DeploymentStatusOut(BaseModel):
    name: str
    url: str
    revision: int
    replicas: list[ReplicaOut]
    load_balancer: dict[str, Any] | None
    revisions: list[dict[str, Any]]
    events: list[dict[str, Any]]


class ScaleOut(BaseModel):
    name: str
    url: str
    revision: int
    replicas: int


class SeriesOut(BaseModel):
    metric: str
    resource: str
    unit: str
    labels: dict[str, str]
    points: list[list[float | None]] = Field(description="[unix time, value] pairs")


class MetricsOut(BaseModel):
    resource: str
    start: float
    end: float
    source: str
    series: list[SeriesOut]


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class ReadyOut(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]


class ErrorDetail(BaseModel):
    type: str
    field: str | None
    message: str
    hint: str | None
    details: list[dict[str, str]] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail
    request_id: str | None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (401, "missing, invalid or revoked API key"), (404, "unknown provider, region, SKU or deployment"),
        (413, "request body too large"), (422, "invalid input; the field is named"),
        (429, "rate limited; see Retry-After"))
}
