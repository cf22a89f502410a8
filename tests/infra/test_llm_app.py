"""The LLMOps app (opt-in): HTTPS only, Cognito sign-in before any request reaches a task, WAF, autoscaling."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.llm_app import APP_PORT, HEALTH_CHECK_PATH, MANAGED_RULE_GROUPS
from tests.infra.conftest import APP_SETTINGS, ENV_NAMES


def of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == cfn_type}


def one(template: dict[str, Any], cfn_type: str) -> dict[str, Any]:
    (resource,) = of_type(template, cfn_type).values()
    props: dict[str, Any] = resource["Properties"]
    return props


@pytest.fixture(scope="module")
def app(opted_in_dev) -> dict[str, Any]:
    (stack,) = [s for s in opted_in_dev.stacks if s.stack_name == "Mlops-dev-LlmApp"]
    return {"template": opted_in_dev.template(stack), "file": opted_in_dev.outdir / stack.template_file}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_the_app_is_opt_in(synthesized, env):
    # A load balancer, a NAT gateway and a web ACL cost money every hour: no shipped environment has them.
    assert not [s for s in synthesized[env].stacks if s.stack_name.endswith("LlmApp")]


def test_https_only_with_the_configured_certificate(app):
    template = app["template"]
    listeners = {
        listener["Port"]: listener
        for listener in (r["Properties"] for r in of_type(template, "AWS::ElasticLoadBalancingV2::Listener").values())
    }
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": APP_SETTINGS["certificateArn"]}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    (redirect,) = listeners[80]["DefaultActions"]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    alb = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"


def test_every_request_signs_in_through_cognito_before_reaching_a_task(app):
    template = app["template"]
    listener = next(
        r["Properties"]
        for r in of_type(template, "AWS::ElasticLoadBalancingV2::Listener").values()
        if r["Properties"]["Port"] == 443
    )
    actions = sorted(listener["DefaultActions"], key=lambda a: a["Order"])
    assert [a["Type"] for a in actions] == ["authenticate-cognito", "forward"]
    pool = one(template, "AWS::Cognito::UserPool")
    assert pool["MfaConfiguration"] == "ON"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 14
    client = one(template, "AWS::Cognito::UserPoolClient")
    assert client["CallbackURLs"] == [f"https://{APP_SETTINGS['domainName']}/oauth2/idpresponse"]
    assert client["GenerateSecret"] is True and client["AllowedOAuthFlows"] == ["code"]
    assert one(template, "AWS::Cognito::UserPoolDomain")["Domain"] == APP_SETTINGS["cognitoDomainPrefix"]


def test_waf_guards_the_load_balancer(app):
    template = app["template"]
    acl = one(template, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    managed = [
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in acl["Rules"]
        if "ManagedRuleGroupStatement" in r["Statement"]
    ]
    assert managed == list(MANAGED_RULE_GROUPS)
    (rate,) = [r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate["Action"] == {"Block": {}}
    association = one(template, "AWS::WAFv2::WebACLAssociation")
    (alb_id,) = of_type(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert association["ResourceArn"] == {"Ref": alb_id}


def test_the_service_is_private_health_checked_and_scales(app):
    template = app["template"]
    service = one(template, "AWS::ECS::Service")
    assert service["DesiredCount"] == 1
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    group = one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert group["Port"] == APP_PORT and group["HealthCheckPath"] == HEALTH_CHECK_PATH
    attributes = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
    assert attributes["stickiness.enabled"] == "true", "Streamlit keeps a session on one task"
    target = one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    policy = one(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 60
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    # Tasks accept the app port from the load balancer's security group only.
    ingress = [r["Properties"] for r in of_type(template, "AWS::EC2::SecurityGroupIngress").values()]
    to_tasks = [i for i in ingress if i.get("FromPort") == APP_PORT]
    assert len(to_tasks) == 1 and "SourceSecurityGroupId" in to_tasks[0] and "CidrIp" not in to_tasks[0]


def test_the_container_is_the_playground_image_with_its_settings(app, opted_in_dev):
    template = app["template"]
    (container,) = one(template, "AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    variables = {v["Name"]: v["Value"] for v in container["Environment"]}
    assert set(variables) == {"PORT", "TABLE_NAME", "GATEWAY_FUNCTION_NAME", "AWS_REGION"}
    assert variables["PORT"] == str(APP_PORT)
    assert container["PortMappings"] == [{"ContainerPort": APP_PORT, "Protocol": "tcp"}]
    assets = json.loads((opted_in_dev.outdir / "Mlops-dev-LlmApp.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert (opted_in_dev.outdir / image["source"]["directory"] / "Dockerfile").is_file()


def test_the_task_role_reads_the_catalog_calls_the_gateway_and_reads_scorecards_only(app):
    template = app["template"]
    task = one(template, "AWS::ECS::TaskDefinition")
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    actions = sorted(a for s in policy for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    assert actions == sorted(
        [
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "lambda:InvokeFunction",
            "kms:Decrypt",  # the data key: the catalog table and the scorecards
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListBucket",
        ]
    )
    objects = next(s for s in policy if "s3:GetObject" in s["Action"])
    assert objects["Resource"]["Fn::Join"][1][-1] == "/evaluations/*"


def test_a_pipeline_target_with_the_app_deploys_with_docker(opted_in_dev):
    (level2,) = [s for s in opted_in_dev.stacks if s.stack_name == "Mlops-dev-Level2Reliable"]
    template = opted_in_dev.template(level2)
    projects = {
        lid: r["Properties"]["Environment"].get("PrivilegedMode", False)
        for lid, r in of_type(template, "AWS::CodeBuild::Project").items()
        if lid.startswith("DeliveryDeploy")
    }
    assert projects and {lid for lid, privileged in projects.items() if privileged} == {
        lid for lid in projects if lid.startswith("DeliveryDeployPreprod")
    }


def test_the_app_template_is_lint_clean(app):
    from cfnlint.api import ManualArgs, lint_by_config

    findings = lint_by_config(ManualArgs(templates=[str(app["file"])], ignore_checks=["W3005"]))
    assert not [f"{m.rule.id} {m.message}" for m in findings]
