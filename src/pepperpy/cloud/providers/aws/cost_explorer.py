"""Actual AWS cost from Cost Explorer: seed 000's ``CostEstimator(provider=aws).get_actual_costs(...)``.

``GetCostAndUsage`` answers in whole UTC days (``End`` exclusive), so a range is widened to the
days it touches. By default only what PepperPy Cloud made is counted (cost allocation tag
``managed-by=pepperpy-cloud``, which has to be activated once in the Billing console before
Cost Explorer can filter on it); ``include_unmanaged=True`` counts the whole account.

Amounts are the strings Cost Explorer sends, parsed as :class:`~decimal.Decimal`: no float ever
carries a price. Every amount must be in USD, the currency of the catalog; another currency is an
error rather than a sum of unlike units.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.providers.aws.cloudwatch import DEPLOYMENT_TAG, MANAGED_BY, NAME_TAG

if TYPE_CHECKING:
    from pepperpy.cloud.providers.aws import AWSProvider

CURRENCY = "USD"
COST_METRIC = "UnblendedCost"
UNTAGGED = "(untagged)"
MONTHLY_AFTER_DAYS = 62  # longer ranges are asked month by month (fewer rows, same sums)
GROUP_BY: dict[str, dict[str, str]] = {
    "service": {"Type": "DIMENSION", "Key": "SERVICE"},
    "deployment": {"Type": "TAG", "Key": DEPLOYMENT_TAG},
    "component": {"Type": "TAG", "Key": NAME_TAG},
    "sku": {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
    "region": {"Type": "DIMENSION", "Key": "REGION"},
}
Granularity = Literal["DAILY", "MONTHLY"]


@dataclass(frozen=True)
class CostRow:
    """One amount Cost Explorer reported: a group in one period (dates, ``end`` exclusive)."""

    start: date
    end: date
    group: str
    amount: Decimal
    estimated: bool


@dataclass
class CostExplorerReport:
    """What :func:`actual_costs_report` read: the rows, and the query that produced them."""

    start: date
    end: date
    group_by: str
    granularity: Granularity
    managed_only: bool
    rows: list[CostRow] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows), Decimal(0))

    @property
    def estimated(self) -> bool:
        """True while some period is not final yet (the current month, usually)."""
        return any(r.estimated for r in self.rows)

    def grouped(self, by: str | None = None) -> dict[str, Decimal]:
        """{group: Decimal} summed over the periods, largest first; ``by`` must be the query's grouping."""
        if by is not None and by != self.group_by:
            raise InputError("group_by", f"this report is grouped by {self.group_by}, not {by!r}",
                             hint="ask actual_costs_report again with that group_by")
        sums: dict[str, Decimal] = {}
        for row in self.rows:
            sums[row.group] = sums.get(row.group, Decimal(0)) + row.amount
        return dict(sorted(sums.items(), key=lambda kv: (-kv[1], kv[0])))


def day_range(start: float, end: float) -> tuple[date, date]:
    """The whole UTC days covering [start, end): (first day, day after the last)."""
    first = datetime.fromtimestamp(start, UTC).date()
    last_moment = datetime.fromtimestamp(end, UTC)
    after = last_moment.date() + (timedelta(days=1) if last_moment.time() != datetime.min.time() else timedelta())
    return first, max(after, first + timedelta(days=1))


def granularity_for(first: date, after: date, granularity: str | None) -> Granularity:
    if granularity is None:
        return "MONTHLY" if (after - first).days > MONTHLY_AFTER_DAYS else "DAILY"
    value = granularity.upper()
    if value not in ("DAILY", "MONTHLY"):
        raise InputError("granularity", f"{granularity!r} is not a granularity", hint="use DAILY or MONTHLY")
    return "DAILY" if value == "DAILY" else "MONTHLY"


def cost_filter(managed_only: bool, deployment: str | None) -> dict[str, Any] | None:
    """The Cost Explorer filter: our tag unless ``managed_only`` is off, and the deployment's tag when given."""
    tags = []
    if managed_only:
        tags.append({"Tags": {"Key": MANAGED_BY[0], "Values": [MANAGED_BY[1]], "MatchOptions": ["EQUALS"]}})
    if deployment is not None:
        tags.append({"Tags": {"Key": DEPLOYMENT_TAG, "Values": [deployment], "MatchOptions": ["EQUALS"]}})
    if not tags:
        return None
    return tags[0] if len(tags) == 1 else {"And": tags}


def query(start: float, end: float, group_by: str, *, deployment: str | None = None,
          include_unmanaged: bool = False, granularity: str | None = None) -> dict[str, Any]:
    """The ``GetCostAndUsage`` parameters; every argument is checked here, before any call."""
    if group_by not in GROUP_BY:
        raise InputError("group_by", f"{group_by!r} is not a grouping on AWS", hint="use one of " + ", ".join(GROUP_BY))
    if deployment is not None and (not isinstance(deployment, str) or not deployment):
        raise InputError("deployment", f"{deployment!r} is not a deployment name")
    first, after = day_range(start, end)
    params: dict[str, Any] = {
        "TimePeriod": {"Start": first.isoformat(), "End": after.isoformat()},
        "Granularity": granularity_for(first, after, granularity),
        "Metrics": [COST_METRIC],
        "GroupBy": [GROUP_BY[group_by]],
    }
    found = cost_filter(not include_unmanaged, deployment)
    if found is not None:
        params["Filter"] = found
    return params


def _amount(metric: Mapping[str, Any], where: str) -> Decimal:
    """A Cost Explorer amount as Decimal; a non-USD unit or an unreadable amount raises."""
    unit = metric.get("Unit")
    if unit != CURRENCY:
        raise PepperpyCloudError(f"Cost Explorer reported {where} in {unit!r}, not {CURRENCY}",
                                 hint="prices here are in USD; read this account's costs in its own currency "
                                      "in the Billing console")
    try:
        return Decimal(str(metric["Amount"]))
    except (KeyError, InvalidOperation):
        raise PepperpyCloudError(f"Cost Explorer reported an unreadable amount for {where}: "
                                 f"{metric.get('Amount')!r}") from None


def group_label(key: str, group_by: str) -> str:
    """A tag group's key comes back as ``tagkey$value``; an empty value means untagged."""
    if GROUP_BY[group_by]["Type"] != "TAG":
        return key
    _, _, value = key.partition("$")
    return value or UNTAGGED


def parse_rows(result: Mapping[str, Any], group_by: str) -> Iterator[CostRow]:
    """Rows of one ``GetCostAndUsage`` page; a period with no group falls back to its total."""
    for period in result.get("ResultsByTime", []):
        start = date.fromisoformat(period["TimePeriod"]["Start"])
        end = date.fromisoformat(period["TimePeriod"]["End"])
        estimated = bool(period.get("Estimated", False))
        groups = period.get("Groups") or []
        for group in groups:
            label = group_label(str((group.get("Keys") or [""])[0]), group_by)
            metric = group.get("Metrics", {}).get(COST_METRIC)
            if metric is not None:
                yield CostRow(start, end, label, _amount(metric, f"{label} on {start}"), estimated)
        total = (period.get("Total") or {}).get(COST_METRIC)
        if not groups and total is not None:
            amount = _amount(total, f"the total on {start}")
            if amount:
                yield CostRow(start, end, UNTAGGED if GROUP_BY[group_by]["Type"] == "TAG" else "(total)", amount,
                              estimated)


def actual_costs_report(provider: AWSProvider, start: float, end: float, group_by: str = "service", *,
                        deployment: str | None = None, include_unmanaged: bool = False,
                        granularity: str | None = None) -> CostExplorerReport:
    """Every page of ``GetCostAndUsage`` for the range, as rows in USD."""
    params = query(start, end, group_by, deployment=deployment, include_unmanaged=include_unmanaged,
                   granularity=granularity)
    report = CostExplorerReport(date.fromisoformat(params["TimePeriod"]["Start"]),
                                date.fromisoformat(params["TimePeriod"]["End"]), group_by,
                                params["Granularity"], not include_unmanaged)
    session = provider.session()
    while True:
        page = session.call("ce", "get_cost_and_usage", **params)
        report.rows.extend(parse_rows(page, group_by))
        token = page.get("NextPageToken")
        if not token:
            return report
        params["NextPageToken"] = token


def get_actual_costs(provider: AWSProvider, start: float, end: float, group_by: str = "service", *,
                     deployment: str | None = None, include_unmanaged: bool = False,
                     granularity: str | None = None) -> dict[str, Decimal]:
    """{group: Decimal USD} over the range (see the module docstring)."""
    return actual_costs_report(provider, start, end, group_by, deployment=deployment,
                               include_unmanaged=include_unmanaged, granularity=granularity).grouped()
