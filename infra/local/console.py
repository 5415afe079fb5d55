"""Console output of `make run`: a banner at startup, then one timestamped line per event."""

import json
import logging
import shlex
import sys

from infra.local.config import APP_PORT, LAMBDA_PORT, MOTO_PORT, REGION, STAGE, LocalConfig

# An example caller: the Mexican mobile of the identity examples, in E.164.
SAMPLE_PHONE = "+525541637145"


def configure_logging() -> None:
    """Send the local stack's log lines to stdout, apart from the app's JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s  %(message)s", datefmt="%H:%M:%S"))
    stack_logger = logging.getLogger("infra.local")
    stack_logger.addHandler(handler)
    stack_logger.setLevel(logging.INFO)
    stack_logger.propagate = False
    # moto logs every request through werkzeug, which would bury the outbox and delivery lines.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def banner(
    config: LocalConfig,
    functions: list[str],
    subscriptions: list[str],
    agency: dict,
    sms_topic_arn: str,
) -> str:
    """Return the startup text: where everything listens and commands to try."""
    urls = {APP_PORT: config.app_url, LAMBDA_PORT: config.lambda_url, MOTO_PORT: config.moto_url}
    lines = [f'Ventanilla is running locally (stage "{STAGE}"); no AWS account is used.', ""]
    lines += [f"  {port.label:<18} {url:<28} {port.variable}" for port, url in urls.items()]
    lines += [
        f"  {'outbox':<18} {config.moto_url}/_outbox and {config.outbox_path}",
        f"  {'functions':<18} {', '.join(functions)}",
        *(f"  {'SNS delivery':<18} {line}" for line in subscriptions),
        "",
        f'Demo agency "{agency["agency_id"]}" ({agency["name"]})',
        f"  {'SMS number':<18} {agency['sms_number']}",
        f"  {'Connect instance':<18} {agency['connect_instance_arn']}",
        "",
        *_samples(config, agency, sms_topic_arn),
        "",
        "Replay one citizen's journey across chat, SMS and phone with `make demo`.",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def _samples(config: LocalConfig, agency: dict, sms_topic_arn: str) -> list[str]:
    chat = {"agency_id": agency["agency_id"], "name": "María López", "phone": "+52 55 4163 7145"}
    sms = {
        "originationNumber": SAMPLE_PHONE,
        "destinationNumber": agency["sms_number"],
        "messageBody": "Hola, necesito ayuda con un trámite",
        "inboundMessageId": "sample-sms-1",
    }
    call = {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "ContactId": "sample-call-1",
                "Channel": "VOICE",
                "InstanceARN": agency["connect_instance_arn"],
                "CustomerEndpoint": {"Address": SAMPLE_PHONE, "Type": "TELEPHONE_NUMBER"},
            },
            "Parameters": {"action": "identify"},
        },
    }
    return [
        "Open a web chat:",
        f"  curl -s -X POST {config.app_url}/chat/sessions -H 'Content-Type: application/json' \\",
        f"    -d {_quote(chat)}",
        "The AWS CLI needs credentials of any value to sign requests:",
        "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        "Send an SMS to the agency (each new message needs a new inboundMessageId):",
        f"  aws sns publish --endpoint-url {config.moto_url} --region {REGION} \\",
        f"    --topic-arn {sms_topic_arn} \\",
        f"    --message {_quote(sms)}",
        "Call the contact flow function (AWS CLI v2; v1 has no --cli-binary-format):",
        f"  aws lambda invoke --endpoint-url {config.lambda_url} --region {REGION} \\",
        "    --function-name connect_contact_flow --cli-binary-format raw-in-base64-out \\",
        f"    --payload {_quote(call)} /dev/stdout",
    ]


def _quote(document: dict) -> str:
    return shlex.quote(json.dumps(document, ensure_ascii=False))
