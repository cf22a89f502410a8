"""Shims for Bedrock guardrails and their versions (no moto backend: recorded only).

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from emulator.shims.base import _now_iso, _Shim, _stable_id

# ------------------------------------------------------------------------------------------------
# Bedrock: no moto backend. Recorded only.


class BedrockGuardrail(_Shim, CloudFormationModel):
    """AWS::Bedrock::Guardrail, recorded only: moto 5.2.5 has no guardrail API.

    The stack keeps the resource with a stable id (a hash of account, region and name), so ``Ref``
    (the ARN) and every ``Fn::GetAtt`` resolve and other resources can point at it. Nothing else
    knows it: ``bedrock.get_guardrail`` and ``ApplyGuardrail`` fail against the emulator, and no
    content is ever filtered.
    """

    cfn_type = "AWS::Bedrock::Guardrail"
    name_property = "Name"
    backed = False
    attributes = frozenset(
        {
            "CreatedAt",
            "FailureRecommendations",
            "GuardrailArn",
            "GuardrailId",
            "Status",
            "StatusReasons",
            "UpdatedAt",
            "Version",
        }
    )
    note = "recorded only, not emulated: moto has no Bedrock guardrail API; ids are stable placeholders"

    def _create(self) -> None:
        self.guardrail_id = _stable_id(self.account_id, self.region_name, self.name)
        partition = get_partition(self.region_name)
        self.arn = f"arn:{partition}:bedrock:{self.region_name}:{self.account_id}:guardrail/{self.guardrail_id}"
        self.created_at = _now_iso()
        self.versions_published = 0

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def _attribute(self, attribute: str) -> Any:
        values: dict[str, Any] = {
            "CreatedAt": self.created_at,
            "FailureRecommendations": [],
            "GuardrailArn": self.arn,
            "GuardrailId": self.guardrail_id,
            "Status": "READY",
            "StatusReasons": [],
            "UpdatedAt": self.created_at,
            "Version": "DRAFT",
        }
        return values[attribute]

    def _delete(self) -> None:
        pass  # nothing outside the stack holds it

    @classmethod
    def find(cls, account_id: str, region_name: str, identifier: str) -> BedrockGuardrail:
        """The live guardrail that ``identifier`` (an id or an ARN) names, as GuardrailVersion needs."""
        guardrail_id = identifier.rsplit("/", 1)[-1]
        # moto's model tracker lists every instance created since the last reset.
        for guardrail in cls.instances_tracked:  # type: ignore[attr-defined]
            if (
                isinstance(guardrail, cls)
                and not guardrail.deleted
                and (guardrail.account_id, guardrail.region_name, guardrail.guardrail_id)
                == (account_id, region_name, guardrail_id)
            ):
                return guardrail
        raise ValidationError(message=f"Guardrail {identifier} not found")


class BedrockGuardrailVersion(_Shim, CloudFormationModel):
    """AWS::Bedrock::GuardrailVersion, recorded only: numbers versions 1, 2, ... per guardrail.

    ``Ref`` returns ``"<guardrail id>|<version>"`` as CloudFormation does. The guardrail must be a
    recorded AWS::Bedrock::Guardrail in the same account and region, else the stack fails.
    """

    cfn_type = "AWS::Bedrock::GuardrailVersion"
    backed = False
    attributes = frozenset({"GuardrailArn", "GuardrailId", "Version"})
    note = "recorded only, not emulated: version numbers are counted per recorded guardrail"

    def _create(self) -> None:
        guardrail = BedrockGuardrail.find(
            self.account_id, self.region_name, str(self.properties.get("GuardrailIdentifier", ""))
        )
        guardrail.versions_published += 1
        self.guardrail_arn = guardrail.arn
        self.guardrail_id = guardrail.guardrail_id
        self.version = str(guardrail.versions_published)

    @property
    def physical_resource_id(self) -> str:
        return f"{self.guardrail_id}|{self.version}"

    def _attribute(self, attribute: str) -> Any:
        return {
            "GuardrailArn": self.guardrail_arn,
            "GuardrailId": self.guardrail_id,
            "Version": self.version,
        }[attribute]

    def _delete(self) -> None:
        pass  # nothing outside the stack holds it
