"""Shims for the data lake's analytics services: Glue (database, crawler, job, security configuration) and Athena.

See :mod:`emulator.shims` for the rules every shim follows."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any

from moto.athena.models import athena_backends
from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.glue.exceptions import CrawlerNotFoundException, DatabaseNotFoundException, EntityNotFoundException
from moto.glue.models import glue_backends

from emulator.shims.base import _now_iso, _Shim

# ------------------------------------------------------------------------------------------------
# Glue


class GlueDatabase(_Shim, CloudFormationModel):
    """AWS::Glue::Database in moto's Glue catalog (``glue.get_database`` finds it).

    Emulated: ``DatabaseInput`` (description, location, parameters). Not emulated: Lake Formation
    permissions (``CreateTableDefaultPermissions`` is stored, never enforced), and delete removes the
    database with its tables, as Glue does.
    """

    cfn_type = "AWS::Glue::Database"
    note = "moto Glue catalog database; Lake Formation permissions are stored, not enforced"

    @classmethod
    def _resolve_name(cls, properties: Mapping[str, Any], fallback: str) -> str:
        database_input = properties.get("DatabaseInput") or {}
        # Glue lower-cases database names; a generated fallback carries the stack's capitals.
        return str(database_input.get("Name") or properties.get("DatabaseName") or fallback.lower())

    def _create(self) -> None:
        database_input = {**(self.properties.get("DatabaseInput") or {}), "Name": self.name}
        glue_backends[self.account_id][self.region_name].create_database(self.name, database_input)

    def _delete(self) -> None:
        with contextlib.suppress(DatabaseNotFoundException):
            glue_backends[self.account_id][self.region_name].delete_database(self.name)


class GlueCrawler(_Shim, CloudFormationModel):
    """AWS::Glue::Crawler in moto's Glue backend (``glue.get_crawler``; ``start_crawler`` works).

    Not emulated: crawling itself. moto's crawls finish without reading S3 or creating tables, and
    the ``Schedule`` is stored but nothing triggers it.
    """

    cfn_type = "AWS::Glue::Crawler"
    name_property = "Name"
    note = "moto Glue crawler; runs complete without reading data or creating tables, schedule never fires"

    def _create(self) -> None:
        props = self.properties
        # CloudFormation nests the cron expression, the API takes the bare string.
        schedule = (props.get("Schedule") or {}).get("ScheduleExpression")
        # Built as a plain dict: moto annotates optional arguments as required strings.
        arguments: dict[str, Any] = dict(
            name=self.name,
            role=props.get("Role", ""),
            database_name=props.get("DatabaseName", ""),
            description=props.get("Description", ""),
            targets=props.get("Targets") or {},
            schedule=schedule,
            classifiers=props.get("Classifiers") or [],
            table_prefix=props.get("TablePrefix", ""),
            schema_change_policy=props.get("SchemaChangePolicy") or {},
            recrawl_policy=props.get("RecrawlPolicy") or {},
            lineage_configuration=props.get("LineageConfiguration") or {},
            configuration=props.get("Configuration", ""),
            crawler_security_configuration=props.get("CrawlerSecurityConfiguration", ""),
            tags=props.get("Tags") or {},
        )
        glue_backends[self.account_id][self.region_name].create_crawler(**arguments)

    def _delete(self) -> None:
        with contextlib.suppress(CrawlerNotFoundException):
            glue_backends[self.account_id][self.region_name].delete_crawler(self.name)


class GlueJob(_Shim, CloudFormationModel):
    """AWS::Glue::Job in moto's Glue backend (``glue.get_job``; ``start_job_run`` works).

    Not emulated by moto: running the script. moto's job runs succeed without executing ``Command``; the
    tour runs the deployed script itself (emulator/glue_runner.py).
    """

    cfn_type = "AWS::Glue::Job"
    name_property = "Name"
    note = "moto Glue job; runs succeed without executing the script (the tour runs it: emulator/glue_runner.py)"

    def _create(self) -> None:
        props = self.properties
        # Built as a plain dict: moto annotates optional arguments as required strings and ints.
        arguments: dict[str, Any] = dict(
            name=self.name,
            role=props.get("Role", ""),
            command=props.get("Command") or {},
            description=props.get("Description", ""),
            log_uri=props.get("LogUri", ""),
            execution_property=props.get("ExecutionProperty") or {},
            default_arguments=props.get("DefaultArguments") or {},
            non_overridable_arguments=props.get("NonOverridableArguments") or {},
            connections=props.get("Connections") or {},
            max_retries=props.get("MaxRetries", 0),
            allocated_capacity=props.get("AllocatedCapacity"),
            timeout=props.get("Timeout"),
            max_capacity=props.get("MaxCapacity"),
            security_configuration=props.get("SecurityConfiguration"),
            tags=props.get("Tags") or {},
            notification_property=props.get("NotificationProperty") or {},
            glue_version=props.get("GlueVersion"),
            number_of_workers=props.get("NumberOfWorkers"),
            worker_type=props.get("WorkerType"),
            code_gen_configuration_nodes={},
            execution_class=props.get("ExecutionClass"),
            source_control_details={},
        )
        glue_backends[self.account_id][self.region_name].create_job(**arguments)

    def _delete(self) -> None:
        # moto's delete_job is already a no-op for a missing job.
        glue_backends[self.account_id][self.region_name].delete_job(self.name)


class GlueSecurityConfiguration(_Shim, CloudFormationModel):
    """AWS::Glue::SecurityConfiguration in moto's Glue backend (``glue.get_security_configuration``).

    Not emulated: encryption. The settings are stored; nothing encrypts with them.
    """

    cfn_type = "AWS::Glue::SecurityConfiguration"
    name_property = "Name"
    note = "moto Glue security configuration; stored only, nothing is encrypted with it"

    def _create(self) -> None:
        configuration = copy.deepcopy(self.properties.get("EncryptionConfiguration") or {})
        # The one spelling difference: CloudFormation's list is S3Encryptions, the API's S3Encryption.
        if "S3Encryptions" in configuration:
            configuration["S3Encryption"] = configuration.pop("S3Encryptions")
        glue_backends[self.account_id][self.region_name].create_security_configuration(self.name, configuration)

    def _delete(self) -> None:
        with contextlib.suppress(EntityNotFoundException):
            glue_backends[self.account_id][self.region_name].delete_security_configuration(self.name)


# ------------------------------------------------------------------------------------------------
# Athena


class AthenaWorkGroup(_Shim, CloudFormationModel):
    """AWS::Athena::WorkGroup in moto's Athena backend (``athena.get_work_group``).

    Emulated: the configuration (result location, encryption, bytes-scanned cutoff, enforcement).
    Not emulated: enforcing any of it; moto's queries return empty results whatever the settings.
    """

    cfn_type = "AWS::Athena::WorkGroup"
    name_property = "Name"
    attributes = frozenset({"CreationTime", "WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion"})
    note = "moto Athena workgroup; configuration stored, not enforced (queries return empty results)"

    def _create(self) -> None:
        backend = athena_backends[self.account_id][self.region_name]
        if backend.get_work_group(self.name) is not None:
            # moto's create_work_group returns None instead of failing; CloudFormation would fail.
            raise ValidationError(message=f"WorkGroup {self.name} already exists")
        work_group = backend.create_work_group(
            name=self.name,
            # moto fills defaults into the dict it is given; keep the template's copy clean.
            configuration=copy.deepcopy(self.properties.get("WorkGroupConfiguration") or {}),
            description=self.properties.get("Description", ""),
            tags=self.properties.get("Tags") or [],
        )
        if work_group is not None and self.properties.get("State") == "DISABLED":
            work_group.state = "DISABLED"
        self.creation_time = _now_iso()

    def _delete(self) -> None:
        athena_backends[self.account_id][self.region_name].delete_work_group(self.name)

    def _attribute(self, attribute: str) -> Any:
        if attribute == "CreationTime":
            return self.creation_time
        work_group = athena_backends[self.account_id][self.region_name].get_work_group(self.name) or {}
        return work_group.get("Configuration", {}).get("EngineVersion", {}).get("EffectiveEngineVersion")
