"""CostEstimator(provider=AWSProvider(...)).get_actual_costs reads Cost Explorer (moto server, configured results)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pepperpy.cloud import CostEstimator, TimeRange
from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.providers.aws import AWSProvider
from pepperpy.cloud.providers.aws.cost_explorer import day_range, query
from tests.providers.aws.conftest import REGION, moto_post

CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


def usd(amount: str) -> dict[str, Any]:
    return {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}


def period(start: str, end: str, groups: dict[str, str], estimated: bool = False) -> dict[str, Any]:
    return {"TimePeriod": {"Start": start, "End": end}, "Total": {}, "Estimated": estimated,
            "Groups": [{"Keys": [key], "Metrics": usd(amount)} for key, amount in groups.items()]}


def configure(endpoint: str, *results: dict[str, Any]) -> None:
    """Queue what moto's ce.get_cost_and_usage answers, one result per distinct request."""
    moto_post(endpoint, "/moto-api/static/ce/cost-and-usage-results", json.dumps({"results": list(results)}).encode())


@pytest.fixture
def estimator(aws: str) -> CostEstimator:
    return CostEstimator(provider=AWSProvider(region=REGION, credentials=CREDENTIALS))


def test_seed_get_actual_costs_returns_cost_explorer_amounts_as_decimal(aws: str, estimator: CostEstimator,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    configure(aws, {"ResultsByTime": [
        period("2025-01-01", "2025-01-02", {"Amazon Elastic Container Service": "1.1000000001",
                                            "Amazon Simple Storage Service": "0.0231"}),
        period("2025-01-02", "2025-01-03", {"Amazon Elastic Container Service": "2.2",
                                            "Amazon Relational Database Service": "3.14159265358979"}, True),
    ], "DimensionValueAttributes": []})

    # Seed 000, "Monitoramento e Custos", as written (cost_estimator built on the AWS provider).
    actual_costs = estimator.get_actual_costs(
        time_range=TimeRange.LAST_MONTH,
        group_by="service"
    )

    for service, cost in actual_costs.items():
        print(f"{service}: ${cost:.2f}")

    assert actual_costs == {"Amazon Elastic Container Service": Decimal("3.3000000001"),
                            "Amazon Relational Database Service": Decimal("3.14159265358979"),
                            "Amazon Simple Storage Service": Decimal("0.0231")}
    assert all(isinstance(v, Decimal) for v in actual_costs.values())
    assert "Amazon Elastic Container Service: $3.30" in capsys.readouterr().out


def test_group_by_deployment_tag_and_pages(aws: str, estimator: CostEstimator) -> None:
    first = {"ResultsByTime": [period("2025-01-01", "2025-01-02", {"pepperpy-cloud:deployment$rag-app": "5",
                                                                   "pepperpy-cloud:deployment$": "0.5"})],
             "NextPageToken": "page-2"}
    second = {"ResultsByTime": [period("2025-01-02", "2025-01-03", {"pepperpy-cloud:deployment$rag-app": "1.25"})]}
    configure(aws, first, second)
    got = estimator.get_actual_costs(TimeRange.LAST_7_DAYS, group_by="deployment")
    assert got == {"rag-app": Decimal("6.25"), "(untagged)": Decimal("0.5")}


def test_other_currencies_are_refused(aws: str, estimator: CostEstimator) -> None:
    configure(aws, {"ResultsByTime": [{"TimePeriod": {"Start": "2025-01-01", "End": "2025-01-02"}, "Total": {},
                                       "Groups": [{"Keys": ["AWS Lambda"],
                                                   "Metrics": {"UnblendedCost": {"Amount": "1", "Unit": "EUR"}}}]}]})
    with pytest.raises(PepperpyCloudError, match="EUR"):
        estimator.get_actual_costs(TimeRange.LAST_MONTH)


def test_nothing_configured_means_no_costs_not_zero_lines(estimator: CostEstimator) -> None:
    assert estimator.get_actual_costs(TimeRange.LAST_MONTH) == {}


def test_bad_grouping_is_refused_before_any_call(estimator: CostEstimator) -> None:
    with pytest.raises(InputError) as err:
        estimator.get_actual_costs(TimeRange.LAST_MONTH, group_by="colour")
    assert err.value.field == "group_by"
    with pytest.raises(InputError) as bad:
        estimator.get_actual_costs(TimeRange.LAST_MONTH, granularity="HOURLY")
    assert bad.value.field == "granularity"


def test_query_shape() -> None:
    start = datetime(2025, 1, 10, 15, 30, tzinfo=UTC).timestamp()
    end = datetime(2025, 2, 9, 15, 30, tzinfo=UTC).timestamp()
    assert [d.isoformat() for d in day_range(start, end)] == ["2025-01-10", "2025-02-10"]
    params = query(start, end, "service")
    assert params["Granularity"] == "DAILY" and params["Metrics"] == ["UnblendedCost"]
    assert params["GroupBy"] == [{"Type": "DIMENSION", "Key": "SERVICE"}]
    assert params["Filter"] == {"Tags": {"Key": "managed-by", "Values": ["pepperpy-cloud"], "MatchOptions": ["EQUALS"]}}
    assert "Filter" not in query(start, end, "service", include_unmanaged=True)
    both = query(start, end, "deployment", deployment="rag-app")["Filter"]["And"]
    assert both[1]["Tags"] == {"Key": "pepperpy-cloud:deployment", "Values": ["rag-app"], "MatchOptions": ["EQUALS"]}
    long = query(start - 200 * 86400, end, "service")
    assert long["Granularity"] == "MONTHLY"


def test_local_estimators_refuse_cost_explorer_options() -> None:
    with pytest.raises(InputError) as err:
        CostEstimator(provider="gcp").get_actual_costs(TimeRange.LAST_MONTH, include_unmanaged=True)
    assert err.value.field == "include_unmanaged"
