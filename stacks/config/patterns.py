"""The names, limits and patterns cdk.json values are checked against (one place for all of them)."""

from __future__ import annotations

import re
from typing import Literal

ENVIRONMENTS_KEY = "mlops:environments"


DEFAULTS_KEY = "mlops:defaults"


# The project's name, first part of every stack name and physical name ("mlops" -> "Mlops-dev-Level0Exploration",
# "mlops-dev-studio"): two forks with different prefixes share an account without a clash.
NAME_PREFIX_KEY = "mlops:namePrefix"


# The CDK bootstrap qualifier of the target accounts (`cdk bootstrap --qualifier`), read from the same context key
# the CDK's default synthesizer reads, so that the pipeline's and GitHub's roles name the bootstrap roles it uses.
BOOTSTRAP_QUALIFIER_KEY = "@aws-cdk/core:bootstrapQualifier"


DEFAULT_BOOTSTRAP_QUALIFIER = "hnb659fds"


SELECTED_ENV_KEY = "env"


DEFAULT_ENV_NAME = "dev"


MAX_LEVEL = 3


# Commercial partitions' regions. A static list keeps synth offline; extend it when AWS opens a region.
AWS_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)


# The only values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


ATHENA_MIN_CUTOFF_BYTES = 10 * 1024 * 1024  # the smallest per-query limit Athena accepts


_ACCOUNT_RE = re.compile(r"^[0-9]{12}\Z")


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


_ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9]{1,15}\Z")


# Lowercase words joined by single hyphens: it starts IAM role names (64 characters at most with the longest
# environment and team names), DocumentDB and SageMaker names, and, with '-' as '_', the Glue database's name.
_NAME_PREFIX_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,9}\Z")


# What `cdk bootstrap --qualifier` accepts.
_BOOTSTRAP_QUALIFIER_RE = re.compile(r"^[A-Za-z0-9_-]{1,10}\Z")


_SCHEDULE_RE = re.compile(r"^cron\((\S+ ){5}\S+\)\Z")


# Foundation model IDs ("anthropic.claude-haiku-4-5-20251001-v1:0") and cross-region inference profiles
# ("eu.amazon.nova-lite-v1:0", "global.anthropic..."); stacks/bedrock_models.json says which a Region needs.
_MODEL_ID_RE = re.compile(r"^([a-z]{2,4}\.|global\.)?[a-z0-9-]+\.[a-z0-9.:-]+\Z")


_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")


_CONNECTION_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]+\Z"
)


_CERTIFICATE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]+\Z")


_DOMAIN_NAME_RE = re.compile(r"^(?=.{4,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")


_COGNITO_PREFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


# Fargate's CPU units and the memory (MiB) each allows.
FARGATE_MEMORY_MB = {
    256: (512, 2048),
    512: (1024, 4096),
    1024: (2048, 8192),
    2048: (4096, 16384),
    4096: (8192, 30720),
}


_GITHUB_PROVIDER_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\.actions\.githubusercontent\.com\Z"
)


_INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+\Z")


# Team names become parts of S3 prefixes, role names, tags and Studio profile names.
# No trailing or doubled '-': construct IDs drop the hyphens ("fraud-" would collide with "fraud") and DocumentDB
# refuses "--" in a cluster name.
_TEAM_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,19}\Z")


# Who may assume a team role: an IAM role ARN, or an IAM Identity Center permission set ("sso:Name"),
# whose provisioned role names are generated and are therefore matched by pattern.
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+\Z", re.ASCII)


RESERVED_PROFILE_NAME = "explorer"  # Level 0's shared Studio profile


_SSO_PERMISSION_SET_RE = re.compile(r"^sso:[\w+=,.@-]{1,32}\Z", re.ASCII)


RemovalPolicyName = Literal["retain", "destroy"]


StudioNetwork = Literal["PublicInternetOnly", "VpcOnly"]


GlueWorkerType = Literal["G.1X", "G.2X"]


EndpointMode = Literal["serverless", "provisioned"]
