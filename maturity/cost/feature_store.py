"""What a SageMaker Feature Store feature group costs while idle, for ``make cost`` (registered in ``cost.PRICERS``).

On-demand throughput with the Standard online store (what the ladder deploys) has no hourly charge: reads and
writes are billed per request unit and storage per GB-month, both usage, and the offline store is Parquet in the
data lake's bucket (S3 storage, Athena scans). The line item says so with its prices instead of staying silent.
The InMemory online tier and provisioned throughput do bill while idle; they are listed as not estimated.
"""

from __future__ import annotations

from typing import Any

from maturity.cost.prices import Prices
from maturity.cost.templates import LineItem, Unpriced, _Priced

__all__ = ["PRICE_KEY", "feature_group"]

PRICE_KEY = "featureStoreOnlineStorageGb"
_RTYPE = "AWS::SageMaker::FeatureGroup"


def feature_group(logical_id: str, props: dict[str, Any], template: dict[str, Any], prices: Prices) -> _Priced:
    online = props.get("OnlineStoreConfig") or {}
    throughput = (props.get("ThroughputConfig") or {}).get("ThroughputMode", "OnDemand")
    if throughput != "OnDemand":
        return [Unpriced(logical_id, _RTYPE, "not estimated: provisioned read and write capacity units bill hourly")]
    if online.get("EnableOnlineStore") and online.get("StorageType") == "InMemory":
        return [Unpriced(logical_id, _RTYPE, "not estimated: the InMemory online store bills its capacity hourly")]
    storage = prices.monthly(PRICE_KEY)
    if storage is None:  # pragma: no cover - load_prices requires every entry's price
        return [Unpriced(logical_id, _RTYPE, f"no price for {PRICE_KEY} in prices.json")]
    entry = prices.entries[PRICE_KEY]
    if online.get("EnableOnlineStore"):
        what = (
            f"online + offline store, on-demand: nothing idle; usage ${storage:g}/GB-month online, "
            f"${entry['writeUsdPerMillion']:g}/M write units, ${entry['readUsdPerMillion']:g}/M read units"
        )
    else:
        what = "offline store only: nothing idle; usage is S3 storage in the data lake and Athena scans"
    # Quantity 0: listed (so the report shows the feature store and its usage prices), adds nothing to idle.
    return [LineItem(logical_id, _RTYPE, what, 0, storage, PRICE_KEY)]
