"""A Bedrock knowledge base over a documents prefix of the data lake, on S3 Vectors, kept in sync.

See docs/rag.md for why S3 Vectors (no idle charge beyond storage) and how sync and skew work.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3vectors as s3vectors
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.components.access import acknowledge_wildcard_resource
from stacks.components.alerts import Alerts
from stacks.components.python_function import PythonFunction
from stacks.components.queues import dead_letter_queue
from stacks.knowledge_base_config import KnowledgeBaseConfig
from stacks.partition import format_arn

SYNC_SERVICE = "knowledge-base-sync"
# Bedrock writes the chunk text and its metadata into every vector; S3 Vectors allows 2 KB of filterable
# metadata per vector, so both must be non-filterable or PutVectors fails mid-ingestion (and an index's
# metadata configuration cannot be changed afterwards).
NON_FILTERABLE_METADATA_KEYS = ("AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA")
# What the knowledge base's role does on its index: write and delete vectors at ingestion, query at retrieval.
VECTOR_ACTIONS = (
    "s3vectors:GetIndex",
    "s3vectors:PutVectors",
    "s3vectors:GetVectors",
    "s3vectors:DeleteVectors",
    "s3vectors:QueryVectors",
)
SYNC_TIMEOUT = Duration.seconds(60)
# A change's message comes round once per visibility timeout until a COMPLETE job covers it: with 40
# receives and ~6-11 minutes per round, an ingestion job may run for about four hours before its
# changes go to the dead-letter queue (and the skew alarm has fired long before).
MAX_RECEIVES = 40
MONITOR_SCHEDULE = Duration.minutes(5)
ALARM_PERIOD = Duration.minutes(15)


class KnowledgeBase(Construct):
    """A knowledge base (vector store: S3 Vectors) over ``documentsPrefix`` of `documents_bucket`, and its sync.

    - S3 Vectors bucket + index (dimension = the embedding model's), SSE-S3 encrypted.
    - The knowledge base's service role: the embedding model, read access to the prefix (and decrypt with
      the data key through S3 only), the index; trusted by Bedrock for this account's knowledge bases only.
    - The data source: the bucket with the prefix as inclusion prefix, chunking from config, and
      ``DataDeletionPolicy: DELETE`` so that deleted documents leave the index at the next sync.
    - Sync: S3 object events (EventBridge) -> SQS -> the sync function (batching window = debounce), with a
      dead-letter queue and its alarm. A scheduled monitor publishes the skew and the last job's failed
      documents; alarms on both go to the alerts topic.

    Per environment: every setting of ``llmops.knowledgeBase``, log retention and removal policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: KnowledgeBaseConfig,
        name_prefix: str,
        documents_bucket: s3.IBucket,
        key: kms.IKey,
        alerts: Alerts,
        metrics_namespace: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.config = config
        self.documents_prefix = config.documents_prefix

        # --- vector store -----------------------------------------------------------------------------
        self.vector_bucket = s3vectors.CfnVectorBucket(
            self,
            "VectorBucket",
            # SSE-S3: a customer-managed key would need the S3 Vectors service in the data key's policy,
            # which lives in the Level 0 stack; the documents themselves stay under the data key.
            encryption_configuration=s3vectors.CfnVectorBucket.EncryptionConfigurationProperty(sse_type="AES256"),
        )
        self.vector_bucket.apply_removal_policy(removal_policy)
        self.index = s3vectors.CfnIndex(
            self,
            "VectorIndex",
            vector_bucket_arn=self.vector_bucket.attr_vector_bucket_arn,
            data_type="float32",
            dimension=config.embedding_dimensions,
            distance_metric="cosine",
            metadata_configuration=s3vectors.CfnIndex.MetadataConfigurationProperty(
                non_filterable_metadata_keys=list(NON_FILTERABLE_METADATA_KEYS)
            ),
        )
        self.index.apply_removal_policy(removal_policy)

        # --- the knowledge base's role ------------------------------------------------------------------
        knowledge_bases = format_arn(stack, service="bedrock", resource="knowledge-base", resource_name="*")
        self.role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": knowledge_bases},
                },
            ),
            description=f"Bedrock knowledge base {config.name}: embed the documents, read them, write the index",
        )
        self.embedding_model_arn = (
            f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{config.embedding_model_id}"
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EmbedWithTheModel", actions=["bedrock:InvokeModel"], resources=[self.embedding_model_arn]
            )
        )
        documents = documents_bucket.arn_for_objects(f"{config.documents_prefix}*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListTheDocuments",
                actions=["s3:ListBucket"],
                resources=[documents_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{config.documents_prefix}*"]}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(sid="ReadTheDocuments", actions=["s3:GetObject"], resources=[documents])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DecryptTheDocumentsThroughS3",
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(sid="UseTheIndex", actions=list(VECTOR_ACTIONS), resources=[self.index.attr_index_arn])
        )
        acknowledge_wildcard_resource(
            self.role,
            documents,
            f"Bedrock ingests every document under '{config.documents_prefix}' of the curated bucket: object keys "
            "are data, the bucket and prefix are fixed.",
        )

        # --- knowledge base and data source --------------------------------------------------------------
        self.knowledge_base = bedrock.CfnKnowledgeBase(
            self,
            "KnowledgeBase",
            name=f"{name_prefix}-{config.name}",
            description=f"Documents under s3://<curated>/{config.documents_prefix} ({config.name})",
            role_arn=self.role.role_arn,
            knowledge_base_configuration=bedrock.CfnKnowledgeBase.KnowledgeBaseConfigurationProperty(
                type="VECTOR",
                vector_knowledge_base_configuration=bedrock.CfnKnowledgeBase.VectorKnowledgeBaseConfigurationProperty(
                    embedding_model_arn=self.embedding_model_arn,
                    embedding_model_configuration=bedrock.CfnKnowledgeBase.EmbeddingModelConfigurationProperty(
                        bedrock_embedding_model_configuration=bedrock.CfnKnowledgeBase.BedrockEmbeddingModelConfigurationProperty(
                            dimensions=config.embedding_dimensions, embedding_data_type="FLOAT32"
                        )
                    ),
                ),
            ),
            storage_configuration=bedrock.CfnKnowledgeBase.StorageConfigurationProperty(
                type="S3_VECTORS",
                s3_vectors_configuration=bedrock.CfnKnowledgeBase.S3VectorsConfigurationProperty(
                    vector_bucket_arn=self.vector_bucket.attr_vector_bucket_arn,
                    index_arn=self.index.attr_index_arn,
                ),
            ),
        )
        self.knowledge_base.apply_removal_policy(removal_policy)
        # Bedrock checks the role's access when it creates the knowledge base: the policy must exist first.
        policy = self.role.node.find_child("DefaultPolicy")
        self.knowledge_base.node.add_dependency(policy)
        chunking = config.chunking
        self.data_source = bedrock.CfnDataSource(
            self,
            "DataSource",
            knowledge_base_id=self.knowledge_base.attr_knowledge_base_id,
            name="documents",
            description=f"The curated bucket's '{config.documents_prefix}' prefix",
            # Deleting the data source (or the stack) deletes its vectors too.
            data_deletion_policy="DELETE",
            data_source_configuration=bedrock.CfnDataSource.DataSourceConfigurationProperty(
                type="S3",
                s3_configuration=bedrock.CfnDataSource.S3DataSourceConfigurationProperty(
                    bucket_arn=documents_bucket.bucket_arn,
                    bucket_owner_account_id=stack.account,
                    inclusion_prefixes=[config.documents_prefix],
                ),
            ),
            vector_ingestion_configuration=bedrock.CfnDataSource.VectorIngestionConfigurationProperty(
                chunking_configuration=bedrock.CfnDataSource.ChunkingConfigurationProperty(
                    chunking_strategy=chunking.strategy,
                    fixed_size_chunking_configuration=(
                        bedrock.CfnDataSource.FixedSizeChunkingConfigurationProperty(
                            max_tokens=chunking.max_tokens, overlap_percentage=chunking.overlap_percentage
                        )
                        if chunking.strategy == "FIXED_SIZE"
                        else None
                    ),
                )
            ),
        )
        self.data_source.apply_removal_policy(removal_policy)
        self.knowledge_base_id = self.knowledge_base.attr_knowledge_base_id
        self.knowledge_base_arn = self.knowledge_base.attr_knowledge_base_arn

        self._sync(documents_bucket, key, alerts, metrics_namespace, log_retention, removal_policy)

    def grant_retrieve(self, role: iam.IRole) -> None:
        """Let `role` call Retrieve on this knowledge base (and nothing else of it)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RetrieveFromTheKnowledgeBase", actions=["bedrock:Retrieve"], resources=[self.knowledge_base_arn]
            )
        )

    def _sync(
        self,
        bucket: s3.IBucket,
        key: kms.IKey,
        alerts: Alerts,
        namespace: str,
        retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        config = self.config
        environment = {
            "KNOWLEDGE_BASE_NAME": config.name,
            "KNOWLEDGE_BASE_ID": self.knowledge_base_id,
            "DATA_SOURCE_ID": self.data_source.attr_data_source_id,
            "DOCUMENTS_BUCKET": bucket.bucket_name,
            "DOCUMENTS_PREFIX": config.documents_prefix,
            "POWERTOOLS_SERVICE_NAME": SYNC_SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": namespace,
        }
        self.dead_letters = dead_letter_queue(
            self, "DeadLetters", key=key, removal_policy=removal_policy, what_for="the knowledge base sync queue"
        )
        # SSE-SQS: EventBridge can send to it without a key policy for events.amazonaws.com (the data key's
        # policy lives in Level 0). The messages are S3 event notifications: bucket, key, size, time.
        self.changes = sqs.Queue(
            self,
            "Changes",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(6 * SYNC_TIMEOUT.to_seconds() + config.sync_debounce_seconds),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVES),
            removal_policy=removal_policy,
        )
        self.on_change = events.Rule(
            self,
            "OnDocumentChange",
            description=f"A document under {config.documents_prefix} was written or deleted: sync the knowledge base",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created", "Object Deleted"],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    "object": {"key": [{"prefix": config.documents_prefix}]},
                },
            ),
            targets=[targets.SqsQueue(self.changes)],
        )
        knowledge_base_scope = [self.knowledge_base_arn]

        self.sync = PythonFunction(
            self,
            "Sync",
            name="knowledge_base_sync",
            description="Start one ingestion job per burst of document changes; keep changes until ingested",
            environment=environment,
            key=key,
            log_retention=retention,
            removal_policy=removal_policy,
            timeout=SYNC_TIMEOUT,
            memory_size=256,
        )
        self.sync.function.add_event_source(
            event_sources.SqsEventSource(
                self.changes,
                batch_size=10_000 if config.sync_debounce_seconds > 0 else 10,
                max_batching_window=Duration.seconds(config.sync_debounce_seconds),
                report_batch_item_failures=True,
            )
        )
        self.sync.role.add_to_policy(
            iam.PolicyStatement(
                sid="StartAndReadIngestionJobs",
                actions=["bedrock:StartIngestionJob", "bedrock:ListIngestionJobs"],
                resources=knowledge_base_scope,
            )
        )
        # SQS moves a message that was received MAX_RECEIVES times into the KMS-encrypted dead-letter queue
        # during the consumer's ReceiveMessage call.
        key.grant(self.sync.role, "kms:Decrypt", "kms:GenerateDataKey")

        self.monitor = PythonFunction(
            self,
            "SkewMonitor",
            name="knowledge_base_sync",
            handler_module="monitor",
            description="Publish the knowledge base's skew (oldest un-ingested change) and failed documents",
            environment=environment,
            key=key,
            log_retention=retention,
            removal_policy=removal_policy,
            timeout=Duration.minutes(2),
            memory_size=256,
        )
        self.monitor.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListDocumentVersions",
                actions=["s3:ListBucketVersions"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{config.documents_prefix}*"]}},
            )
        )
        self.monitor.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadIngestionJobs",
                actions=["bedrock:ListIngestionJobs", "bedrock:GetIngestionJob"],
                resources=knowledge_base_scope,
            )
        )
        self.schedule = events.Rule(
            self,
            "MeasureSkew",
            description=f"Measure knowledge base {config.name}'s skew",
            schedule=events.Schedule.rate(MONITOR_SCHEDULE),
            targets=[targets.LambdaFunction(self.monitor.function)],
        )

        dimensions = {"service": SYNC_SERVICE, "KnowledgeBase": config.name}
        for alarm_id, metric_name, threshold, missing, description in (
            (
                "SkewTooHigh",
                "KnowledgeBaseSkewSeconds",
                config.max_skew_minutes * 60,
                # The monitor reports every 5 minutes: no data point in 15 means it is not running.
                cloudwatch.TreatMissingData.BREACHING,
                f"A change to knowledge base {config.name}'s documents has not been ingested for more than "
                f"{config.max_skew_minutes} minutes (or the skew monitor stopped reporting)",
            ),
            (
                "FailedDocuments",
                "KnowledgeBaseFailedDocuments",
                config.max_failed_documents,
                cloudwatch.TreatMissingData.NOT_BREACHING,
                f"The last ingestion job of knowledge base {config.name} could not ingest more than "
                f"{config.max_failed_documents} document(s): the skew monitor's log has the reasons",
            ),
        ):
            alerts.alarm(
                cloudwatch.Alarm(
                    self,
                    alarm_id,
                    metric=cloudwatch.Metric(
                        namespace=namespace,
                        metric_name=metric_name,
                        dimensions_map=dimensions,
                        statistic="Maximum",
                        period=ALARM_PERIOD,
                    ),
                    threshold=threshold,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    treat_missing_data=missing,
                    alarm_description=description,
                )
            )
        alerts.alarm(
            cloudwatch.Alarm(
                self,
                "ChangesDeadLettered",
                metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=(
                    f"Document changes of knowledge base {config.name} waited too long for an ingestion job and "
                    "went to the dead-letter queue: start a sync by hand and redrive them"
                ),
            )
        )
