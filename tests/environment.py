"""Environment of the in-process moto stack that tests and benchmarks share.

It must be applied before anything imports the app, because PynamoDB reads its
table name when a model class is created and Chalice reads event-source names
when its decorators run.
"""

import os

TEST_ENVIRONMENT = {
    "TZ": "UTC",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "VENTANILLA_STAGE": "test",
    "VENTANILLA_TABLE": "ventanilla-test",
    "VENTANILLA_INBOUND_SMS_TOPIC": "ventanilla-test-inbound-sms",
    "VENTANILLA_WHATSAPP_SOCIAL_TOPIC": "ventanilla-test-whatsapp-social",
    "VENTANILLA_INBOUND_EMAIL_TOPIC": "ventanilla-test-inbound-email",
    "VENTANILLA_WORKFLOW_TASKS_QUEUE": "ventanilla-test-workflow-tasks",
    "VENTANILLA_CONTACT_RECORDS_STREAM": "ventanilla-test-contact-records",
    "VENTANILLA_CONNECT_CHAT_STREAM_TOPIC": "ventanilla-test-connect-chat-stream",
    "POWERTOOLS_SERVICE_NAME": "ventanilla",
    # Graph API sends go to a closed loopback port unless a test serves a fake there,
    # so no test or benchmark ever reaches Meta.
    "VENTANILLA_META_GRAPH_URL": "http://127.0.0.1:9",
}


def apply_test_environment() -> None:
    """Set the test environment and drop variables that would point boto3 at real AWS."""
    os.environ.update(TEST_ENVIRONMENT)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
