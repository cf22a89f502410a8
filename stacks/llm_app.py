"""The LLMOps application: the playground front end on ECS Fargate behind HTTPS, Cognito and WAF (opt-in)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_actions as elb_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks.components import lifecycle
from stacks.components.access import acknowledge_wildcard_resource, grant_objects
from stacks.components.buckets import secure_bucket
from stacks.config import PROJECT_ROOT, EnvironmentConfig
from stacks.nag import acknowledge

APP_DIR = PROJECT_ROOT / "apps" / "playground"
APP_PORT = 8501
HEALTH_CHECK_PATH = "/_stcore/health"  # Streamlit's own health endpoint: 200 "ok" once the server is up
VPC_CIDR = "10.42.0.0/16"
# AWS managed rule groups the web ACL applies (each 1 USD a month); the rate limit is per 5 minutes and IP.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
RATE_LIMIT_PER_5_MINUTES = 1000


APP_AVAILABILITY_ZONES = 2  # the load balancer needs two


class LlmAppStack(Stack):
    """The playground (``apps/playground``, Streamlit) as a service people sign in to.

    - Network: a VPC with public subnets for the load balancer and private subnets with one NAT gateway
      for the tasks (they pull their image and call AWS APIs); flow logs.
    - Front: an internet-facing ALB with an HTTPS listener (the configured ACM certificate, TLS 1.3 policy)
      whose default action signs users in through a Cognito user pool (no self sign-up, MFA required,
      strong passwords) before forwarding; HTTP redirects to HTTPS; access logs to a bucket of their own;
      a WAF web ACL with AWS managed rules and a per-IP rate limit (``waf``).
    - Service: Fargate tasks from the image built from ``apps/playground`` (Dockerfile: non-root, port
      8501), health-checked on ``/_stcore/health``, deployment circuit breaker with rollback, target
      tracking on CPU between ``minTasks`` and ``maxTasks``. The task role reads the prompt catalog,
      invokes the LLM gateway and reads evaluation scorecards; nothing else.

    Shipped like every stack: by the delivery pipeline (which builds the image; its deploy projects run
    privileged for that), with the manual approval before prod. Per environment: everything in
    ``llmops.app``, removal policy and log retention.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        prompt_table: dynamodb.ITable,
        gateway: lambda_.IFunction,
        artifacts_bucket: s3.IBucket,
        evaluations_prefix: str,
        access_log_bucket: s3.IBucket,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = config.llmops.app
        assert settings.domain_name and settings.certificate_arn and settings.cognito_domain_prefix  # validated
        removal_policy = lifecycle.removal_policy(config)
        retention = lifecycle.log_retention(config)
        name_prefix = f"{config.resource_prefix}-llm-app"

        # --- network ---------------------------------------------------------------------------------
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            # Resolved by CloudFormation (Fn::GetAZs): no account lookup at synth time (see availability_zones).
            availability_zones=self.availability_zones,
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", encryption_key=key, retention=retention, removal_policy=removal_policy
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))

        # --- sign-in -----------------------------------------------------------------------------------
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14, require_digits=True, require_lowercase=True, require_uppercase=True, require_symbols=True
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=removal_policy,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "The Plus feature plan (threat protection) is billed per monthly active user; MFA is required and "
            "self sign-up is off, so only invited users with a second factor get in. Upgrade in your fork if needed.",
        )
        domain = self.user_pool.add_domain(
            "SignInDomain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=settings.cognito_domain_prefix),
        )
        client = self.user_pool.add_client(
            "AlbClient",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[f"https://{settings.domain_name}/oauth2/idpresponse"],
                logout_urls=[f"https://{settings.domain_name}/"],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
        )

        # --- load balancer -------------------------------------------------------------------------------
        alb_logs = secure_bucket(
            self,
            "AlbLogs",
            encryption_key=None,  # ALB access logs support SSE-S3 only, not KMS keys
            access_logs=access_log_bucket,
            access_log_prefix="LlmAppAlbLogs/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.data_lake.access_log_expiration_days))],
            removal_policy=removal_policy,
            auto_delete_objects=config.auto_delete_objects,
        )
        alb_sg = ec2.SecurityGroup(
            self,
            "AlbSecurityGroup",
            vpc=self.vpc,
            description="Load balancer of the LLMOps app: HTTPS from the internet",
        )
        alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS from anywhere (Cognito sign-in, WAF)")
        alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
        acknowledge(
            alb_sg,
            "AwsSolutions-EC23",
            "A public web app: the load balancer accepts HTTPS (and HTTP, only redirected) from anywhere; WAF "
            "filters requests and every request must carry a Cognito session before it reaches a task.",
        )
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=self.vpc,
            internet_facing=True,
            security_group=alb_sg,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
        )
        self.alb.log_access_logs(alb_logs, prefix="alb")
        self.alb.add_redirect(source_port=80, target_port=443)

        # --- the service -----------------------------------------------------------------------------------
        cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=settings.cpu,
            memory_limit_mib=settings.memory_mb,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64, operating_system_family=ecs.OperatingSystemFamily.LINUX
            ),
        )
        app_logs = logs.LogGroup(
            self, "AppLogs", encryption_key=key, retention=retention, removal_policy=removal_policy
        )
        task.add_container(
            "Playground",
            image=ecs.ContainerImage.from_asset(str(APP_DIR)),
            port_mappings=[ecs.PortMapping(container_port=APP_PORT)],
            environment={
                "PORT": str(APP_PORT),
                "TABLE_NAME": prompt_table.table_name,
                "GATEWAY_FUNCTION_NAME": gateway.function_name,
                "AWS_REGION": self.region,
            },
            logging=ecs.LogDrivers.aws_logs(stream_prefix="playground", log_group=app_logs),
            readonly_root_filesystem=False,
        )
        execution_role = task.obtain_execution_role()
        assert isinstance(execution_role, iam.Role)
        acknowledge_wildcard_resource(
            execution_role,
            "*",
            "ecr:GetAuthorizationToken has no resource-level permissions; pulling is scoped to the image's "
            "repository by CDK's grant on the same role.",
        )
        acknowledge(
            task,
            "AwsSolutions-ECS2",
            "The variables are resource names (table, function, region, port), not secrets; the task role "
            "carries the permissions.",
        )
        service_sg = ec2.SecurityGroup(
            self,
            "ServiceSecurityGroup",
            vpc=self.vpc,
            description="Tasks of the LLMOps app: the app port from the load balancer only",
        )
        service_sg.add_ingress_rule(alb_sg, ec2.Port.tcp(APP_PORT), "the load balancer")
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            desired_count=settings.min_tasks,
            min_healthy_percent=100,
            max_healthy_percent=200,
            security_groups=[service_sg],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=Duration.seconds(60),
        )
        scaling = self.service.auto_scale_task_count(min_capacity=settings.min_tasks, max_capacity=settings.max_tasks)
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=settings.target_cpu_percent)

        listener = self.alb.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            open=False,  # alb_sg already allows 443 from anywhere, with an acknowledgement
        )
        targets = elbv2.ApplicationTargetGroup(
            self,
            "Targets",
            vpc=self.vpc,
            port=APP_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service],
            health_check=elbv2.HealthCheck(path=HEALTH_CHECK_PATH, healthy_http_codes="200"),
            # Streamlit keeps a websocket per session: keep a user on one task.
            stickiness_cookie_duration=Duration.hours(1),
            deregistration_delay=Duration.seconds(30),
        )
        listener.add_action(
            "SignInThenForward",
            action=elb_actions.AuthenticateCognitoAction(
                user_pool=self.user_pool,
                user_pool_client=client,
                user_pool_domain=domain,
                next=elbv2.ListenerAction.forward([targets]),
            ),
        )

        if settings.waf:
            self._web_acl(name_prefix)

        # --- what the app may do -------------------------------------------------------------------------
        role = task.task_role
        assert isinstance(role, iam.Role)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPromptCatalog",
                actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
                resources=[prompt_table.table_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CallTheGateway", actions=["lambda:InvokeFunction"], resources=[gateway.function_arn]
            )
        )
        key.grant(role, "kms:Decrypt")
        grant_objects(
            role, artifacts_bucket, key, prefix=evaluations_prefix, purpose="The app shows evaluation scorecards"
        )

        for output_id, value, description in (
            ("AppUrl", f"https://{settings.domain_name}/", "Point this DNS name at the load balancer (CNAME/alias)"),
            ("LoadBalancerDnsName", self.alb.load_balancer_dns_name, "The load balancer's own DNS name"),
            ("UserPoolId", self.user_pool.user_pool_id, "Invite users here (self sign-up is off)"),
            ("ServiceName", self.service.service_name, "ECS service of the playground"),
        ):
            CfnOutput(self, output_id, value=value, description=description)

    @property
    def availability_zones(self) -> list[str]:
        """The region's first two AZs, resolved by CloudFormation (``Fn::GetAZs``) for the app's VPC.

        Without this override the VPC reads the stack's AZs, which CDK looks up in the account at synth time
        (a context lookup: `cdk synth` then needs credentials), as Level 0 and Level 2 explain too.
        """
        return [Fn.select(index, Fn.get_azs()) for index in range(APP_AVAILABILITY_ZONES)]

    def _web_acl(self, name_prefix: str) -> None:
        def visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
            )

        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=index,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=visibility(group),
            )
            for index, group in enumerate(MANAGED_RULE_GROUPS)
        ]
        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerIp",
                priority=len(rules),
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=RATE_LIMIT_PER_5_MINUTES, aggregate_key_type="IP"
                    )
                ),
                visibility_config=visibility("RateLimitPerIp"),
            )
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"{name_prefix}-waf",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=visibility(f"{name_prefix}-waf"),
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclOnAlb", resource_arn=self.alb.load_balancer_arn, web_acl_arn=self.web_acl.attr_arn
        )
