"""A Bedrock guardrail defined in code, and a version that changes whenever its policy does."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_kms as kms
from constructs import Construct

# Content categories filtered in prompts and answers. Prompt attacks can only be filtered on input.
CONTENT_FILTERS = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")
# Topics this template's assistants must not engage with; forks add their own.
DENIED_TOPICS = {
    "investment-advice": "Recommendations about buying, selling or holding securities, funds or crypto assets.",
    "medical-diagnosis": "Diagnosing a person's illness or recommending treatment or medication doses.",
}
# PII handling: identifiers that must never pass are blocked; contact details are masked.
PII_BLOCKED = ("CREDIT_DEBIT_CARD_NUMBER", "US_SOCIAL_SECURITY_NUMBER", "AWS_SECRET_KEY", "PASSWORD")
PII_ANONYMIZED = ("EMAIL", "PHONE", "NAME", "ADDRESS")
# Contextual grounding: answers must be supported by the given context and relevant to the question.
GROUNDING_THRESHOLD = 0.75
RELEVANCE_THRESHOLD = 0.75


class Guardrail(Construct):
    """Content filters, denied topics, PII handling and a contextual grounding check, plus a version.

    Bedrock guardrail versions are immutable snapshots; the version resource's description carries
    a fingerprint of the policy, so any policy change in this file makes CloudFormation create a new
    version, and the gateway (which is given the version number) moves to it in the same deploy.

    Per environment: name and key.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, key: kms.IKey, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        policy: dict[str, Any] = {
            "content_policy_config": bedrock.CfnGuardrail.ContentPolicyConfigProperty(
                filters_config=[
                    bedrock.CfnGuardrail.ContentFilterConfigProperty(
                        type=category, input_strength="HIGH", output_strength="HIGH"
                    )
                    for category in CONTENT_FILTERS
                ]
                + [
                    bedrock.CfnGuardrail.ContentFilterConfigProperty(
                        type="PROMPT_ATTACK", input_strength="HIGH", output_strength="NONE"
                    )
                ]
            ),
            "topic_policy_config": bedrock.CfnGuardrail.TopicPolicyConfigProperty(
                topics_config=[
                    bedrock.CfnGuardrail.TopicConfigProperty(name=topic, definition=definition, type="DENY")
                    for topic, definition in DENIED_TOPICS.items()
                ]
            ),
            "sensitive_information_policy_config": bedrock.CfnGuardrail.SensitiveInformationPolicyConfigProperty(
                pii_entities_config=[
                    bedrock.CfnGuardrail.PiiEntityConfigProperty(type=entity, action="BLOCK") for entity in PII_BLOCKED
                ]
                + [
                    bedrock.CfnGuardrail.PiiEntityConfigProperty(type=entity, action="ANONYMIZE")
                    for entity in PII_ANONYMIZED
                ]
            ),
            "contextual_grounding_policy_config": bedrock.CfnGuardrail.ContextualGroundingPolicyConfigProperty(
                filters_config=[
                    bedrock.CfnGuardrail.ContextualGroundingFilterConfigProperty(
                        type="GROUNDING", threshold=GROUNDING_THRESHOLD
                    ),
                    bedrock.CfnGuardrail.ContextualGroundingFilterConfigProperty(
                        type="RELEVANCE", threshold=RELEVANCE_THRESHOLD
                    ),
                ]
            ),
        }
        self.guardrail = bedrock.CfnGuardrail(
            self,
            "Guardrail",
            name=name,
            description="Content filters, denied topics, PII handling and contextual grounding for LLM calls",
            blocked_input_messaging="Sorry, this request is outside what this assistant may help with.",
            blocked_outputs_messaging="Sorry, the answer was withheld by the content policy.",
            kms_key_arn=key.key_arn,
            **policy,
        )
        self.guardrail.apply_removal_policy(removal_policy)
        fingerprint = hashlib.sha256(
            json.dumps(Stack.of(self).resolve({k: v for k, v in policy.items()}), sort_keys=True).encode()
        ).hexdigest()[:16]
        self.version = bedrock.CfnGuardrailVersion(
            self,
            "Version",
            guardrail_identifier=self.guardrail.attr_guardrail_id,
            description=f"policy {fingerprint}",
        )
        self.version.apply_removal_policy(RemovalPolicy.RETAIN)  # callers may still pin an older version
        self.guardrail_id = self.guardrail.attr_guardrail_id
        self.guardrail_arn = self.guardrail.attr_guardrail_arn
        self.version_number = self.version.attr_version
