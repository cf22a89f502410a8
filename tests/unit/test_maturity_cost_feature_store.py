"""make cost lists the feature groups: nothing idle on-demand, with their usage prices; hourly tiers not guessed."""

from __future__ import annotations

from typing import Any

import pytest

from maturity.cost import Unpriced, estimate_template, load_prices

PRICES = load_prices()


def _group(**properties: Any) -> dict[str, Any]:
    return {"Resources": {"Group": {"Type": "AWS::SageMaker::FeatureGroup", "Properties": properties}}}


def test_an_on_demand_online_store_is_listed_with_its_usage_prices_and_costs_nothing_idle():
    items, unpriced = estimate_template(
        _group(OnlineStoreConfig={"EnableOnlineStore": True}, ThroughputConfig={"ThroughputMode": "OnDemand"}),
        PRICES,
    )
    (item,) = items
    assert unpriced == [] and item.monthly_usd == 0
    assert item.what == (
        "online + offline store, on-demand: nothing idle; usage $0.45/GB-month online, $1.25/M write units, "
        "$0.25/M read units"
    )


def test_an_offline_only_group_says_where_its_cost_is():
    (item,), _ = estimate_template(_group(), PRICES)
    assert item.monthly_usd == 0 and "S3 storage in the data lake and Athena scans" in item.what


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"ThroughputConfig": {"ThroughputMode": "Provisioned"}}, "provisioned read and write capacity units"),
        ({"OnlineStoreConfig": {"EnableOnlineStore": True, "StorageType": "InMemory"}}, "InMemory online store"),
    ],
)
def test_tiers_that_bill_hourly_are_not_guessed(properties, reason):
    items, unpriced = estimate_template(_group(**properties), PRICES)
    assert items == []
    assert len(unpriced) == 1 and isinstance(unpriced[0], Unpriced) and reason in unpriced[0].reason
