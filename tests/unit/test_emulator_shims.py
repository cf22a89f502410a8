"""The local emulator: CloudFormation shims deploy, update and delete real moto resources.

One LocalAws serves the whole module (starting it costs about a second); every stack uses its own
name prefix, so tests do not see each other's resources.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.server import DEFAULT_ACCOUNT, EmulatorError, LocalAws, PortInUseError
from emulator.shims import SHIMMED_TYPES, emulation_status

REGION = "us-east-1"
ACCOUNT = "123456789012"  # the emulator's account

TLS_DENY_SID = "DenyInsecureTransport"
LOCKED_DENY_SID = "DenyDeletesOfLockedObjects"

# Fn::GetAtt attributes per shimmed type that has any (CloudFormation lists none for Glue
# types, S3::BucketPolicy and SageMaker::Pipeline; those are checked through Ref).
GETATT_OUTPUTS = {
    "WorkGroupCreationTime": ["WorkGroup", "CreationTime"],
    "WorkGroupEngine": ["WorkGroup", "WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion"],
    "DomainId": ["Domain", "DomainId"],
    "DomainArn": ["Domain", "DomainArn"],
    "DomainUrl": ["Domain", "Url"],
    "DomainSecurityGroup": ["Domain", "SecurityGroupIdForDomainBoundary"],
    "ModelPackageGroupArn": ["ModelPackageGroup", "ModelPackageGroupArn"],
    "ModelPackageGroupStatus": ["ModelPackageGroup", "ModelPackageGroupStatus"],
    "TopicPolicyId": ["TopicPolicy", "Id"],
    "SubscriptionArn": ["Subscription", "Arn"],
    "AlarmArn": ["Alarm", "Arn"],
    "ProjectArn": ["Project", "Arn"],
    "PipelineArn": ["CodePipeline", "Arn"],
    "PipelineVersion": ["CodePipeline", "Version"],
    "GuardrailArn": ["Guardrail", "GuardrailArn"],
    "GuardrailId": ["Guardrail", "GuardrailId"],
    "GuardrailVersionNumber": ["GuardrailVersion", "Version"],
    "KnowledgeBaseArn": ["KnowledgeBase", "KnowledgeBaseArn"],
    "DataSourceId": ["KnowledgeBaseSource", "DataSourceId"],
    "VectorIndexArn": ["VectorIndex", "IndexArn"],
    "UserProfileArn": ["UserProfile", "UserProfileArn"],
    "EgressRuleId": ["AppsEgress", "Id"],
    "AppsSecurityGroupId": ["AppsSecurityGroup", "GroupId"],
}
REF_OUTPUTS = [
    "Database",
    "Crawler",
    "Job",
    "SecurityConfiguration",
    "WorkGroup",
    "Domain",
    "ModelPackageGroup",
    "SageMakerPipeline",
    "BucketPolicy",
    "Alarm",
    "ErrorFilter",
    "Project",
    "CodePipeline",
    "Guardrail",
    "GuardrailVersion",
    "KnowledgeBase",
    "KnowledgeBaseSource",
    "VectorBucket",
]


def _trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def make_template(prefix: str, *, revision: str = "v1", threshold: float = 5.0) -> dict[str, Any]:
    """A stack with every shimmed type, wired together the way CDK wires them (Ref and GetAtt)."""
    bucket_arn = {"Fn::GetAtt": ["DataBucket", "Arn"]}
    resources: dict[str, Any] = {
        "Key": {
            "Type": "AWS::KMS::Key",
            "Properties": {
                # CDK tags every key; moto 5.2.5 fails on CloudFormation-style tags without the fix.
                "Tags": [{"Key": "mlops:project", "Value": prefix}],
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ],
                },
            },
        },
        "DataBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": f"{prefix}-data",
                # moto's own model ignores these three; the S3Bucket fix applies them.
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": ["Key", "Arn"]},
                            }
                        }
                    ]
                },
            },
        },
        "ArtifactBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"{prefix}-artifacts"}},
        "BucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "DataBucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": TLS_DENY_SID,
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": "s3:*",
                            "Resource": [bucket_arn, {"Fn::Join": ["", [bucket_arn, "/*"]]}],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                        {
                            "Sid": LOCKED_DENY_SID,
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:DeleteObject",
                            "Resource": {"Fn::Join": ["", [bucket_arn, "/locked/*"]]},
                        },
                    ],
                },
            },
        },
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{prefix}-glue",
                "AssumeRolePolicyDocument": _trust("glue.amazonaws.com"),
            },
        },
        "PipelineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{prefix}-pipeline",
                "AssumeRolePolicyDocument": _trust("codepipeline.amazonaws.com"),
            },
        },
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{prefix}-alarms"}},
        "TopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": "Topic"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": f"AllowCloudWatch{revision}",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": "Topic"},
                        }
                    ],
                },
            },
        },
        "Subscription": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": "team@example.com"},
        },
        "SecurityConfiguration": {
            "Type": "AWS::Glue::SecurityConfiguration",
            "Properties": {
                "Name": f"{prefix}-security",
                "EncryptionConfiguration": {
                    "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": {"Fn::GetAtt": ["Key", "Arn"]}}],
                    "CloudWatchEncryption": {"CloudWatchEncryptionMode": "DISABLED"},
                    "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "DISABLED"},
                },
            },
        },
        "Database": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseInput": {"Name": f"{prefix}_db", "Description": f"catalog {revision}"},
            },
        },
        "Crawler": {
            "Type": "AWS::Glue::Crawler",
            "Properties": {
                "Name": f"{prefix}-crawler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "DatabaseName": {"Ref": "Database"},
                "Description": f"crawler {revision}",
                "Targets": {"S3Targets": [{"Path": {"Fn::Sub": "s3://${DataBucket}/raw/"}}]},
                "Schedule": {"ScheduleExpression": "cron(0 3 * * ? *)"},
                "CrawlerSecurityConfiguration": {"Ref": "SecurityConfiguration"},
            },
        },
        "Job": {
            "Type": "AWS::Glue::Job",
            "Properties": {
                "Name": f"{prefix}-etl",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Command": {
                    "Name": "glueetl",
                    "ScriptLocation": {"Fn::Sub": "s3://${ArtifactBucket}/etl.py"},
                },
                "GlueVersion": "4.0",
                "WorkerType": "G.1X",
                "NumberOfWorkers": 2,
                "Timeout": 60,
                "SecurityConfiguration": {"Ref": "SecurityConfiguration"},
                "DefaultArguments": {"--revision": revision},
            },
        },
        "WorkGroup": {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": f"{prefix}-analysts",
                "Description": f"workgroup {revision}",
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "BytesScannedCutoffPerQuery": 1073741824,
                    "ResultConfiguration": {
                        "OutputLocation": {"Fn::Sub": "s3://${DataBucket}/athena/"},
                        "EncryptionConfiguration": {
                            "EncryptionOption": "SSE_KMS",
                            "KmsKey": {"Fn::GetAtt": ["Key", "Arn"]},
                        },
                    },
                },
            },
        },
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.20.0.0/16"}},
        "Subnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": "10.20.0.0/24",
                "AvailabilityZone": "us-east-1a",
            },
        },
        "Domain": {
            "Type": "AWS::SageMaker::Domain",
            "Properties": {
                "DomainName": f"{prefix}-studio",
                "AuthMode": "IAM",
                "AppNetworkAccessType": "PublicInternetOnly",
                "DefaultUserSettings": {"ExecutionRole": {"Fn::GetAtt": ["Role", "Arn"]}},
                "VpcId": {"Ref": "Vpc"},
                "SubnetIds": [{"Ref": "Subnet"}],
                "KmsKeyId": {"Ref": "Key"},
            },
        },
        "AppsSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "Studio apps", "VpcId": {"Ref": "Vpc"}},
        },
        "AppsEgress": {
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["AppsSecurityGroup", "GroupId"]},
                "DestinationSecurityGroupId": {"Fn::GetAtt": ["AppsSecurityGroup", "GroupId"]},
                "IpProtocol": "tcp",
                "FromPort": 2049,
                "ToPort": 2049,
                "Description": "EFS home directories",
            },
        },
        "UserProfile": {
            "Type": "AWS::SageMaker::UserProfile",
            "Properties": {"DomainId": {"Fn::GetAtt": ["Domain", "DomainId"]}, "UserProfileName": "explorer"},
        },
        "Budget": {
            "Type": "AWS::Budgets::Budget",
            "Properties": {
                "Budget": {
                    "BudgetName": f"{prefix}-team",
                    "BudgetType": "COST",
                    "TimeUnit": "MONTHLY",
                    "BudgetLimit": {"Amount": 150, "Unit": "USD"},
                    "CostFilters": {"TagKeyValue": ["user:mlops:team$fraud"]},
                },
                "NotificationsWithSubscribers": [
                    {
                        "Notification": {
                            "NotificationType": "ACTUAL",
                            "ComparisonOperator": "GREATER_THAN",
                            "Threshold": 80,
                            "ThresholdType": "PERCENTAGE",
                        },
                        "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "team@example.com"}],
                    }
                ],
            },
        },
        "FeatureGroup": {
            "Type": "AWS::SageMaker::FeatureGroup",
            "Properties": {
                "FeatureGroupName": f"{prefix}-features",
                "RecordIdentifierFeatureName": "id",
                "EventTimeFeatureName": "event_time",
                "FeatureDefinitions": [
                    {"FeatureName": "id", "FeatureType": "String"},
                    {"FeatureName": "event_time", "FeatureType": "String"},
                    {"FeatureName": "score", "FeatureType": "Fractional"},
                ],
                "OfflineStoreConfig": {
                    "S3StorageConfig": {
                        "S3Uri": {"Fn::Sub": "s3://${DataBucket}/feature-store"},
                        "KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]},
                    },
                    "DisableGlueTableCreation": False,
                },
                "OnlineStoreConfig": {"EnableOnlineStore": True},
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "Description": f"features {revision}",
            },
        },
        "ModelPackageGroup": {
            "Type": "AWS::SageMaker::ModelPackageGroup",
            "Properties": {
                "ModelPackageGroupName": f"{prefix}-models",
                "ModelPackageGroupDescription": f"models {revision}",
            },
        },
        "SageMakerPipeline": {
            "Type": "AWS::SageMaker::Pipeline",
            "Properties": {
                "PipelineName": f"{prefix}-training",
                "PipelineDescription": f"training {revision}",
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "PipelineDefinition": {
                    "PipelineDefinitionBody": json.dumps({"Version": "2020-12-01", "Steps": []}),
                },
            },
        },
        "JobLogs": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/{prefix}/etl", "RetentionInDays": 1},
        },
        "ErrorFilter": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": "JobLogs"},
                "FilterName": f"{prefix}-errors",
                "FilterPattern": "ERROR",
                "MetricTransformations": [
                    {
                        "MetricName": "EtlErrors",
                        "MetricNamespace": prefix,
                        "MetricValue": "1",
                        "Dimensions": [{"Key": "Stage", "Value": "$.stage"}],
                    }
                ],
            },
        },
        "Alarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"{prefix}-job-failures",
                "AlarmDescription": f"alarm {revision}",
                "Namespace": "Glue",
                "MetricName": "glue.driver.aggregate.numFailedTasks",
                "Dimensions": [{"Name": "JobName", "Value": {"Ref": "Job"}}],
                "Statistic": "Sum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": threshold,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "Topic"}],
            },
        },
        "Project": {
            "Type": "AWS::CodeBuild::Project",
            "Properties": {
                "Name": f"{prefix}-build",
                "Description": f"build {revision}",
                "ServiceRole": {"Fn::GetAtt": ["Role", "Arn"]},
                "Source": {"Type": "CODEPIPELINE", "BuildSpec": "version: 0.2"},
                "Artifacts": {"Type": "CODEPIPELINE"},
                "Environment": {
                    "Type": "LINUX_CONTAINER",
                    "ComputeType": "BUILD_GENERAL1_SMALL",
                    "Image": "aws/codebuild/standard:7.0",
                    "EnvironmentVariables": [{"Name": "REVISION", "Value": revision}],
                },
                "EncryptionKey": {"Fn::GetAtt": ["Key", "Arn"]},
            },
        },
        "CodePipeline": {
            "Type": "AWS::CodePipeline::Pipeline",
            "Properties": {
                "Name": f"{prefix}-release",
                "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]},
                "ArtifactStore": {"Type": "S3", "Location": {"Ref": "ArtifactBucket"}},
                "Stages": [
                    {
                        "Name": "Source",
                        "Actions": [
                            {
                                "Name": "Source",
                                "ActionTypeId": {
                                    "Category": "Source",
                                    "Owner": "AWS",
                                    "Provider": "S3",
                                    "Version": "1",
                                },
                                "Configuration": {
                                    "S3Bucket": {"Ref": "ArtifactBucket"},
                                    "S3ObjectKey": "source.zip",
                                    "PollForSourceChanges": False,
                                },
                                "OutputArtifacts": [{"Name": "Src"}],
                            }
                        ],
                    },
                    {
                        "Name": "Build",
                        "Actions": [
                            {
                                "Name": "Build",
                                "ActionTypeId": {
                                    "Category": "Build",
                                    "Owner": "AWS",
                                    "Provider": "CodeBuild",
                                    "Version": "1",
                                },
                                "Configuration": {"ProjectName": {"Ref": "Project"}},
                                "InputArtifacts": [{"Name": "Src"}],
                            }
                        ],
                    },
                ],
            },
        },
        "Guardrail": {
            "Type": "AWS::Bedrock::Guardrail",
            "Properties": {
                "Name": f"{prefix}-guardrail",
                "BlockedInputMessaging": "Sorry.",
                "BlockedOutputsMessaging": "Sorry.",
                "ContentPolicyConfig": {
                    "FiltersConfig": [{"Type": "HATE", "InputStrength": "HIGH", "OutputStrength": "HIGH"}]
                },
            },
        },
        "GuardrailVersion": {
            "Type": "AWS::Bedrock::GuardrailVersion",
            "Properties": {"GuardrailIdentifier": {"Fn::GetAtt": ["Guardrail", "GuardrailId"]}},
        },
        "VectorBucket": {
            "Type": "AWS::S3Vectors::VectorBucket",
            "Properties": {"VectorBucketName": f"{prefix}-vectors"},
        },
        "VectorIndex": {
            "Type": "AWS::S3Vectors::Index",
            "Properties": {
                "VectorBucketArn": {"Ref": "VectorBucket"},
                "DataType": "float32",
                "Dimension": 256,
                "DistanceMetric": "cosine",
            },
        },
        "VectorBucketPolicy": {
            "Type": "AWS::S3Vectors::VectorBucketPolicy",
            "Properties": {
                "VectorBucketArn": {"Ref": "VectorBucket"},
                "Policy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"},
                            "Action": "s3vectors:QueryVectors",
                            "Resource": "*",
                        }
                    ],
                },
            },
        },
        "KnowledgeBase": {
            "Type": "AWS::Bedrock::KnowledgeBase",
            "Properties": {
                "Name": f"{prefix}-kb",
                "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]},
                "KnowledgeBaseConfiguration": {
                    "Type": "VECTOR",
                    "VectorKnowledgeBaseConfiguration": {
                        "EmbeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
                        "EmbeddingModelConfiguration": {"BedrockEmbeddingModelConfiguration": {"Dimensions": 256}},
                    },
                },
                "StorageConfiguration": {
                    "Type": "S3_VECTORS",
                    "S3VectorsConfiguration": {"IndexArn": {"Fn::GetAtt": ["VectorIndex", "IndexArn"]}},
                },
            },
        },
        "KnowledgeBaseSource": {
            "Type": "AWS::Bedrock::DataSource",
            "Properties": {
                "Name": f"{prefix}-docs",
                "KnowledgeBaseId": {"Ref": "KnowledgeBase"},
                "DataSourceConfiguration": {"Type": "S3", "S3Configuration": {"BucketArn": bucket_arn}},
            },
        },
        "MlflowApp": {
            "Type": "AWS::SageMaker::MlflowApp",
            "Properties": {
                "Name": f"{prefix}-mlflow",
                "ArtifactStoreUri": f"s3://{prefix}-artifacts/mlflow/",
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlflow",
            },
        },
        # CDK's AwsCustomResource: the SDK call in its Create property runs against the recorded app.
        "MlflowDefaultDomain": {
            "Type": "Custom::AWS",
            "Properties": {
                "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sdk-calls",
                "Create": {
                    "Fn::Join": [
                        "",
                        [
                            '{"service":"SageMaker","action":"UpdateMlflowApp","parameters":{"Arn":"',
                            {"Ref": "MlflowApp"},
                            '","DefaultDomainIdList":["d-shimdomain1"]}}',
                        ],
                    ]
                },
            },
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{prefix}-queue"}},
        "QueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "Queue"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sqs:*",
                            "Resource": "*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": f"{prefix}-api"}},
        "ApiValidator": {
            "Type": "AWS::ApiGateway::RequestValidator",
            "Properties": {"RestApiId": {"Ref": "Api"}, "ValidateRequestParameters": True},
        },
        "ApiMethod": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "HttpMethod": "GET",
                "AuthorizationType": "AWS_IAM",
                "Integration": {"Type": "HTTP_PROXY", "IntegrationHttpMethod": "GET", "Uri": "http://localhost/"},
            },
        },
        "ApiDeployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["ApiMethod"],
            "Properties": {"RestApiId": {"Ref": "Api"}},
        },
        "ApiStage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {"RestApiId": {"Ref": "Api"}, "DeploymentId": {"Ref": "ApiDeployment"}, "StageName": "v1"},
        },
    }
    outputs = {name: {"Value": {"Fn::GetAtt": target}} for name, target in GETATT_OUTPUTS.items()}
    outputs.update({f"Ref{logical_id}": {"Value": {"Ref": logical_id}} for logical_id in REF_OUTPUTS})
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, "Outputs": outputs}


def _outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    assert stack["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}, stack["StackStatus"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def _deploy(aws: LocalAws, stack_name: str, template: dict[str, Any]) -> dict[str, str]:
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    return _outputs(cfn, stack_name)


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws(region=REGION) as local:
        yield local


@pytest.fixture(scope="module")
def deployed(aws: LocalAws) -> dict[str, str]:
    return _deploy(aws, "shims-read", make_template("shimread"))


# -- the stack and its resources -----------------------------------------------------------------


def test_every_shimmed_type_is_a_stack_resource(aws: LocalAws, deployed: dict[str, str]) -> None:
    resources = aws.client("cloudformation").describe_stack_resources(StackName="shims-read")["StackResources"]
    deployed_types = {resource["ResourceType"] for resource in resources}
    assert set(SHIMMED_TYPES) <= deployed_types
    # Every shimmed resource gets a physical ID (moto's own API Gateway methods have none).
    assert all(r.get("PhysicalResourceId") for r in resources if r["ResourceType"] in SHIMMED_TYPES)


def test_feature_group_has_its_offline_table_and_records_go_through_the_stand_in(
    aws: LocalAws, deployed: dict[str, str]
) -> None:
    described = aws.client("sagemaker").describe_feature_group(FeatureGroupName="shimread-features")
    offline = described["OfflineStoreConfig"]
    # AWS's form of the resolved URI: <S3Uri>/<account>/sagemaker/<region>/offline-store/<name>-<time>/data
    assert re.fullmatch(
        rf"s3://[^/]+/feature-store/{ACCOUNT}/sagemaker/{aws.region}/offline-store/shimread-features-\d+/data",
        offline["S3StorageConfig"]["ResolvedOutputS3Uri"],
    )
    assert described["OnlineStoreConfig"] == {"EnableOnlineStore": True}
    catalog = offline["DataCatalogConfig"]
    table = aws.client("glue").get_table(DatabaseName=catalog["Database"], Name=catalog["TableName"])["Table"]
    assert catalog["Database"] == "sagemaker_featurestore"
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [
        "id",
        "event_time",
        "score",
        "write_time",
        "api_invocation_time",
        "is_deleted",
    ]
    runtime = aws.client("sagemaker-featurestore-runtime")
    record = [
        {"FeatureName": "id", "ValueAsString": "a"},
        {"FeatureName": "event_time", "ValueAsString": "2026-12-03T10:00:00Z"},
        {"FeatureName": "score", "ValueAsString": "0.5"},
    ]
    runtime.put_record(FeatureGroupName="shimread-features", Record=record)
    assert (
        runtime.get_record(FeatureGroupName="shimread-features", RecordIdentifierValueAsString="a")["Record"] == record
    )
    with pytest.raises(runtime.exceptions.ClientError, match="not a valid Fractional"):
        runtime.put_record(
            FeatureGroupName="shimread-features", Record=[*record[:2], {"FeatureName": "score", "ValueAsString": "x"}]
        )
    with pytest.raises(runtime.exceptions.ClientError, match="is not defined"):
        runtime.put_record(
            FeatureGroupName="shimread-features", Record=[*record, {"FeatureName": "other", "ValueAsString": "1"}]
        )
    with pytest.raises(runtime.exceptions.ResourceNotFound):
        runtime.get_record(FeatureGroupName="absent", RecordIdentifierValueAsString="a")


def test_budget_is_stored_with_its_limit_filter_and_notifications(aws: LocalAws, deployed: dict[str, str]) -> None:
    budgets = aws.client("budgets")
    budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="shimread-team")["Budget"]
    assert budget["BudgetLimit"] == {"Amount": "150", "Unit": "USD"}
    assert budget["CostFilters"] == {"TagKeyValue": ["user:mlops:team$fraud"]}
    (notification,) = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName="shimread-team")[
        "Notifications"
    ]
    assert notification["Threshold"] == 80


def test_api_gateway_validator_and_stage_exist(aws: LocalAws, deployed: dict[str, str]) -> None:
    apigateway = aws.client("apigateway")
    (api,) = [a for a in apigateway.get_rest_apis()["items"] if a["name"].endswith("-api")]
    (validator,) = apigateway.get_request_validators(restApiId=api["id"])["items"]
    assert validator["validateRequestParameters"] is True
    assert apigateway.get_stage(restApiId=api["id"], stageName="v1")["stageName"] == "v1"


def test_queue_policy_is_stored_on_the_queue(aws: LocalAws, deployed: dict[str, str]) -> None:
    sqs = aws.client("sqs")
    (url,) = [u for u in sqs.list_queues()["QueueUrls"] if u.endswith("-queue")]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_kms_key_with_tags_and_policy_works(aws: LocalAws, deployed: dict[str, str]) -> None:
    # Stock moto fails the stack on CloudFormation-style tags and breaks every KMS call on the key.
    resource = aws.client("cloudformation").describe_stack_resource(StackName="shims-read", LogicalResourceId="Key")
    key_id = resource["StackResourceDetail"]["PhysicalResourceId"]
    kms = aws.client("kms")
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "mlops:project", "TagValue": "shimread"}]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Action"] == "kms:*"


def test_glue_resources_exist(aws: LocalAws, deployed: dict[str, str]) -> None:
    glue = aws.client("glue")
    assert deployed["RefDatabase"] == "shimread_db"
    assert glue.get_database(Name="shimread_db")["Database"]["Description"] == "catalog v1"

    crawler = glue.get_crawler(Name=deployed["RefCrawler"])["Crawler"]
    assert crawler["DatabaseName"] == "shimread_db"
    assert crawler["Targets"]["S3Targets"] == [{"Path": "s3://shimread-data/raw/"}]
    assert crawler["Schedule"]["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert crawler["CrawlerSecurityConfiguration"] == "shimread-security"

    job = glue.get_job(JobName=deployed["RefJob"])["Job"]
    assert job["Command"]["ScriptLocation"] == "s3://shimread-artifacts/etl.py"
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 2)

    configuration = glue.get_security_configuration(Name=deployed["RefSecurityConfiguration"])
    s3_encryption = configuration["SecurityConfiguration"]["EncryptionConfiguration"]["S3Encryption"]
    assert s3_encryption[0]["S3EncryptionMode"] == "SSE-KMS"


def test_athena_workgroup_exists(aws: LocalAws, deployed: dict[str, str]) -> None:
    work_group = aws.client("athena").get_work_group(WorkGroup=deployed["RefWorkGroup"])["WorkGroup"]
    assert work_group["Configuration"]["BytesScannedCutoffPerQuery"] == 1073741824
    assert work_group["Configuration"]["ResultConfiguration"]["OutputLocation"] == "s3://shimread-data/athena/"
    assert deployed["WorkGroupEngine"] == "Athena engine version 3"
    assert deployed["WorkGroupCreationTime"]


def test_sagemaker_resources_exist(aws: LocalAws, deployed: dict[str, str]) -> None:
    sagemaker = aws.client("sagemaker")
    assert deployed["RefDomain"] == deployed["DomainId"]
    domain = sagemaker.describe_domain(DomainId=deployed["DomainId"])
    assert domain["DomainName"] == "shimread-studio"
    assert domain["DomainArn"] == deployed["DomainArn"]
    assert domain["Url"] == deployed["DomainUrl"]
    assert domain["SecurityGroupIdForDomainBoundary"] == deployed["DomainSecurityGroup"]
    assert domain["VpcId"].startswith("vpc-")

    group = sagemaker.describe_model_package_group(ModelPackageGroupName="shimread-models")
    # Ref of a model package group is its ARN, as in CloudFormation.
    assert group["ModelPackageGroupArn"] == deployed["RefModelPackageGroup"] == deployed["ModelPackageGroupArn"]
    assert deployed["ModelPackageGroupStatus"] == group["ModelPackageGroupStatus"]

    pipeline = sagemaker.describe_pipeline(PipelineName=deployed["RefSageMakerPipeline"])
    assert json.loads(pipeline["PipelineDefinition"])["Steps"] == []

    # Recorded only: the ARN has SageMaker's shape, but no API knows the profile.
    assert deployed["UserProfileArn"] == (
        f"arn:aws:sagemaker:{REGION}:{DEFAULT_ACCOUNT}:user-profile/{deployed['DomainId']}/explorer"
    )


def test_security_group_egress_rule_exists(aws: LocalAws, deployed: dict[str, str]) -> None:
    group_id = deployed["AppsSecurityGroupId"]
    rules = aws.client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    egress = [rule for rule in rules["SecurityGroupRules"] if rule["IsEgress"] and rule.get("FromPort") == 2049]
    assert [rule["SecurityGroupRuleId"] for rule in egress] == [deployed["EgressRuleId"]]
    assert egress[0]["ReferencedGroupInfo"]["GroupId"] == group_id


def test_cloudwatch_alarm_exists(aws: LocalAws, deployed: dict[str, str]) -> None:
    alarms = aws.client("cloudwatch").describe_alarms(AlarmNames=[deployed["RefAlarm"]])["MetricAlarms"]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["AlarmArn"] == deployed["AlarmArn"]
    assert alarm["Threshold"] == 5.0
    assert alarm["Dimensions"] == [{"Name": "JobName", "Value": "shimread-etl"}]
    assert alarm["AlarmActions"] == [f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT}:shimread-alarms"]


def test_log_metric_filter_exists(aws: LocalAws, deployed: dict[str, str]) -> None:
    filters = aws.client("logs").describe_metric_filters(logGroupName="/shimread/etl")["metricFilters"]
    assert [f["filterName"] for f in filters] == [deployed["RefErrorFilter"]]
    transformation = filters[0]["metricTransformations"][0]
    assert (transformation["metricName"], transformation["dimensions"]) == ("EtlErrors", {"Stage": "$.stage"})


def test_sns_topic_policy_and_subscription(aws: LocalAws, deployed: dict[str, str]) -> None:
    sns = aws.client("sns")
    topic_arn = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT}:shimread-alarms"
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["AllowCloudWatchv1"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subscriptions] == [deployed["SubscriptionArn"]]
    assert deployed["TopicPolicyId"]


def test_codebuild_and_codepipeline_exist(aws: LocalAws, deployed: dict[str, str]) -> None:
    project = aws.client("codebuild").batch_get_projects(names=[deployed["RefProject"]])["projects"][0]
    assert project["arn"] == deployed["ProjectArn"]
    assert project["source"]["buildspec"] == "version: 0.2"
    assert project["environment"]["environmentVariables"] == [{"name": "REVISION", "value": "v1"}]

    response = aws.client("codepipeline").get_pipeline(name=deployed["RefCodePipeline"])
    assert response["metadata"]["pipelineArn"] == deployed["PipelineArn"]
    assert deployed["PipelineVersion"] == "1"
    source, build = response["pipeline"]["stages"]
    assert source["actions"][0]["configuration"] == {
        "S3Bucket": "shimread-artifacts",
        "S3ObjectKey": "source.zip",
        "PollForSourceChanges": "false",
    }
    assert build["actions"][0]["configuration"] == {"ProjectName": "shimread-build"}


def test_bedrock_guardrail_is_recorded_with_stable_ids(deployed: dict[str, str]) -> None:
    guardrail_id = deployed["GuardrailId"]
    assert len(guardrail_id) == 12 and guardrail_id.isalnum() and guardrail_id.islower()
    assert deployed["RefGuardrail"] == deployed["GuardrailArn"]
    assert deployed["GuardrailArn"] == f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT}:guardrail/{guardrail_id}"
    assert deployed["RefGuardrailVersion"] == f"{guardrail_id}|1"
    assert deployed["GuardrailVersionNumber"] == "1"


def test_bucket_settings_moto_skips_are_applied(aws: LocalAws, deployed: dict[str, str]) -> None:
    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket="shimread-data")["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket="shimread-data")["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
    rules = s3.get_bucket_ownership_controls(Bucket="shimread-data")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    encryption = s3.get_bucket_encryption(Bucket="shimread-data")["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"


# -- the bucket policy shim ---------------------------------------------------------------------


def test_bucket_policy_keeps_unconditional_deny_but_not_the_tls_deny(aws: LocalAws, deployed: dict[str, str]) -> None:
    s3 = aws.client("s3")
    assert deployed["RefBucketPolicy"] == "shimread-data"
    policy = json.loads(s3.get_bucket_policy(Bucket="shimread-data")["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == [LOCKED_DENY_SID]

    # Without the TLS deny, ordinary object calls work over the emulator's plain HTTP ...
    s3.put_object(Bucket="shimread-data", Key="raw/a.csv", Body=b"a,b\n")
    s3.put_object(Bucket="shimread-data", Key="locked/b.csv", Body=b"a,b\n")
    s3.delete_object(Bucket="shimread-data", Key="raw/a.csv")
    # ... and the unconditional Deny is still enforced.
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket="shimread-data", Key="locked/b.csv")
    # moto answers a bucket-policy denial with a bare 403, no error code.
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# -- update and delete --------------------------------------------------------------------------


def test_update_replaces_resources_and_delete_removes_them(aws: LocalAws) -> None:
    cfn = aws.client("cloudformation")
    first = _deploy(aws, "shims-cycle", make_template("shimcycle"))

    cfn.update_stack(
        StackName="shims-cycle",
        TemplateBody=json.dumps(make_template("shimcycle", revision="v2", threshold=9.0)),
    )
    second = _outputs(cfn, "shims-cycle")
    # Names do not change on update, so neither do Refs.
    assert {key: second[key] for key in second if key.startswith("Ref")} == {
        key: first[key] for key in first if key.startswith("Ref")
    }

    glue, sagemaker = aws.client("glue"), aws.client("sagemaker")
    assert glue.get_database(Name="shimcycle_db")["Database"]["Description"] == "catalog v2"
    assert glue.get_crawler(Name="shimcycle-crawler")["Crawler"]["Description"] == "crawler v2"
    assert glue.get_job(JobName="shimcycle-etl")["Job"]["DefaultArguments"] == {"--revision": "v2"}
    work_group = aws.client("athena").get_work_group(WorkGroup="shimcycle-analysts")["WorkGroup"]
    assert work_group["Description"] == "workgroup v2"
    group = sagemaker.describe_model_package_group(ModelPackageGroupName="shimcycle-models")
    assert group["ModelPackageGroupDescription"] == "models v2"
    assert sagemaker.describe_pipeline(PipelineName="shimcycle-training")["PipelineDescription"] == "training v2"
    alarm = aws.client("cloudwatch").describe_alarms(AlarmNames=["shimcycle-job-failures"])["MetricAlarms"][0]
    assert (alarm["Threshold"], alarm["AlarmDescription"]) == (9.0, "alarm v2")
    project = aws.client("codebuild").batch_get_projects(names=["shimcycle-build"])["projects"][0]
    assert project["description"] == "build v2"
    topic_arn = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT}:shimcycle-alarms"
    policy = json.loads(aws.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["AllowCloudWatchv2"]
    # The bucket policy was replaced too, and still without the TLS deny.
    bucket_policy = json.loads(aws.client("s3").get_bucket_policy(Bucket="shimcycle-data")["Policy"])
    assert [statement["Sid"] for statement in bucket_policy["Statement"]] == [LOCKED_DENY_SID]

    cfn.delete_stack(StackName="shims-cycle")

    with pytest.raises(ClientError):
        glue.get_database(Name="shimcycle_db")
    with pytest.raises(ClientError):
        glue.get_crawler(Name="shimcycle-crawler")
    assert "shimcycle-etl" not in glue.list_jobs()["JobNames"]
    with pytest.raises(ClientError):
        glue.get_security_configuration(Name="shimcycle-security")
    work_groups = aws.client("athena").list_work_groups()["WorkGroups"]
    assert "shimcycle-analysts" not in {work_group["Name"] for work_group in work_groups}
    with pytest.raises(ClientError):
        sagemaker.describe_domain(DomainId=first["DomainId"])
    with pytest.raises(ClientError):
        sagemaker.describe_model_package_group(ModelPackageGroupName="shimcycle-models")
    with pytest.raises(ClientError):
        sagemaker.describe_pipeline(PipelineName="shimcycle-training")
    assert aws.client("cloudwatch").describe_alarms(AlarmNames=["shimcycle-job-failures"])["MetricAlarms"] == []
    assert aws.client("logs").describe_metric_filters(filterNamePrefix="shimcycle")["metricFilters"] == []
    assert aws.client("codebuild").batch_get_projects(names=["shimcycle-build"])["projects"] == []
    with pytest.raises(ClientError):
        aws.client("codepipeline").get_pipeline(name="shimcycle-release")
    remaining = aws.client("cloudformation").list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])
    assert "shims-cycle" not in {summary["StackName"] for summary in remaining["StackSummaries"]}


def test_getatt_of_an_attribute_cloudformation_does_not_have_fails_the_stack(aws: LocalAws) -> None:
    # AWS::Glue::Crawler has no Fn::GetAtt attributes; the emulator must not invent an "Arn".
    template = make_template("shimbad")
    template["Outputs"] = {"CrawlerArn": {"Value": {"Fn::GetAtt": ["Crawler", "Arn"]}}}
    with pytest.raises(ClientError, match="Arn"):
        aws.client("cloudformation").create_stack(StackName="shims-bad", TemplateBody=json.dumps(template))


# -- the registry -------------------------------------------------------------------------------


def test_shims_cover_only_types_moto_lacks() -> None:
    # Fails after a moto upgrade that emulates one of these types: then delete that shim.
    from moto.cloudformation.parsing import get_model_list, get_model_map

    from emulator import shims

    ours = set(shims._SHIMS) | set(shims._FIXES)
    claimed_by_moto = {model.cloudformation_type() for model in get_model_list() if model not in ours}
    assert not (set(SHIMMED_TYPES) - shims._FIXED_TYPES) & claimed_by_moto
    # A fix stands in for moto's own model of the type, so moto must pick the fix.
    for fix in shims._FIXES:
        assert get_model_map()[fix.cloudformation_type()] is fix


def test_emulation_status_is_honest() -> None:
    assert emulation_status("AWS::SQS::Queue") == "moto"
    assert emulation_status("AWS::S3::Bucket") == "shim"  # moto's model, with the settings it skips applied
    assert emulation_status("AWS::Glue::Crawler") == "shim"
    assert emulation_status("AWS::Bedrock::Guardrail") == "recorded only"
    # Backed: moto's s3vectors holds the index; the knowledge-base stand-in serves the knowledge base.
    assert emulation_status("AWS::Bedrock::KnowledgeBase") == "shim"
    assert emulation_status("AWS::S3Vectors::Index") == "shim"
    assert "recorded only, not emulated" in SHIMMED_TYPES["AWS::Bedrock::Guardrail"]
    assert emulation_status("Custom::S3AutoDeleteObjects") == "not emulated"
    assert emulation_status("Custom::AWS") == "shim"  # CDK's AwsCustomResource: its SDK call, listed calls only
    assert emulation_status("AWS::Backup::BackupPlan") == "not emulated"
    assert "Deny" in SHIMMED_TYPES["AWS::S3::BucketPolicy"]


def test_coverage_command_reports_what_is_not_emulated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.__main__ import main

    template = tmp_path / "stack.template.json"
    resources = {"A": {"Type": "AWS::Glue::Crawler"}, "B": {"Type": "AWS::S3::Bucket"}}
    template.write_text(json.dumps({"Resources": resources}))
    assert main(["coverage", str(template)]) == 0
    resources["C"] = {"Type": "AWS::Backup::BackupPlan"}
    template.write_text(json.dumps({"Resources": resources}))
    assert main(["coverage", str(template)]) == 1
    report = capsys.readouterr().out
    assert "not emulated  AWS::Backup::BackupPlan" in report
    assert f"AWS::Glue::Crawler: {SHIMMED_TYPES['AWS::Glue::Crawler']}" in report


# -- the server ---------------------------------------------------------------------------------


def test_server_listens_on_loopback_only(aws: LocalAws) -> None:
    assert aws.endpoint_url == f"http://localhost:{aws.port}"
    server = aws._server
    assert server is not None and server.server_address[0] == "127.0.0.1"


def test_env_points_subprocesses_at_the_emulator(aws: LocalAws) -> None:
    env = aws.env(
        {
            "PATH": "/usr/bin",
            "AWS_PROFILE": "prod",
            "AWS_SESSION_TOKEN": "x",
            "AWS_ENDPOINT_URL_S3": "https://s3",
        }
    )
    assert env["PATH"] == "/usr/bin"
    assert env["AWS_ENDPOINT_URL"] == aws.endpoint_url
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert env["CDK_DEFAULT_ACCOUNT"] == DEFAULT_ACCOUNT
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"} & set(env)


def test_a_second_emulator_in_the_same_process_is_refused(aws: LocalAws) -> None:
    with pytest.raises(EmulatorError, match="already running"), LocalAws():
        pass
    assert aws.running


def test_port_in_use_gives_a_clear_error(aws: LocalAws) -> None:
    # Runs last: it stops the module's emulator to be allowed to start another.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        aws.stop()
        with pytest.raises(PortInUseError, match=f"^Port {port} on 127.0.0.1 is already in use") as error:
            LocalAws(port=port).start()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("interruption", [RuntimeError("boom"), KeyboardInterrupt()])
def test_emulator_stops_and_frees_its_port_however_the_block_ends(interruption: BaseException) -> None:
    with pytest.raises(type(interruption)), LocalAws() as local:
        port = local.port
        raise interruption
    assert not local.running
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # would fail if the server still held it
