"""The emulator's corrections to moto's CloudFormation engine, and the bucket clean-up helper.

Each test reproduces what the CDK CLI ran into against stock moto 5.2.5 (see emulator/fixes.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from emulator.cleanup import empty_bucket, empty_stack_buckets
from emulator.fixes import ENGINE_FIXES
from emulator.server import LocalAws


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws(region="us-east-1") as local:
        yield local


def _status(aws: LocalAws, stack_name: str) -> str:
    return str(aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"])


def _key_template(description: str) -> dict[str, Any]:
    return {
        "Parameters": {
            # What the CDK CLI adds to every stack; created from its Default, updated with UsePreviousValue.
            "BootstrapVersion": {"Type": "String", "Default": "21"},
        },
        "Resources": {
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "Description": description,
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ],
                    },
                },
            },
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": "fixes-keyed",
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {
                                "ServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": "aws:kms",
                                    "KMSMasterKeyID": {"Ref": "Key"},
                                }
                            }
                        ]
                    },
                },
            },
        },
        "Outputs": {"KeyId": {"Value": {"Ref": "Key"}}, "Version": {"Value": {"Ref": "BootstrapVersion"}}},
    }


def test_update_keeps_parameter_defaults_and_resources_moto_cannot_update(
    aws: LocalAws, caplog: pytest.LogCaptureFixture
) -> None:
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="fixes-update", TemplateBody=json.dumps(_key_template("v1")))
    before = {
        o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="fixes-update")["Stacks"][0]["Outputs"]
    }

    with caplog.at_level(logging.WARNING, logger="emulator.fixes"):
        cfn.update_stack(
            StackName="fixes-update",
            TemplateBody=json.dumps(_key_template("v2")),
            Parameters=[{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}],
        )

    assert _status(aws, "fixes-update") == "UPDATE_COMPLETE"
    after = {
        o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="fixes-update")["Stacks"][0]["Outputs"]
    }
    # The key was kept (moto cannot update it) instead of vanishing from the stack.
    assert after == before == {"KeyId": before["KeyId"], "Version": "21"}
    assert aws.client("kms").describe_key(KeyId=before["KeyId"])["KeyMetadata"]["Enabled"]
    assert "moto cannot update this type" in caplog.text and "AWS::KMS::Key Key" in caplog.text


def test_stack_with_a_vpc_deletes_completely(aws: LocalAws) -> None:
    template = {
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.30.0.0/16"}},
            "Subnet": {
                "Type": "AWS::EC2::Subnet",
                "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.30.0.0/24", "AvailabilityZone": "us-east-1a"},
            },
            "RouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
            "Association": {
                "Type": "AWS::EC2::SubnetRouteTableAssociation",
                "Properties": {"RouteTableId": {"Ref": "RouteTable"}, "SubnetId": {"Ref": "Subnet"}},
            },
            "S3Endpoint": {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {
                    "VpcId": {"Ref": "Vpc"},
                    "ServiceName": "com.amazonaws.us-east-1.s3",
                    "VpcEndpointType": "Gateway",
                    "RouteTableIds": [{"Ref": "RouteTable"}],
                },
            },
            "FlowLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/fixes/flow"}},
            "FlowLogRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "FlowLog": {
                "Type": "AWS::EC2::FlowLog",
                "Properties": {
                    "ResourceId": {"Ref": "Vpc"},
                    "ResourceType": "VPC",
                    "TrafficType": "ALL",
                    "LogDestinationType": "cloud-watch-logs",
                    "LogGroupName": {"Ref": "FlowLogGroup"},
                    "DeliverLogsPermissionArn": {"Fn::GetAtt": ["FlowLogRole", "Arn"]},
                },
            },
        },
        "Outputs": {"VpcId": {"Value": {"Ref": "Vpc"}}},
    }
    cfn, ec2 = aws.client("cloudformation"), aws.client("ec2")
    cfn.create_stack(StackName="fixes-vpc", TemplateBody=json.dumps(template))
    vpc_id = cfn.describe_stacks(StackName="fixes-vpc")["Stacks"][0]["Outputs"][0]["OutputValue"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]

    # Stock moto answers this with DependencyViolation: route table, endpoint and flow log stay behind.
    cfn.delete_stack(StackName="fixes-vpc")

    assert vpc_id not in {vpc["VpcId"] for vpc in ec2.describe_vpcs()["Vpcs"]}
    assert ec2.describe_route_tables(Filters=in_vpc)["RouteTables"] == []
    endpoints = ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"]
    assert all(endpoint["State"].lower() == "deleted" for endpoint in endpoints)
    assert ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"] == []


def test_engine_fixes_are_listed_for_the_summary() -> None:
    assert set(ENGINE_FIXES) == {
        "update-stack UsePreviousValue",
        "update of a type moto cannot update",
        "delete of EC2 types moto never deletes",
        "deleted stacks re-creating resources",
        "scheduled rules and S3 events",
        "S3 delete markers and events",
        "DependsOn of a resource created through a Ref",
    }


# -- cleanup ------------------------------------------------------------------------------------


def test_empty_stack_buckets_removes_every_version_so_the_stack_deletes(aws: LocalAws) -> None:
    template = {
        "Resources": {
            "Versioned": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": "fixes-versioned",
                    "VersioningConfiguration": {"Status": "Enabled"},
                },
            }
        }
    }
    cfn, s3 = aws.client("cloudformation"), aws.client("s3")
    cfn.create_stack(StackName="fixes-buckets", TemplateBody=json.dumps(template))
    assert s3.get_bucket_versioning(Bucket="fixes-versioned")["Status"] == "Enabled"
    for body in (b"1", b"2"):
        s3.put_object(Bucket="fixes-versioned", Key="data.csv", Body=body)
    s3.delete_object(Bucket="fixes-versioned", Key="data.csv")  # leaves a delete marker

    assert empty_stack_buckets(cfn, s3, ["fixes-buckets", "no-such-stack"]) == {"fixes-versioned": 3}
    assert "Versions" not in s3.list_object_versions(Bucket="fixes-versioned")
    assert empty_bucket(s3, "fixes-versioned") == 0
    assert empty_bucket(s3, "no-such-bucket") == 0
    # More versions than one listing page holds (an offline feature store writes one file per record here).
    for index in range(1001):
        s3.put_object(Bucket="fixes-versioned", Key=f"many/{index:04d}", Body=b"x")
    assert empty_bucket(s3, "fixes-versioned") == 1001
    assert "Versions" not in s3.list_object_versions(Bucket="fixes-versioned")

    cfn.delete_stack(StackName="fixes-buckets")
    assert "fixes-versioned" not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}


def test_cleanup_refuses_anything_but_a_local_endpoint() -> None:
    # Creating a client sends nothing; the helper refuses before its first request.
    real_s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="https://s3.amazonaws.com",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(ValueError, match="not a local emulator"):
        empty_bucket(real_s3, "someone-elses-bucket")


def test_a_deleted_stack_with_exports_does_not_bring_its_resources_back(aws: LocalAws) -> None:
    # The Level 0 stack exports bucket ARNs to Level 1; describing the deleted stack evaluated those
    # outputs, and moto re-created every bucket they referenced.
    template = {
        "Resources": {"Lake": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"LakeArn": {"Value": {"Fn::GetAtt": ["Lake", "Arn"]}, "Export": {"Name": "resurrection-LakeArn"}}},
    }
    cfn, s3 = aws.client("cloudformation"), aws.client("s3")
    stack_id = cfn.create_stack(StackName="resurrection", TemplateBody=json.dumps(template))["StackId"]
    (bucket,) = [
        r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName="resurrection")["StackResources"]
    ]
    cfn.delete_stack(StackName="resurrection")
    # What the CDK CLI does while it waits for the delete: describe the stack by ID, list stacks.
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    cfn.list_stacks()
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not [b for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("resurrection")]
    assert "resurrection-LakeArn" not in {e["Name"] for e in cfn.list_exports()["Exports"]}


def test_s3_events_reach_a_rule_created_after_a_scheduled_one(aws: LocalAws) -> None:
    events, sqs, s3 = aws.client("events"), aws.client("sqs"), aws.client("s3")
    # A schedule-only rule with a Lambda target, created first (as Level 1's retraining schedule is).
    events.put_rule(Name="fix-schedule", ScheduleExpression="rate(5 minutes)")
    events.put_targets(
        Rule="fix-schedule",
        Targets=[{"Id": "fn", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:fix-scheduled"}],
    )
    queue_url = sqs.create_queue(QueueName="fix-changes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="fix-changes",
        EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]}),
    )
    events.put_targets(Rule="fix-changes", Targets=[{"Id": "queue", "Arn": queue_arn}])
    s3.create_bucket(Bucket="fix-eventbridge")
    s3.put_bucket_notification_configuration(
        Bucket="fix-eventbridge", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    s3.put_object(Bucket="fix-eventbridge", Key="doc.md", Body=b"x")
    (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["detail"]["object"]["key"] == "doc.md"


def test_a_delete_marker_sends_an_object_deleted_event(aws: LocalAws) -> None:
    events, sqs, s3 = aws.client("events"), aws.client("sqs"), aws.client("s3")
    queue_url = sqs.create_queue(QueueName="fix-deletes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="fix-deletes",
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created", "Object Deleted"],
                "detail": {"bucket": {"name": ["fix-versioned"]}},
            }
        ),
    )
    events.put_targets(Rule="fix-deletes", Targets=[{"Id": "queue", "Arn": queue_arn}])
    s3.create_bucket(Bucket="fix-versioned")
    s3.put_bucket_versioning(Bucket="fix-versioned", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket="fix-versioned", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    s3.put_object(Bucket="fix-versioned", Key="doc.md", Body=b"x")
    marker = s3.delete_object(Bucket="fix-versioned", Key="doc.md")
    assert marker["DeleteMarker"] is True
    bodies = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert [b["detail-type"] for b in bodies] == ["Object Created", "Object Deleted"]
    assert bodies[1]["detail"]["object"]["key"] == "doc.md"
    assert bodies[1]["detail"]["object"]["version-id"] == marker["VersionId"]


def test_a_ref_creates_what_the_resource_depends_on_first(aws: LocalAws) -> None:
    # The shape the observability construct produced: an alarm (listed first) on the API's stage; the stage
    # Refs the deployment, which DependsOn the method. Without the fix moto created the deployment before the
    # method, API Gateway refused it ("The REST API doesn't contain any methods") and CreateStack got HTTP 500.
    template = {
        "Resources": {
            "StageErrors": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Namespace": "AWS/ApiGateway",
                    "MetricName": "5XXError",
                    "Dimensions": [
                        {"Name": "ApiName", "Value": "depends-on"},
                        {"Name": "Stage", "Value": {"Ref": "Stage"}},
                    ],
                    "Statistic": "Sum",
                    "Period": 300,
                    "EvaluationPeriods": 1,
                    "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                },
            },
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "depends-on"}},
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {"RestApiId": {"Ref": "Api"}, "DeploymentId": {"Ref": "Deployment"}, "StageName": "v1"},
            },
            "Deployment": {
                "Type": "AWS::ApiGateway::Deployment",
                "Properties": {"RestApiId": {"Ref": "Api"}},
                "DependsOn": ["Method"],
            },
            "Method": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "HttpMethod": "GET",
                    "AuthorizationType": "NONE",
                    # moto requires a method and URI even for a MOCK integration.
                    "Integration": {"Type": "MOCK", "IntegrationHttpMethod": "GET", "Uri": "http://example.com"},
                },
            },
        }
    }
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="depends-on", TemplateBody=json.dumps(template))
    assert _status(aws, "depends-on") == "CREATE_COMPLETE"
    api_id = next(api["id"] for api in aws.client("apigateway").get_rest_apis()["items"] if api["name"] == "depends-on")
    assert [stage["stageName"] for stage in aws.client("apigateway").get_stages(restApiId=api_id)["item"]] == ["v1"]
    cfn.delete_stack(StackName="depends-on")
