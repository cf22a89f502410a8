"""Level 3: teams as config entries, bounded from each other; GitHub Actions as another way to deploy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.policy_simulation import PolicySimulator
from pipelines.glue.churn_features import FEATURE_GROUPS, FeatureGroupSpec, feature_group_name
from stacks.components.studio import VPC_CIDR
from stacks.components.team import COMPUTE_ACTIONS, team_prefix
from stacks.config import name_prefix
from stacks.feature_store_config import feature_group_prefix
from stacks.role_names import github_deploy_role_name
from tests.infra.conftest import CONTEXT, ENV_NAMES, PROVIDER_ARN

DEPLOY_ROLE = github_deploy_role_name(name_prefix(CONTEXT))


def level3(templates: dict[tuple[str, str], dict[str, Any]], env: str) -> dict[str, Any]:
    return templates[(env, f"Mlops-{env}-Level3Scalable")]


def of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == cfn_type}


def role_id(template: dict[str, Any], role_name: str) -> str:
    (found,) = [
        lid for lid, r in of_type(template, "AWS::IAM::Role").items() if r["Properties"].get("RoleName") == role_name
    ]
    return found


def team_logical_id(template: dict[str, Any], team: str, kind: str, cfn_type: str) -> str:
    (found,) = [lid for lid in of_type(template, cfn_type) if lid.startswith(f"Team{team}{kind}")]
    return found


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_configured_team_gets_its_footprint(templates, synthesized, env):
    template = level3(templates, env)
    teams = synthesized[env].config.teams
    assert teams, "cdk.json ships example teams"
    profiles = {r["Properties"]["UserProfileName"] for r in of_type(template, "AWS::SageMaker::UserProfile").values()}
    assert profiles == {t.name for t in teams}
    for team in teams:
        for cfn_type, kind in (
            ("AWS::KMS::Key", "Key"),
            ("AWS::DynamoDB::Table", "FeatureTable"),
            ("AWS::IAM::ManagedPolicy", "Boundary"),
            ("AWS::Budgets::Budget", "Budget"),
        ):
            team_logical_id(template, team.name, kind, cfn_type)
        for role in ("data-scientist", "ml-engineer"):
            role_id(template, f"mlops-{env}-{team.name}-{role}")
    pipelines = {r["Properties"]["PipelineName"] for r in of_type(template, "AWS::SageMaker::Pipeline").values()}
    assert pipelines == {f"mlops-{env}-{t.name}-churn-training" for t in teams if t.pipelines}


@pytest.mark.parametrize("env", ENV_NAMES)
def test_a_team_with_pipelines_gets_its_own_approval_driven_endpoint(templates, synthesized, env):
    template = level3(templates, env)
    config = synthesized[env].config
    functions = of_type(template, "AWS::Lambda::Function")
    for team in config.teams:
        promotions = [f for lid, f in functions.items() if lid.startswith(f"Team{team.name}EndpointPromotion")]
        if not team.pipelines:
            assert not promotions
            continue
        (promotion,) = promotions
        variables = promotion["Properties"]["Environment"]["Variables"]
        assert variables["MODEL_PACKAGE_GROUP_NAME"] == variables["ENDPOINT_NAME"] == f"mlops-{env}-{team.name}-churn"
        assert variables["CAPTURE_PREFIX"] == f"teams/{team.name}/data-capture"
        assert variables["ENDPOINT_MODE"] == config.endpoint.mode
        rules = [r["Properties"] for r in of_type(template, "AWS::Events::Rule").values()]
        approvals = [
            r for r in rules if r.get("EventPattern", {}).get("detail-type") == ["SageMaker Model Package State Change"]
        ]
        assert [a["EventPattern"]["detail"]["ModelPackageGroupName"] for a in approvals] == [
            [f"mlops-{env}-{team.name}-churn"]
        ]
        (drift,) = [r for r in rules if r.get("EventPattern", {}).get("source") == ["aws.cloudwatch"]]
        (target,) = drift["Targets"]
        assert target["Arn"] == (
            f"arn:aws:sagemaker:{config.region}:{config.account}:pipeline/mlops-{env}-{team.name}-churn-training"
        )
    # Team endpoints get no 3 USD dashboard each: the stack's one operations dashboard holds every team's rows.
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard")
    assert dashboard.startswith("MonitoringDashboard")


def test_stateful_resources_keep_their_logical_ids(templates):
    # Renaming these would replace the bucket, the keys or the tables, and lose the data in them.
    template = level3(templates, "dev")
    assert "TeamDataBucket49D28CA1" in template["Resources"]
    for expected in ("TeamchurnKey91D9E018", "TeamchurnFeatureTableD339C222", "TeamfraudKeyE2D000FB"):
        assert expected in template["Resources"]


@pytest.mark.parametrize("env", ENV_NAMES)
def test_every_team_role_carries_its_teams_boundary(templates, synthesized, env):
    template = level3(templates, env)
    for team in synthesized[env].config.teams:
        boundary = team_logical_id(template, team.name, "Boundary", "AWS::IAM::ManagedPolicy")
        roles = of_type(template, "AWS::IAM::Role")
        team_roles = {lid: r for lid, r in roles.items() if lid.startswith(f"Team{team.name}")}
        # people's two roles and the feature groups' offline-store role; with pipelines also the pipeline's, the
        # model's, the promotion's and retraining's
        assert len(team_roles) == (7 if team.pipelines else 3)
        for lid, role in team_roles.items():
            assert role["Properties"].get("PermissionsBoundary") == {"Ref": boundary}, lid


def test_members_assume_team_roles_through_their_identity_center_permission_set(templates):
    template = level3(templates, "dev")
    trust = template["Resources"][role_id(template, "mlops-dev-churn-data-scientist")]["Properties"]
    statements = trust["AssumeRolePolicyDocument"]["Statement"]
    assert {"Service": "sagemaker.amazonaws.com"} in [s["Principal"] for s in statements], "Studio execution role"
    (people,) = [s for s in statements if s["Principal"] != {"Service": "sagemaker.amazonaws.com"}]
    assert people["Condition"] == {
        "ArnLike": {
            "aws:PrincipalArn": "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/"
            "*AWSReservedSSO_ChurnDataScientists_*"
        }
    }
    engineers = template["Resources"][role_id(template, "mlops-dev-churn-ml-engineer")]["Properties"]
    principals = [s["Principal"] for s in engineers["AssumeRolePolicyDocument"]["Statement"]]
    assert {"Service": "sagemaker.amazonaws.com"} not in principals, "people only"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_feature_tables_have_pitr_and_the_team_key(templates, env):
    for lid, table in of_type(level3(templates, env), "AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        team = lid.removeprefix("Team").split("FeatureTable")[0]
        key_id = team_logical_id(level3(templates, env), team, "Key", "AWS::KMS::Key")
        assert props["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert props["BillingMode"] == "PAY_PER_REQUEST"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_budgets_follow_the_team_tag_and_alert_the_team(templates, synthesized, env):
    budgets = of_type(level3(templates, env), "AWS::Budgets::Budget")
    by_name = {b["Properties"]["Budget"]["BudgetName"]: b["Properties"] for b in budgets.values()}
    for team in synthesized[env].config.teams:
        budget = by_name[f"mlops-{env}-team-{team.name}"]
        assert budget["Budget"]["BudgetLimit"] == {"Amount": team.monthly_budget_usd, "Unit": "USD"}
        assert budget["Budget"]["CostFilters"] == {"TagKeyValue": [f"user:mlops:team${team.name}"]}
        kinds = {n["Notification"]["NotificationType"] for n in budget["NotificationsWithSubscribers"]}
        assert kinds == {"ACTUAL", "FORECASTED"}
        for notification in budget["NotificationsWithSubscribers"]:
            assert notification["Subscribers"] == [{"Address": team.budget_email, "SubscriptionType": "EMAIL"}]
        tags = {t["Key"]: t["Value"] for t in budget["ResourceTags"]}
        assert tags["mlops:team"] == team.name and tags["mlops:cost-center"] == team.cost_center


@pytest.mark.parametrize("env", ENV_NAMES)
def test_team_resources_are_tagged_for_cost_allocation(templates, synthesized, env):
    template = level3(templates, env)
    for team in synthesized[env].config.teams:
        for cfn_type in ("AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::IAM::Role"):
            for lid, resource in of_type(template, cfn_type).items():
                if lid.startswith(f"Team{team.name}"):
                    tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
                    assert tags["mlops:team"] == team.name, lid


def test_github_actions_role_exists_only_where_configured_and_only_reaches_bootstrap_roles(templates, synthesized):
    for env in ENV_NAMES:
        names = [r["Properties"].get("RoleName") for r in of_type(level3(templates, env), "AWS::IAM::Role").values()]
        assert (DEPLOY_ROLE in names) == synthesized[env].config.delivery.github_actions
    template = level3(templates, "dev")
    delivery = synthesized["dev"].config.delivery
    role_lid = role_id(template, DEPLOY_ROLE)
    (trust,) = template["Resources"][role_lid]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"] == {"Federated": {"Fn::GetAtt": ["GitHubDeployProviderE6371597", "Arn"]}}
    conditions = trust["Condition"]["StringEquals"]
    assert conditions["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert conditions["token.actions.githubusercontent.com:sub"] == [
        f"repo:{delivery.repository}:ref:refs/heads/{delivery.branch}",
        *[f"repo:{delivery.repository}:environment:{name}" for name in delivery.targets],
    ]
    policies = of_type(template, "AWS::IAM::Policy").values()
    (policy,) = [p for p in policies if {"Ref": role_lid} in p["Properties"]["Roles"]]
    bootstrap, steps = policy["Properties"]["PolicyDocument"]["Statement"]
    assert bootstrap["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    targets = [synthesized[name].config for name in delivery.targets]
    expected = sorted(
        f"arn:aws:iam::{t.account}:role/cdk-hnb659fds-{role}-role-{t.account}-{t.region}"
        for t in targets
        for role in ("deploy", "file-publishing", "image-publishing", "lookup")
    )
    config = synthesized["dev"].config
    simulator = PolicySimulator(template, account=config.account, region=config.region)
    assert sorted(simulator.resolve(bootstrap["Resource"])) == expected
    # The workflow's preprod tests and prompt releases use the pipeline's own fixed-name roles.
    assert steps["Action"] == "sts:AssumeRole"
    assert sorted(steps["Resource"]) == sorted(
        [f"arn:aws:iam::{t.account}:role/mlops-{t.name}-pipeline-tests" for t in targets if t.test_strategies]
        + [f"arn:aws:iam::{t.account}:role/mlops-{t.name}-prompt-release" for t in targets if t.llmops.enabled]
    )


@pytest.fixture(scope="module")
def opted_in(opted_in_dev) -> dict[str, Any]:
    """dev's Level 3 with the opt-ins on (tests/infra/conftest.py): DocumentDB for churn, an existing provider."""
    (stack,) = [s for s in opted_in_dev.stacks if s.stack_name.endswith("Level3Scalable")]
    return {"template": opted_in_dev.template(stack), "file": opted_in_dev.outdir / stack.template_file}


def test_a_provider_arn_in_config_reuses_the_accounts_github_provider(opted_in):
    template = opted_in["template"]
    assert not of_type(template, "AWS::IAM::OIDCProvider")
    role = template["Resources"][role_id(template, DEPLOY_ROLE)]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Federated": PROVIDER_ARN}


def test_document_db_is_opt_in_per_team_encrypted_private_and_lint_clean(opted_in, templates):
    from cfnlint.api import ManualArgs, lint_by_config

    assert not of_type(level3(templates, "dev"), "AWS::DocDB::DBCluster"), "off unless a team asks for it"
    template = opted_in["template"]
    (cluster_id, cluster) = next(iter(of_type(template, "AWS::DocDB::DBCluster").items()))
    props = cluster["Properties"]
    assert cluster_id.startswith("Teamchurn")
    key_id = team_logical_id(template, "churn", "Key", "AWS::KMS::Key")
    assert props["StorageEncrypted"] is True and props["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert props["Port"] != 27017 and props["BackupRetentionPeriod"] == 7
    assert set(props["EnableCloudwatchLogsExports"]) == {"audit", "profiler"}
    (instance,) = of_type(template, "AWS::DocDB::DBInstance").values()
    assert instance["Properties"]["DBInstanceClass"] == "db.t3.medium"
    (group_id,) = [lid for lid in of_type(template, "AWS::EC2::SecurityGroup") if lid.startswith("TeamchurnDocumentDb")]
    assert "SecurityGroupIngress" not in template["Resources"][group_id]["Properties"]
    ingress = [
        r["Properties"]
        for r in of_type(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert len(ingress) == 1 and "SourceSecurityGroupId" in ingress[0] and "CidrIp" not in ingress[0], "Studio only"
    assert ingress[0]["FromPort"] == ingress[0]["ToPort"] == props["Port"]
    findings = lint_by_config(ManualArgs(templates=[str(opted_in["file"])], ignore_checks=["W3005"]))
    assert not [f"{m.rule.id} {m.message}" for m in findings]


def _group(value: Any, stack: str, exports: dict[str, str]) -> str:
    """A security group reference as '<stack>/<logical id>', across an Fn::ImportValue of Level 0."""
    if "Fn::GetAtt" in value:
        return f"{stack}/{value['Fn::GetAtt'][0]}"
    return exports[value["Fn::ImportValue"]]


def _rules(templates: dict[str, dict[str, Any]], exports: dict[str, str]) -> list[dict[str, Any]]:
    """Every security group rule of the stacks, inline or standalone, as {direction, group, peer, ports}."""
    rules = []
    for stack, template in templates.items():
        for lid, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::EC2::SecurityGroup":
                for direction, key in (("egress", "SecurityGroupEgress"), ("ingress", "SecurityGroupIngress")):
                    for rule in props.get(key, []):
                        rules.append({"direction": direction, "group": f"{stack}/{lid}", "stack": stack, **rule})
            elif resource["Type"] in ("AWS::EC2::SecurityGroupEgress", "AWS::EC2::SecurityGroupIngress"):
                direction = "egress" if resource["Type"].endswith("Egress") else "ingress"
                group = _group(props["GroupId"], stack, exports)
                rules.append({**props, "direction": direction, "group": group, "stack": stack})
    for rule in rules:
        for key in ("SourceSecurityGroupId", "DestinationSecurityGroupId"):
            if key in rule:
                rule["peer"] = _group(rule[key], rule["stack"], exports)
    return rules


def _reaches(rules: list[dict[str, Any]], source: str, target: str, port: int) -> bool:
    """Both rules AWS needs for a TCP connection from `source`'s members to `target`'s on `port`."""

    def covers(rule: dict[str, Any], direction: str, group: str, peer: str) -> bool:
        return (
            rule["direction"] == direction
            and rule["group"] == group
            # Studio apps' interfaces are in the Studio VPC: a rule for its CIDR covers them.
            and (rule.get("peer") == peer or rule.get("CidrIp") in ("0.0.0.0/0", VPC_CIDR))
            and rule["IpProtocol"] in ("tcp", "-1")
            and (rule["IpProtocol"] == "-1" or rule["FromPort"] <= port <= rule["ToPort"])
        )

    egress = any(covers(rule, "egress", source, target) for rule in rules)
    ingress = any(covers(rule, "ingress", target, source) for rule in rules)
    return egress and ingress


def test_studio_apps_reach_their_teams_document_db(opted_in_dev):
    by_name = {s.stack_name: opted_in_dev.template(s) for s in opted_in_dev.stacks}
    level0_name, level3_name = "Mlops-dev-Level0Exploration", "Mlops-dev-Level3Scalable"
    level0, template = by_name[level0_name], by_name[level3_name]
    exports = {
        output["Export"]["Name"]: f"{level0_name}/{output['Value']['Fn::GetAtt'][0]}"
        for output in level0["Outputs"].values()
        if "Export" in output and "Fn::GetAtt" in output["Value"]
    }
    rules = _rules({level0_name: level0, level3_name: template}, exports)
    (domain,) = of_type(level0, "AWS::SageMaker::Domain").values()
    # PublicInternetOnly apps route everything but EFS through SageMaker's VPC: only VpcOnly reaches the cluster.
    assert domain["Properties"]["AppNetworkAccessType"] == "VpcOnly"
    (apps,) = domain["Properties"]["DefaultUserSettings"]["SecurityGroups"]
    studio = _group(apps, level0_name, exports)
    (cluster,) = of_type(template, "AWS::DocDB::DBCluster").values()
    (cluster_group,) = cluster["Properties"]["VpcSecurityGroupIds"]
    docdb = _group(cluster_group, level3_name, exports)
    port = cluster["Properties"]["Port"]
    assert _reaches(rules, studio, docdb, port), f"Studio apps ({studio}) cannot connect to {docdb} on {port}"
    assert not _reaches(rules, studio, docdb, 27017), "only the cluster's port"
    # Credentials are a secret: in a VpcOnly domain the notebook reaches Secrets Manager through an endpoint.
    services = [json.dumps(e["Properties"]["ServiceName"]) for e in of_type(level0, "AWS::EC2::VPCEndpoint").values()]
    assert any("secretsmanager" in service for service in services)
    assert _reaches(rules, studio, _endpoints_group(level0, level0_name), 443)


def _endpoints_group(level0: dict[str, Any], stack: str) -> str:
    (lid,) = [
        lid for lid in of_type(level0, "AWS::EC2::SecurityGroup") if lid.startswith("StudioEndpointsSecurityGroup")
    ]
    return f"{stack}/{lid}"


def test_the_team_role_may_read_its_document_db_secret_through_its_boundary(opted_in):
    template = opted_in["template"]
    simulator = PolicySimulator(template, account="111111111111", region="eu-west-1")
    # The ARN the team is told to use (the stack output), evaluated against role policy AND boundary.
    secret = simulator.resolve(template["Outputs"]["TeamChurnDocumentDbSecretArn"]["Value"])
    churn = role_id(template, "mlops-dev-churn-data-scientist")
    for action in ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"):
        decision = simulator.decide(churn, action, secret)
        assert decision.allowed, decision.why
    # Secrets Manager decrypts the secret with the team key on the caller's behalf.
    key = simulator.arn_of(team_logical_id(template, "churn", "Key", "AWS::KMS::Key"))
    via = {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    assert simulator.decide(churn, "kms:Decrypt", key, via).allowed
    # Another team's roles, and the churn team's other secrets, stay out.
    assert not simulator.decide(
        role_id(template, "mlops-dev-fraud-data-scientist"), "secretsmanager:GetSecretValue", secret
    ).allowed
    other = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:someone-else-AbCdEf"
    decision = simulator.decide(
        churn,
        "secretsmanager:GetSecretValue",
        other,
        extra_identity=[{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    )
    assert not decision.allowed and "boundary" in decision.why


# --- policy simulation: a team cannot reach another team's data ---------------------------------------


@pytest.fixture(scope="module")
def dev(templates, synthesized) -> tuple[PolicySimulator, dict[str, Any], Any]:
    config = synthesized["dev"].config
    template = level3(templates, "dev")
    return PolicySimulator(template, account=config.account, region=config.region), template, config


def _team_arns(simulator: PolicySimulator, template: dict[str, Any], team: str) -> dict[str, str]:
    return {
        "key": simulator.arn_of(team_logical_id(template, team, "Key", "AWS::KMS::Key")),
        "table": simulator.arn_of(team_logical_id(template, team, "FeatureTable", "AWS::DynamoDB::Table")),
        "bucket": simulator.arn_of("TeamDataBucket49D28CA1"),
    }


@pytest.mark.parametrize("role", ["data-scientist", "ml-engineer"])
def test_a_team_reads_its_own_prefix_and_never_another_teams(dev, role):
    simulator, template, _ = dev
    churn = role_id(template, f"mlops-dev-churn-{role}")
    bucket = _team_arns(simulator, template, "churn")["bucket"]
    own = f"{bucket}/{team_prefix('churn')}curated/churn/part-0.parquet"
    other = f"{bucket}/{team_prefix('fraud')}curated/part-0.parquet"
    assert simulator.decide(churn, "s3:GetObject", own).allowed
    decision = simulator.decide(churn, "s3:GetObject", other)
    assert not decision.allowed, decision.why
    listing = simulator.decide(churn, "s3:ListBucket", bucket, {"s3:prefix": team_prefix("fraud")})
    assert not listing.allowed
    own_listing = {"s3:prefix": f"{team_prefix('churn')}curated/churn/"}
    assert simulator.decide(churn, "s3:ListBucket", bucket, own_listing).allowed


def test_a_team_pipeline_reads_its_own_offline_store_and_never_another_teams(dev):
    simulator, template, config = dev
    pipeline = role_id(template, "mlops-dev-churn-pipeline")
    bucket = _team_arns(simulator, template, "churn")["bucket"]
    layout = f"{config.account}/sagemaker/{config.region}/offline-store"
    own = f"feature-store/mlops-dev-churn/{layout}/mlops-dev-churn-churn-features-1/data/year=2026/f.parquet"
    other = f"feature-store/mlops-dev-fraud/{layout}/mlops-dev-fraud-churn-features-1/data/year=2026/f.parquet"
    assert simulator.decide(pipeline, "s3:GetObject", f"{bucket}/{own}").allowed
    assert simulator.decide(pipeline, "kms:Decrypt", _team_arns(simulator, template, "churn")["key"]).allowed
    decision = simulator.decide(pipeline, "s3:GetObject", f"{bucket}/{other}")
    assert not decision.allowed, decision.why
    assert simulator.decide(pipeline, "s3:ListBucket", bucket, {"s3:prefix": "feature-store/mlops-dev-churn/"}).allowed
    assert not simulator.decide(
        pipeline, "s3:ListBucket", bucket, {"s3:prefix": "feature-store/mlops-dev-fraud/"}
    ).allowed
    # The curated CSV prefix the pipeline used to read is no longer its input.
    assert not simulator.decide(pipeline, "s3:GetObject", f"{bucket}/{team_prefix('churn')}curated/churn/p.csv").allowed


@pytest.mark.parametrize("role", ["model", "promotion"])
def test_the_team_endpoint_roles_stay_inside_the_team_prefix(dev, role):
    simulator, template, _ = dev
    if role == "model":
        role_lid = role_id(template, "mlops-dev-churn-model")
    else:
        (role_lid,) = [
            lid for lid in of_type(template, "AWS::IAM::Role") if lid.startswith("TeamchurnEndpointPromotion")
        ]
    bucket = _team_arns(simulator, template, "churn")["bucket"]
    assert simulator.decide(
        role_lid, "s3:GetObject", f"{bucket}/teams/churn/training-pipeline/run-1/model.tar.gz"
    ).allowed
    decision = simulator.decide(role_lid, "s3:GetObject", f"{bucket}/teams/fraud/training-pipeline/run-1/model.tar.gz")
    assert not decision.allowed, decision.why


def test_the_boundary_holds_even_if_someone_grants_a_team_role_everything(dev):
    simulator, template, _ = dev
    churn = role_id(template, "mlops-dev-churn-data-scientist")
    fraud = _team_arns(simulator, template, "fraud")
    admin = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    for action, resource in (
        ("s3:GetObject", f"{fraud['bucket']}/{team_prefix('fraud')}secret.csv"),
        ("kms:Decrypt", fraud["key"]),
        ("dynamodb:GetItem", fraud["table"]),
        ("iam:CreateRole", "arn:aws:iam::111111111111:role/escape"),
    ):
        decision = simulator.decide(churn, action, resource, extra_identity=admin)
        assert not decision.allowed and "boundary" in decision.why, (action, decision)
    own = _team_arns(simulator, template, "churn")
    assert simulator.decide(churn, "kms:Decrypt", own["key"], extra_identity=admin).allowed


def test_writes_under_a_team_prefix_need_that_teams_key(dev):
    simulator, template, _ = dev
    churn = role_id(template, "mlops-dev-churn-data-scientist")
    arns = _team_arns(simulator, template, "churn")
    fraud_key = _team_arns(simulator, template, "fraud")["key"]
    target = f"{arns['bucket']}/{team_prefix('churn')}raw/tickets.csv"
    header = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    assert simulator.decide(churn, "s3:PutObject", target, {header: arns["key"]}).allowed
    for context in ({header: fraud_key}, {}):
        decision = simulator.decide(churn, "s3:PutObject", target, context)
        assert not decision.allowed and "bucket policy" in decision.why


def test_teams_use_their_own_keys_and_tables_only(dev):
    simulator, template, _ = dev
    for team, other in (("churn", "fraud"), ("fraud", "churn")):
        role = role_id(template, f"mlops-dev-{team}-data-scientist")
        own, theirs = _team_arns(simulator, template, team), _team_arns(simulator, template, other)
        assert simulator.decide(role, "kms:Decrypt", own["key"]).allowed
        assert simulator.decide(role, "dynamodb:Query", own["table"]).allowed
        assert not simulator.decide(role, "kms:Decrypt", theirs["key"]).allowed
        assert not simulator.decide(role, "dynamodb:Query", theirs["table"]).allowed


def _group_arn(config: Any, team: str, spec: FeatureGroupSpec) -> str:
    name = feature_group_name(feature_group_prefix(config.resource_prefix, team), spec)
    return f"arn:aws:sagemaker:{config.region}:{config.account}:feature-group/{name.lower()}"


def test_each_team_has_its_own_feature_groups_under_its_key_and_offline_prefix(dev):
    _, template, config = dev
    groups = of_type(template, "AWS::SageMaker::FeatureGroup")
    for team in config.teams:
        key = team_logical_id(template, team.name, "Key", "AWS::KMS::Key")
        own = {lid: g["Properties"] for lid, g in groups.items() if lid.startswith(f"Team{team.name}Features")}
        prefix = feature_group_prefix(config.resource_prefix, team.name)
        expected = {feature_group_name(prefix, spec) for spec in FEATURE_GROUPS}
        assert {g["FeatureGroupName"] for g in own.values()} == expected
        for props in own.values():
            storage = props["OfflineStoreConfig"]["S3StorageConfig"]
            assert storage["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
            uri = json.dumps(storage["S3Uri"])
            assert f"/feature-store/{config.resource_prefix}-{team.name}" in uri, uri
            online = props.get("OnlineStoreConfig")
            if online:
                assert online["SecurityConfig"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}


@pytest.mark.parametrize(("role", "write"), [("data-scientist", True), ("ml-engineer", False)])
def test_a_team_puts_and_gets_records_of_its_own_feature_groups_only(dev, role, write):
    simulator, template, config = dev
    for team, other in (("churn", "fraud"), ("fraud", "churn")):
        lid = role_id(template, f"mlops-dev-{team}-{role}")
        own_key, other_key = _team_arns(simulator, template, team)["key"], _team_arns(simulator, template, other)["key"]
        for spec in FEATURE_GROUPS:
            own, theirs = _group_arn(config, team, spec), _group_arn(config, other, spec)
            for action in ("sagemaker:GetRecord", "sagemaker:BatchGetRecord"):
                assert simulator.decide(lid, action, own).allowed, (team, role, action, spec.suffix)
                assert not simulator.decide(lid, action, theirs).allowed, (team, role, action, spec.suffix)
            assert simulator.decide(lid, "sagemaker:PutRecord", own).allowed is write
            decision = simulator.decide(lid, "sagemaker:PutRecord", theirs)
            assert not decision.allowed, (team, role, decision.why)
        # The data plane also needs kms:Decrypt on the group's key (the team key): the boundary allows only its own,
        # so even an identity policy granting everything does not reach another team's online store.
        assert simulator.decide(lid, "kms:Decrypt", own_key).allowed
        admin = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        decision = simulator.decide(lid, "kms:Decrypt", other_key, extra_identity=admin)
        assert not decision.allowed and "boundary" in decision.why


@pytest.mark.parametrize("role", ["data-scientist", "ml-engineer"])
def test_a_team_reads_its_own_offline_store_and_never_another_teams(dev, role):
    simulator, template, config = dev
    bucket = _team_arns(simulator, template, "churn")["bucket"]
    churn = role_id(template, f"mlops-dev-churn-{role}")
    tail = f"{config.account}/sagemaker/{config.region}/offline-store/x-1/data/year=2026/part.parquet"
    own_prefix = f"feature-store/{config.resource_prefix}-churn/"
    other_prefix = f"feature-store/{config.resource_prefix}-fraud/"
    assert simulator.decide(churn, "s3:GetObject", f"{bucket}/{own_prefix}{tail}").allowed
    assert simulator.decide(churn, "s3:ListBucket", bucket, {"s3:prefix": own_prefix}).allowed
    admin = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    for extra in ((), admin):
        decision = simulator.decide(churn, "s3:GetObject", f"{bucket}/{other_prefix}{tail}", extra_identity=extra)
        assert not decision.allowed, decision.why
        decision = simulator.decide(churn, "s3:ListBucket", bucket, {"s3:prefix": other_prefix}, extra_identity=extra)
        assert not decision.allowed, decision.why


def test_the_offline_store_role_writes_only_its_teams_offline_store(dev):
    simulator, template, config = dev
    bucket = _team_arns(simulator, template, "churn")["bucket"]
    role = team_logical_id(template, "churn", "FeaturesOfflineStoreRole", "AWS::IAM::Role")
    tail = f"{config.account}/sagemaker/{config.region}/offline-store/x-1/data/part.parquet"
    for action in ("s3:PutObject", "s3:PutObjectAcl"):
        assert simulator.decide(role, action, f"{bucket}/feature-store/{config.resource_prefix}-churn/{tail}").allowed
        decision = simulator.decide(role, action, f"{bucket}/feature-store/{config.resource_prefix}-fraud/{tail}")
        assert not decision.allowed, decision.why
    assert simulator.decide(role, "s3:GetBucketAcl", bucket).allowed
    table = f"arn:aws:glue:{config.region}:{config.account}:table/sagemaker_featurestore/"
    churn_table = f"{config.resource_prefix}-churn-churn-features".replace("-", "_") + "_1764720000"
    assert simulator.decide(role, "glue:UpdateTable", table + churn_table).allowed
    decision = simulator.decide(role, "glue:UpdateTable", table + churn_table.replace("_churn_churn_", "_fraud_churn_"))
    assert not decision.allowed, decision.why


def test_instance_types_outside_the_teams_list_are_denied(dev):
    simulator, template, config = dev
    for team in config.teams:
        role = role_id(template, f"mlops-dev-{team.name}-data-scientist")
        job = f"arn:aws:sagemaker:{config.region}:{config.account}:training-job/{team.name}-experiment-1"
        for instance_type in team.allowed_instance_types:
            allowed = {"sagemaker:InstanceTypes": [instance_type]}
            assert simulator.decide(role, "sagemaker:CreateTrainingJob", job, allowed).allowed
        decision = simulator.decide(
            role, "sagemaker:CreateTrainingJob", job, {"sagemaker:InstanceTypes": ["ml.p4d.24xlarge"]}
        )
        assert not decision.allowed and "OnlyAllowedInstanceTypes" in decision.why
        other_team_job = f"arn:aws:sagemaker:{config.region}:{config.account}:training-job/someone-else-1"
        assert not simulator.decide(
            role, "sagemaker:CreateTrainingJob", other_team_job, {"sagemaker:InstanceTypes": ["ml.m5.large"]}
        ).allowed
    assert "sagemaker:CreateTrainingJob" in COMPUTE_ACTIONS


@pytest.mark.parametrize("env", ENV_NAMES)
def test_registry_readers_read_a_teams_model_artifacts_only(templates, synthesized, env):
    config = synthesized[env].config
    template = level3(templates, env)
    simulator = PolicySimulator(template, account=config.account, region=config.region)
    readers = sorted(f"arn:aws:iam::{account}:root" for account in config.training.registry_reader_accounts)
    (policy,) = of_type(template, "AWS::S3::BucketPolicy").values()
    granted = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Principal", {}) != "*"]
    granted = [s for s in granted if isinstance(s["Principal"], dict) and s["Principal"].get("AWS") == readers]
    expected = [team.name for team in config.teams if team.pipelines] if readers else []
    bucket = simulator.arn_of("TeamDataBucket49D28CA1")
    assert sorted(simulator.resolve(s["Resource"]) for s in granted) == sorted(
        f"{bucket}/{team_prefix(name)}training-pipeline/*" for name in expected
    )
    assert all(sorted(s["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"] for s in granted)
    for name in expected:
        key = template["Resources"][team_logical_id(template, name, "Key", "AWS::KMS::Key")]
        (decrypt,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Principal"].get("AWS") == readers]
        assert decrypt["Action"] == "kms:Decrypt"
        assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}}
