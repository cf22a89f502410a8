"""The training pipeline's Clarify checks as infrastructure: analysis configs and the gate script as assets,
and what the pipeline role needs to run them.

The three analysis_config.json files are rendered at synth time from ``training.clarify`` (deterministic:
the asset hash is the content's) and uploaded by the CDK CLI like the step scripts. The role gains: the
Clarify image, CreateModel for the CreateModel step, the shadow endpoint Clarify creates and deletes
(scoped to Clarify's ``sm-clarify`` name prefix), and reading the group's versions (ClarifyCheck looks up
the last approved version's baseline).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from pipelines.training import clarify, images
from pipelines.training.clarify_steps import ClarifyChecks
from pipelines.training.definition import StepScript
from stacks.clarify_config import ClarifyConfig
from stacks.components.access import acknowledge_wildcard_resource
from stacks.partition import format_arn, url_suffix

STEPS_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "training" / "steps"
ANALYSIS_KINDS = ("data_bias", "model_bias", "explainability")


def clarify_checks(
    scope: Construct,
    *,
    role: iam.Role,
    settings: ClarifyConfig,
    instance_type: str,
    model_package_group_arn: str,
    model_package_group_name: str,
) -> ClarifyChecks:
    """Upload the configs and the gate script, grant the role, and return what the definition needs."""
    stack = Stack.of(scope)
    facet = clarify.facet_column(settings.facet, settings.facet_value)
    rendered = Path(tempfile.mkdtemp(prefix="clarify-configs-"))
    assets: dict[str, s3_assets.Asset] = {}
    for kind in ANALYSIS_KINDS:
        config = clarify.analysis_config(
            kind=kind, facet=facet, positive_label=settings.positive_label, instance_type=instance_type
        )
        path = rendered / kind / "analysis_config.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        assets[kind] = s3_assets.Asset(scope, f"ClarifyConfig{kind.title().replace('_', '')}", path=str(path))
    gate_script = s3_assets.Asset(scope, "BiasGateScript", path=str(STEPS_DIR / "bias_gate.py"))
    readable = [*assets.values(), gate_script]
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadClarifyConfigs",
            actions=["s3:GetObject"],
            resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in readable],
        )
    )
    models = format_arn(stack, service="sagemaker", resource="model", resource_name="pipelines-*")
    shadow = [
        format_arn(stack, service="sagemaker", resource=kind, resource_name=f"{clarify.SHADOW_ENDPOINT_PREFIX}*")
        for kind in ("endpoint", "endpoint-config")
    ]
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ClarifyModelAndShadowEndpoint",
            actions=[
                "sagemaker:CreateModel",
                "sagemaker:DescribeModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:DeleteEndpoint",
                "sagemaker:InvokeEndpoint",
                "sagemaker:AddTags",
            ],
            resources=[models, *shadow],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ClarifyBaselineLookup",
            actions=["sagemaker:ListModelPackages"],
            resources=[model_package_group_arn],
        )
    )
    acknowledge_wildcard_resource(
        role, models, "SageMaker Pipelines names the CreateModel step's models per execution; scoped to 'pipelines-*'."
    )
    for arn in shadow:
        acknowledge_wildcard_resource(
            role, arn, "Clarify names its temporary shadow endpoint per job; scoped to its 'sm-clarify' prefix."
        )
    return ClarifyChecks(
        image_uri=images.clarify_image_uri(stack.region, url_suffix=url_suffix(stack)),
        analysis_config_uris={kind: asset.s3_object_url for kind, asset in assets.items()},
        bias_gate_script=StepScript(
            s3_uri=gate_script.s3_object_url, file_name=gate_script.s3_object_key.rsplit("/", 1)[-1]
        ),
        facet=facet.name,
        gates={gate.metric: gate.threshold for gate in settings.gates},
    )
