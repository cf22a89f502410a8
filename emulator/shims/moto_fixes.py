"""Fixes: CloudFormation types moto supports but gets wrong for CDK templates (KMS keys, S3 buckets).

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.kms.models import Key
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

# ------------------------------------------------------------------------------------------------
# Fixes: types moto supports but gets wrong for CDK templates. Each subclasses moto's own model and
# names CloudFormationModel again so moto's type map picks it up; register() checks that it wins.


class KmsKey(Key, CloudFormationModel):
    """AWS::KMS::Key: moto's own KMS key model, with two CloudFormation inputs put in KMS's form.

    moto 5.2.5 hands the template's ``Tags`` (``[{Key, Value}]``) straight to KMS's tagger, which
    expects ``[{TagKey, TagValue}]``, so any tagged key (CDK tags every key with the stack's tags)
    fails the stack with ``KeyError: 'TagKey'``. It also stores ``KeyPolicy`` as the template's
    object where KMS keeps a JSON string, so every later KMS call on the key (DescribeKey,
    Encrypt, ...) fails with HTTP 500. This class converts both and leaves the rest to moto.
    """

    note = "moto's KMS key; the shim only converts CloudFormation's tags and key policy to KMS's form"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Key:
        fixed = copy.deepcopy(cloudformation_json)
        properties = fixed.setdefault("Properties", {})
        properties["Tags"] = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in properties.get("Tags") or []]
        if not isinstance(properties.get("KeyPolicy"), str):
            properties["KeyPolicy"] = json.dumps(properties.get("KeyPolicy") or {})
        return super().create_from_cloudformation_json(resource_name, fixed, account_id, region_name, **kwargs)


def _apply_bucket_settings(bucket_name: str, properties: Mapping[str, Any], account_id: str, region_name: str) -> None:
    """Apply the bucket settings that moto's CloudFormation model ignores (see :class:`S3Bucket`)."""
    backend = s3_backends[account_id][get_partition(region_name)]
    versioning = (properties.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        backend.put_bucket_versioning(bucket_name, versioning)
    if properties.get("PublicAccessBlockConfiguration"):
        backend.put_public_access_block(bucket_name, dict(properties["PublicAccessBlockConfiguration"]))
    ownership_rules = (properties.get("OwnershipControls") or {}).get("Rules") or []
    if ownership_rules:
        backend.put_bucket_ownership_controls(bucket_name, ownership=ownership_rules[0]["ObjectOwnership"])
    notifications = properties.get("NotificationConfiguration") or {}
    if str((notifications.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled")).lower() == "true":
        backend.put_bucket_notification_configuration(bucket_name, {"EventBridgeConfiguration": {}})


class S3Bucket(FakeBucket, CloudFormationModel):
    """AWS::S3::Bucket: moto's own bucket model, plus the settings its CloudFormation skips.

    moto 5.2.5 applies only ``BucketEncryption`` and ``Tags`` from the template. This class also
    applies ``VersioningConfiguration`` (so object versions and delete markers behave as in AWS),
    ``PublicAccessBlockConfiguration``, ``OwnershipControls`` and
    ``NotificationConfiguration.EventBridgeConfiguration`` (moto then sends object events to its
    EventBridge). Still not applied: lifecycle rules, access logging, CORS, replication, object lock,
    and Lambda/SQS/SNS notification configurations written into the template.
    """

    note = (
        "moto's bucket plus versioning, public access block, object ownership and EventBridge notifications; "
        "lifecycle rules, access logging, CORS, replication and object lock are not applied"
    )

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FakeBucket:
        bucket = super().create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        _apply_bucket_settings(bucket.name, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return bucket

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> FakeBucket:
        bucket = super().update_from_cloudformation_json(
            original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        _apply_bucket_settings(bucket.name, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return bucket
