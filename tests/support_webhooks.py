"""Helpers of the WhatsApp, Messenger, email and delivery tests: signed posts and SNS events.

Meta signs the exact bytes it sends, so bodies are read from tests/events as bytes and
signed as they are. Outbound sends must never leave the machine: `refuse_remote_sockets`
makes every connection to an address other than the loopback fail.
"""

import copy
import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests import support

WHATSAPP_PATH = "/webhooks/whatsapp"
MESSENGER_PATH = "/webhooks/messenger"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def raw_event(name: str) -> bytes:
    """Return the bytes of `tests/events/<name>.json` exactly as stored."""
    return (support.EVENTS_DIR / f"{name}.json").read_bytes()


def signature(raw: bytes, secret: str) -> str:
    """Return the `X-Hub-Signature-256` value Meta would send for `raw`."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post_signed(
    client: Any, path: str, raw: bytes, secret: str | None, header: str | None = None
) -> Any:
    """POST `raw`, signed with `secret` unless `header` gives the signature header itself."""
    headers = {"Content-Type": "application/json"}
    if header is None and secret is not None:
        header = signature(raw, secret)
    if header is not None:
        headers["X-Hub-Signature-256"] = header
    return client.http.post(path, headers=headers, body=raw)


def handshake(client: Any, path: str, **params: str) -> Any:
    """GET `path` with `hub.<name>` query parameters, such as mode="subscribe"."""
    query = urlencode({f"hub.{name}": value for name, value in params.items()})
    return client.http.get(f"{path}?{query}")


def signed_json(payload: Any) -> bytes:
    """Serialize a changed payload the way Meta does: compact, ASCII with \\u escapes."""
    return json.dumps(payload, separators=(",", ":")).encode()


def sns_event(name: str, message: dict | None = None, sns_message_id: str | None = None) -> dict:
    """Load an SNS event file, optionally replacing the first record's decoded Message."""
    event = support.load_event(name)
    notification = event["Records"][0]["Sns"]
    if message is not None:
        notification["Message"] = json.dumps(message, ensure_ascii=False)
    if sns_message_id is not None:
        notification["MessageId"] = sns_message_id
    return event


def sns_message(event: dict) -> dict:
    return json.loads(event["Records"][0]["Sns"]["Message"])


def invoke(client: Any, function_name: str, event: dict) -> Any:
    return client.lambda_.invoke(function_name, copy.deepcopy(event))


def epoch_time(seconds: int) -> str:
    """Return a WhatsApp timestamp (epoch seconds) as the table stores times."""
    return support.isoformat_z(datetime.fromtimestamp(seconds, UTC))


def seed_outbound(
    channel: str, provider_message_id: str, citizen_id: str, sent_at: datetime | None = None
) -> dict:
    """Write an outbound contact and its provider pointer, as the notify service records a send.

    Returns the contact's keys.
    """
    from chalicelib.journey.deliveries import outbound_pointer
    from chalicelib.journey.records import new_contact, new_id
    from chalicelib.store.transactions import Transaction

    sent_at = sent_at or datetime.now(UTC) - timedelta(minutes=5)
    contact = new_contact(
        contact_id=new_id(),
        citizen_id=citizen_id,
        agency_id="demo",
        channel=channel,
        direction="outbound",
        kind="reply",
        occurred_at=sent_at,
        now=sent_at,
        body="Su caso fue atendido.",
        external_id=provider_message_id,
        delivery_status="sent",
    )
    transaction = Transaction()
    transaction.put_new(contact, tag="contact")
    transaction.put_new(outbound_pointer(channel, provider_message_id, contact), tag="pointer")
    transaction.commit()
    return {"pk": contact.pk, "sk": contact.sk}


def refuse_remote_sockets(monkeypatch: Any) -> None:
    """Make connections and name lookups beyond the loopback fail, so no test reaches Meta."""
    connect = socket.socket.connect

    def connect_locally(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in LOOPBACK and not host.startswith("127."):
            raise ConnectionRefusedError(f"tests may not connect to {host}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect_locally)
    resolve = socket.getaddrinfo

    def resolve_locally(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host not in LOOPBACK and not host.startswith("127."):
            raise socket.gaierror(f"tests may not resolve {host}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve_locally)


# Events built from the samples, for scenarios that need many distinct messages


def whatsapp_body(message_id: str, text: str, user_id: str | None = None) -> bytes:
    """Return the sample WhatsApp text with another message id and text, and a BSUID if given."""
    payload = json.loads(raw_event("whatsapp_text"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"][0].update({"id": message_id, "text": {"body": text}})
    if user_id is not None:
        value["contacts"][0]["user_id"] = user_id
        value["messages"][0]["from_user_id"] = user_id
    return signed_json(payload)


def messenger_body(message_id: str, text: str) -> bytes:
    """Return the sample Messenger text with another mid and text."""
    payload = json.loads(raw_event("messenger_text"))
    payload["entry"][0]["messaging"][0]["message"] = {"mid": message_id, "text": text}
    return signed_json(payload)


def social_event(message_id: str, text: str) -> dict:
    """Return the sample Social SNS event with another WhatsApp message id and text."""
    event = support.load_event("social_whatsapp_text")
    message = sns_message(event)
    entry = json.loads(message["whatsAppWebhookEntry"])
    entry["changes"][0]["value"]["messages"][0].update({"id": message_id, "text": {"body": text}})
    message["whatsAppWebhookEntry"] = json.dumps(entry, ensure_ascii=False)
    return sns_event("social_whatsapp_text", message, sns_message_id=f"sns-{message_id}")


def email_event(ses_message_id: str, message_id: str, in_reply_to: str | None = None) -> dict:
    """Return the sample UTF-8 email with other ids, and an In-Reply-To header if given."""
    event = support.load_event("ses_received_utf8")
    message = sns_message(event)
    message["mail"]["messageId"] = ses_message_id
    headers = f"Message-ID: {message_id}\r\n"
    if in_reply_to is not None:
        headers += f"In-Reply-To: {in_reply_to}\r\n"
    content = message["content"].replace(
        "Message-ID: <20261204180500.4412@example.net>\r\n", headers
    )
    # Without the sample's case reference, so the subject quotes none.
    message["content"] = content.replace("Subject: Caso 482-193-058: s", "Subject: S")
    return sns_event("ses_received_utf8", message, sns_message_id=f"sns-{ses_message_id}")


def whatsapp_batch_body(senders: int, per_sender: int, prefix: str = "wamid.batch") -> bytes:
    """Return one WhatsApp delivery with `per_sender` texts from each of `senders` citizens.

    The messages of all senders are interleaved, each sender's in time order, as Meta
    batches them. Message ids are `<prefix>-<sender>-<n>`.
    """
    payload = json.loads(raw_event("whatsapp_text"))
    value = payload["entry"][0]["changes"][0]["value"]
    sample = value["messages"][0]
    wa_ids = [batch_wa_id(index) for index in range(senders)]
    value["contacts"] = [{"profile": {"name": "Ana"}, "wa_id": wa_id} for wa_id in wa_ids]
    value["messages"] = [
        {
            **sample,
            "from": wa_ids[sender],
            "id": f"{prefix}-{sender}-{number}",
            "timestamp": str(int(sample["timestamp"]) + number),
            "text": {"body": f"Mensaje {number} sobre la fuga"},
        }
        for number in range(per_sender)
        for sender in range(senders)
    ]
    return signed_json(payload)


def batch_wa_id(index: int) -> str:
    """Return the WhatsApp id of the `index`-th sender of `whatsapp_batch_body`."""
    return f"5215541637{index:03d}"


def batch_identity(index: int) -> str:
    """Return the `index`-th sender's WhatsApp identity as stored: E.164 without the old 1."""
    return f"+525541637{index:03d}"


def messenger_batch_body(senders: int, per_sender: int, prefix: str = "m_batch") -> bytes:
    """Return one Messenger delivery with `per_sender` texts from each of `senders` people."""
    payload = json.loads(raw_event("messenger_text"))
    entry = payload["entry"][0]
    sample = entry["messaging"][0]
    entry["messaging"] = [
        {
            **sample,
            "sender": {"id": f"73910582466{sender:05d}"},
            "timestamp": sample["timestamp"] + number,
            "message": {"mid": f"{prefix}-{sender}-{number}", "text": f"Mensaje {number}"},
        }
        for number in range(per_sender)
        for sender in range(senders)
    ]
    return signed_json(payload)
