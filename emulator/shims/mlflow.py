"""CloudFormation shim for ``AWS::SageMaker::MlflowApp``: recorded only, with a stable ARN.

moto has no MLflow apps, and a ``Fn::GetAtt`` to an unknown type fails the whole stack (Level 1's
experiment-tracking function takes the app's ARN). The app is kept with a stable id (a hash of account,
region and name), ``Ref`` and ``Arn`` answer its ARN in the real format. No MLflow API is served from it:
the tour's loopback stand-in (``emulator.mlflow_local``) answers the run-logging calls, and labels itself.
The one app setting CloudFormation lacks, which Studio domains open the app by default, is kept when a
``Custom::AWS`` resource calls ``UpdateMlflowApp`` on it (``emulator.shims.sdk_call``): see :func:`recorded_app`.

Registered through `emulator.shims` (its ``SHIMMED_TYPES`` lists it as recorded only).
"""

from __future__ import annotations

import weakref
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from emulator.shims.base import _now_iso, _Shim, _stable_id

# (account, region, ARN) -> the recorded app, while a stack holds it.
_RECORDED: weakref.WeakValueDictionary[tuple[str, str, str], SageMakerMlflowApp] = weakref.WeakValueDictionary()


def recorded_app(account_id: str, region_name: str, arn: str) -> SageMakerMlflowApp | None:
    """The app a deployed stack holds under ``arn``, or None (deleted, or never deployed)."""
    app = _RECORDED.get((account_id, region_name, arn))
    return None if app is None or app.deleted else app


class SageMakerMlflowApp(_Shim, CloudFormationModel):
    """AWS::SageMaker::MlflowApp, recorded only: ``Ref`` is the ARN (its primary identifier), as on AWS."""

    cfn_type = "AWS::SageMaker::MlflowApp"
    name_property = "Name"
    backed = False
    attributes = frozenset({"Arn", "MlflowAppId", "Status", "MlflowVersion", "CreationTime", "LastModifiedTime"})
    note = "recorded only, not emulated: no MLflow app API; the tour's loopback stand-in answers run logging"

    def _create(self) -> None:
        for required in ("ArtifactStoreUri", "RoleArn"):
            if not self.properties.get(required):
                raise ValueError(f"AWS::SageMaker::MlflowApp {self.name}: {required} is required")
        self.app_id = f"app-{_stable_id(self.account_id, self.region_name, self.name)}"
        partition = get_partition(self.region_name)
        self.arn = f"arn:{partition}:sagemaker:{self.region_name}:{self.account_id}:mlflow-app/{self.app_id}"
        self.created_at = _now_iso()
        # UpdateMlflowApp's DefaultDomainIdList: the Studio domains that open this app by default.
        self.default_domain_ids: list[str] = []
        _RECORDED[(self.account_id, self.region_name, self.arn)] = self

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        return {
            "Arn": self.arn,
            "MlflowAppId": self.app_id,
            "Status": "Created",
            "MlflowVersion": "3.0.0",
            "CreationTime": self.created_at,
            "LastModifiedTime": self.created_at,
        }[attribute]

    def _delete(self) -> None:
        _RECORDED.pop((self.account_id, self.region_name, self.arn), None)


SHIMS: tuple[type[_Shim], ...] = (SageMakerMlflowApp,)
