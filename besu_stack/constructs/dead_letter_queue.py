"""An encrypted, TLS-only SQS queue that keeps the events a Lambda function could not process."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

from besu_stack.constructs.iam import Grantable, policy_document
from besu_stack.constructs.kms import ENCRYPT_DECRYPT, EncryptionKey

RETENTION_SECONDS = 14 * 24 * 3600
"""SQS's maximum: an operator has two weeks to look at a lost lifecycle event."""


class DeadLetterQueue(Construct):
    """An SQS queue ``name`` encrypted with ``key``, keeping messages 14 days.

    Its policy refuses every request made without TLS (``aws:SecureTransport``), as the state and
    artifact buckets and the alarm topic do. Functions send to it after :meth:`grant_send`.

    Attributes: ``queue`` (the ``SqsQueue``), ``queue_arn``, ``queue_name``.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, key: EncryptionKey) -> None:
        super().__init__(scope, id)
        self._key = key
        self.queue = SqsQueue(
            self,
            "queue",
            name=name,
            kms_master_key_id=key.key_arn,
            message_retention_seconds=RETENTION_SECONDS,
        )
        self.queue_arn: str = self.queue.arn
        self.queue_name: str = self.queue.name
        SqsQueuePolicy(
            self,
            "policy",
            queue_url=self.queue.url,
            policy=policy_document(
                [
                    {
                        "Sid": "DenyRequestsWithoutTls",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sqs:*",
                        "Resource": self.queue.arn,
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ]
            ),
        )

    def grant_send(self, grantee: Grantable) -> None:
        """Let ``grantee`` send messages, encrypting them with the queue's key through SQS.

        Producers to an SSE-KMS queue need ``kms:GenerateDataKey`` and ``kms:Decrypt`` ("Key
        management", Amazon SQS Developer Guide).
        """
        grantee.add_to_policy(
            {
                "Sid": "SendToDeadLetterQueue",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": self.queue_arn,
            }
        )
        self._key.grant(grantee, ENCRYPT_DECRYPT, via_service="sqs")
