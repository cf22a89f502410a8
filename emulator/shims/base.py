"""What every shim shares: the helpers and :class:`_Shim`, moto's CloudFormation model protocol in four hooks.

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

logger = logging.getLogger(__name__)

_Shim_T = TypeVar("_Shim_T", bound="_Shim")


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _stable_id(*parts: str, length: int = 12) -> str:
    """A lowercase id that is the same for the same inputs, so a redeploy keeps physical ids."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def _cfn_tags_to_api(tags: Iterable[Mapping[str, str]] | None) -> list[dict[str, str]]:
    """CloudFormation tags are ``[{Key, Value}]``; CodeBuild and CodePipeline want ``[{key, value}]``."""
    return [{"key": tag["Key"], "value": tag["Value"]} for tag in tags or []]


def _camel_keys(
    value: Any,
    *,
    opaque: frozenset[str] = frozenset(),
    renames: Mapping[str, str] | None = None,
) -> Any:
    """Turn CloudFormation's PascalCase keys into the camelCase of the CodeBuild/CodePipeline APIs.

    Values under a key in ``opaque`` are copied unchanged (an action's ``Configuration`` holds
    provider-defined keys such as ``ProjectName``). ``renames`` covers the few keys whose API
    spelling is not simply the first letter lowered (CodeBuild's ``BuildSpec`` is ``buildspec``).
    """
    renames = renames or {}
    if isinstance(value, list):
        return [_camel_keys(item, opaque=opaque, renames=renames) for item in value]
    if isinstance(value, dict):
        converted: dict[str, Any] = {}
        for key, item in value.items():
            api_key = renames.get(key, key[:1].lower() + key[1:])
            converted[api_key] = (
                copy.deepcopy(item) if key in opaque else _camel_keys(item, opaque=opaque, renames=renames)
            )
        return converted
    return value


class _Shim:
    """What every shim shares: moto's CloudFormation model protocol in terms of four small hooks.

    Deliberately *not* a ``CloudFormationModel`` subclass: moto finds resource types through
    ``CloudFormationModel.__subclasses__()``, which lists direct subclasses only, so each concrete
    shim names ``CloudFormationModel`` as its own base, after this class.

    Subclasses set the class variables and implement ``_create`` and ``_delete``; they override
    ``physical_resource_id`` (what ``Ref`` returns) and ``_attribute`` (``Fn::GetAtt``) when the
    type needs more than its name.
    """

    cfn_type: ClassVar[str]
    # The property holding the resource's name; moto generates "<stack>-<logical id>-<suffix>" when
    # the template leaves it out. Empty when the name lives elsewhere or the type has none.
    name_property: ClassVar[str] = ""
    # Fn::GetAtt names from the type's CloudFormation resource schema.
    attributes: ClassVar[frozenset[str]] = frozenset()
    # False for types with no moto backend: the stack records them and nothing else knows them.
    backed: ClassVar[bool] = True
    # One line for the emulator's "emulated via shim / not emulated" summary.
    note: ClassVar[str]

    # Set by moto's parser after creation; declared for the type checker.
    cf_resource_type: str
    logical_resource_id: str

    def __init__(self, account_id: str, region_name: str, name: str, properties: dict[str, Any]) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.name = name
        self.properties = properties
        self.deleted = False

    # -- hooks ------------------------------------------------------------------------------------

    def _create(self) -> None:
        raise NotImplementedError

    def _delete(self) -> None:
        raise NotImplementedError

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def _attribute(self, attribute: str) -> Any:
        raise NotImplementedError(f"{self.cfn_type} shim lists {attribute} but does not compute it")

    @classmethod
    def _resolve_name(cls, properties: Mapping[str, Any], fallback: str) -> str:
        if cls.name_property and properties.get(cls.name_property):
            return str(properties[cls.name_property])
        return fallback

    # -- moto's CloudFormationModel protocol ------------------------------------------------------

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.cfn_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.attributes:
            # moto turns this into CloudFormation's "does not support attribute type" error.
            raise UnformattedGetAttTemplateException()
        return self._attribute(attribute_name)

    @classmethod
    def create_from_cloudformation_json(
        cls: type[_Shim_T],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Shim_T:
        properties = dict(cloudformation_json.get("Properties") or {})
        shim = cls(account_id, region_name, cls._resolve_name(properties, resource_name), properties)
        shim._create()
        if not cls.backed:
            logger.warning("%s %s is recorded only: no emulated API knows it", cls.cfn_type, shim.physical_resource_id)
        return shim

    @classmethod
    def update_from_cloudformation_json(
        cls: type[_Shim_T],
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> _Shim_T:
        # Replace in place. moto hands us a freshly generated name when the template has no name
        # property; keeping the original name instead is what CloudFormation does for an update that
        # does not touch the name.
        properties = dict(cloudformation_json.get("Properties") or {})
        name = cls._resolve_name(properties, original_resource.name)
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            name, {**cloudformation_json, "Properties": properties}, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        # moto calls this only when the instance's delete() raised TypeError or AttributeError; the
        # shims never let those escape (see delete), so reaching here is a bug worth failing on.
        raise RuntimeError(f"{cls.cfn_type} shim: unexpected class-level delete of {resource_name}")

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            self._delete()
        except (TypeError, AttributeError) as exc:
            # moto reads these two as "this model has no instance delete" and silently falls back to
            # the class-level delete; re-raise so a shim bug fails the stack instead of leaking.
            raise RuntimeError(f"{self.cfn_type} shim failed to delete {self.physical_resource_id}: {exc!r}") from exc
        self.deleted = True

    def is_created(self) -> bool:
        return True
