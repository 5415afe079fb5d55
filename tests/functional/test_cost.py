"""AWS requests per event, counted exactly, so that a costlier path fails a test.

"Warm" means an earlier event of the same handler filled the per-container agency
and endpoint cache, as in a Lambda container that already served one event.
benchmarks/aws_calls.py prints the same scenarios as a table.
"""

import json

import pytest

from tests import support_webhooks as hooks
from tests.support_calls import AwsCallLog, count_aws_calls, stub_send_text_message

CITIZEN_PHONE = "+525541637145"
OTHER_PHONE = "+525541637146"
CALL_ID = "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01"
WARMING_CALL_ID = "0a7c3e51-9d2b-4f68-8e1a-2b5c7d9f3e02"
FIRST_SMS = "Hay una fuga de agua en mi calle"


def send_sms(client, agency, body, message_id, sender=CITIZEN_PHONE):
    message = {
        "originationNumber": sender,
        "destinationNumber": agency["sms_number"],
        "messageBody": body,
        "inboundMessageId": message_id,
    }
    event = client.events.generate_sns_event(message=json.dumps(message))
    client.lambda_.invoke("inbound_sms", event)


def post_json(client, path, body, headers=None):
    headers = {"Content-Type": "application/json", **(headers or {})}
    return client.http.post(path, headers=headers, body=json.dumps(body))


def open_chat(client, agency):
    body = {"agency_id": agency["agency_id"], "name": "Ana López", "language": "es"}
    opened = json.loads(post_json(client, "/chat/sessions", body).body)
    return opened["session_id"], opened["session_token"]


def post_chat(client, session, text, key):
    session_id, token = session
    return post_json(
        client,
        f"/chat/sessions/{session_id}/messages",
        {"text": text, "idempotency_key": key},
        {"X-Session-Token": token},
    )


def call_flow(client, agency, caller, action, case_reference=None, call_id=CALL_ID):
    parameters = {"action": action}
    if case_reference is not None:
        parameters["case_reference"] = case_reference
    event = {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "ContactId": call_id,
                "InitialContactId": call_id,
                "Channel": "VOICE",
                "InstanceARN": agency["connect_instance_arn"],
                "InitiationMethod": "INBOUND",
                "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+525550000101", "Type": "TELEPHONE_NUMBER"},
                "Attributes": {},
                "LanguageCode": "es-MX",
            },
            "Parameters": parameters,
        },
    }
    return client.lambda_.invoke("connect_contact_flow", event).payload


def reference_of_last_sms(sent):
    from chalicelib.journey.references import find_references

    return find_references(sent[-1]["MessageBody"])[0]


def sent_sms_citizen(log: AwsCallLog) -> str:
    """Return the citizen id of the contact that the last TransactWriteItems call wrote."""
    (write,) = [call for call in log.calls if call.operation == "TransactWriteItems"][-1:]
    items = [item["Put"]["Item"] for item in write.params["TransactItems"] if "Put" in item]
    return next(item["citizen_id"]["S"] for item in items if "citizen_id" in item)


def read_keys(log: AwsCallLog) -> list[str]:
    """Return the partition key of each item the DynamoDB reads requested, in order."""
    keys = []
    for call in log.calls:
        if not call.is_dynamodb_read:
            continue
        if call.operation == "GetItem":
            keys.append(call.params["Key"]["pk"]["S"])
        elif call.operation == "TransactGetItems":
            keys += [item["Get"]["Key"]["pk"]["S"] for item in call.params["TransactItems"]]
        elif call.operation == "BatchGetItem":
            (request,) = call.params["RequestItems"].values()
            keys += [key["pk"]["S"] for key in request["Keys"]]
        else:
            # pynamodb names the partition key value of a Query `:0`.
            keys.append(call.params["ExpressionAttributeValues"][":0"]["S"])
    return keys


def key_prefixes(call) -> list[str]:
    """Return the `pk` prefix of each item a TransactWriteItems call writes, sorted."""
    prefixes = []
    for item in call.params["TransactItems"]:
        (request,) = item.values()
        key = request["Item"] if "Item" in request else request["Key"]
        prefixes.append(key["pk"]["S"].split("#")[0])
    return sorted(prefixes)


@pytest.fixture
def sent_sms(client):
    return stub_send_text_message()


@pytest.fixture
def known_sms_log(client, demo_agency, sent_sms):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    with count_aws_calls() as log:
        send_sms(client, demo_agency, "Sigue saliendo agua", "sms-2")
    return log


def test_sms_known_citizen_reads_link_only(known_sms_log):
    assert known_sms_log.dynamodb_reads <= 2
    assert known_sms_log.dynamodb_reads == 1
    assert read_keys(known_sms_log) == [f"IDENTITY#phone#{CITIZEN_PHONE}"]


def test_sms_known_citizen_writes_one_transaction(known_sms_log):
    assert known_sms_log.operations()["TransactWriteItems"] == 1
    assert known_sms_log.dynamodb_writes == 1
    assert known_sms_log.failed == []
    assert known_sms_log.items_written == 4


def test_sms_known_citizen_transaction_items(known_sms_log):
    (transaction,) = [call for call in known_sms_log.calls if call.is_dynamodb_write]

    assert key_prefixes(transaction) == ["CASE", "CITIZEN", "EVENT", "IDENTITY"]


def test_sms_known_citizen_calls_nothing_else(known_sms_log):
    assert known_sms_log.operations() == {"GetItem": 1, "TransactWriteItems": 1}
    assert known_sms_log.other_calls == []
    assert known_sms_log.attempt_count() == known_sms_log.call_count()


def test_sms_unknown_sender_cold_costs(client, demo_agency, sent_sms):
    with count_aws_calls() as log:
        send_sms(client, demo_agency, FIRST_SMS, "sms-1")

    citizen_id = sent_sms_citizen(log)
    assert read_keys(log) == [
        f"ENDPOINT#sms#{demo_agency['sms_number']}",
        f"AGENCY#{demo_agency['agency_id']}",
        f"IDENTITY#phone#{CITIZEN_PHONE}",
        f"CITIZEN#{citizen_id}",
    ]
    assert log.operations() == {"GetItem": 4, "TransactWriteItems": 2}
    assert log.items_written == 9
    assert log.operations("pinpoint-sms-voice-v2") == {"SendTextMessage": 1}
    assert len(log.other_calls) == 1
    assert len(sent_sms) == 1


def test_sms_unknown_sender_transaction_items(client, demo_agency, sent_sms):
    with count_aws_calls() as log:
        send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    transaction, notice = [call for call in log.calls if call.operation == "TransactWriteItems"]

    assert key_prefixes(notice) == ["CITIZEN", "OUTBOUND"]
    assert key_prefixes(transaction) == [
        "CASE",
        "CITIZEN",
        "CITIZEN",
        "CITIZEN",
        "EVENT",
        "IDENTITY",
        "REF",
    ]
    assert transaction.error is None


def test_sms_unknown_sender_warm_reads_once(client, demo_agency, sent_sms):
    send_sms(client, demo_agency, "Hola", "sms-0", sender=OTHER_PHONE)
    with count_aws_calls() as log:
        send_sms(client, demo_agency, FIRST_SMS, "sms-1")

    assert read_keys(log) == [f"IDENTITY#phone#{CITIZEN_PHONE}", f"CITIZEN#{sent_sms_citizen(log)}"]
    assert log.operations() == {"GetItem": 2, "TransactWriteItems": 2}
    assert log.operations("pinpoint-sms-voice-v2") == {"SendTextMessage": 1}


def test_sms_quoting_reference_adds_two_reads(client, demo_agency, sent_sms):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    reference = reference_of_last_sms(sent_sms)
    with count_aws_calls() as log:
        send_sms(client, demo_agency, f"Sobre mi caso {reference}", "sms-2")

    assert log.dynamodb_reads == 3
    assert read_keys(log)[:2] == [f"IDENTITY#phone#{CITIZEN_PHONE}", f"REF#{reference}"]
    assert log.operations()["TransactWriteItems"] == 1
    assert log.dynamodb_writes == 1


def test_sms_duplicate_costs_two_reads(client, demo_agency, sent_sms):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    send_sms(client, demo_agency, "Sigue saliendo agua", "sms-2")
    with count_aws_calls() as log:
        send_sms(client, demo_agency, "Sigue saliendo agua", "sms-2")

    assert read_keys(log) == [f"IDENTITY#phone#{CITIZEN_PHONE}", "EVENT#sms#sms-2"]
    assert log.operations() == {"GetItem": 2, "TransactWriteItems": 1}
    assert [call.error for call in log.failed] == ["TransactionCanceledException"]
    assert log.items_written == 0
    assert log.other_calls == []


def test_chat_message_in_session_costs(client, demo_agency):
    session = open_chat(client, demo_agency)
    post_chat(client, session, "Quiero reportar un bache", "m-1")
    with count_aws_calls() as log:
        response = post_chat(client, session, "Está en la esquina de Hidalgo", "m-2")

    assert response.status_code == 201
    assert read_keys(log) == [f"CHAT#{session[0]}"]
    assert log.operations() == {"GetItem": 1, "TransactWriteItems": 1}
    assert log.items_written == 5
    assert log.other_calls == []


def test_chat_first_message_costs(client, demo_agency):
    session = open_chat(client, demo_agency)
    with count_aws_calls() as log:
        response = post_chat(client, session, "Quiero reportar un bache", "m-1")

    assert json.loads(response.body)["case_opened"] is True
    assert log.operations() == {"GetItem": 1, "TransactWriteItems": 1}
    assert log.items_written == 9


def test_chat_repeated_key_costs_three_reads(client, demo_agency):
    session = open_chat(client, demo_agency)
    post_chat(client, session, "Quiero reportar un bache", "m-1")
    with count_aws_calls() as log:
        response = post_chat(client, session, "Quiero reportar un bache", "m-1")

    # The session, the dedupe marker, then the first message to compare its text.
    assert response.status_code == 200
    assert log.operations() == {"GetItem": 3, "TransactWriteItems": 1}
    assert log.items_written == 0


def test_identify_known_caller_warm_costs(client, demo_agency, sent_sms):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    call_flow(client, demo_agency, OTHER_PHONE, "identify", call_id=WARMING_CALL_ID)
    with count_aws_calls() as log:
        flow_response = call_flow(client, demo_agency, CITIZEN_PHONE, "identify")

    assert flow_response["known_caller"] == "true"
    assert flow_response["open_cases"] == "1"
    assert log.operations() == {"Query": 2, "GetItem": 1, "TransactWriteItems": 1}
    assert read_keys(log)[0] == f"IDENTITY#phone#{CITIZEN_PHONE}"
    assert log.items_written == 2
    assert log.other_calls == []


def test_identify_unknown_caller_warm_costs(client, demo_agency):
    call_flow(client, demo_agency, OTHER_PHONE, "identify", call_id=WARMING_CALL_ID)
    with count_aws_calls() as log:
        flow_response = call_flow(client, demo_agency, CITIZEN_PHONE, "identify")

    assert flow_response["known_caller"] == "false"
    assert log.operations() == {"Query": 1, "TransactWriteItems": 1}
    assert log.items_written == 4


def test_case_status_after_identify_costs(client, demo_agency, sent_sms):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    reference = reference_of_last_sms(sent_sms)
    call_flow(client, demo_agency, CITIZEN_PHONE, "identify")
    with count_aws_calls() as log:
        flow_response = call_flow(client, demo_agency, CITIZEN_PHONE, "case_status", reference)

    assert flow_response["case_status"] == "open"
    assert [key.split("#")[0] for key in read_keys(log)] == ["IDENTITY", "EVENT", "REF", "CASE"]
    assert log.operations() == {
        "Query": 1,
        "TransactGetItems": 1,
        "GetItem": 1,
        "UpdateItem": 1,
    }
    assert log.failed == []
    assert log.items_written == 1


def test_case_status_first_action_costs(client, demo_agency, sent_sms):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    reference = reference_of_last_sms(sent_sms)
    call_flow(client, demo_agency, OTHER_PHONE, "identify", call_id=WARMING_CALL_ID)
    with count_aws_calls() as log:
        flow_response = call_flow(client, demo_agency, CITIZEN_PHONE, "case_status", reference)

    assert flow_response["case_status"] == "open"
    assert log.operations() == {
        "Query": 1,
        "TransactGetItems": 1,
        "GetItem": 1,
        "TransactWriteItems": 1,
    }
    assert log.items_written == 2
    assert log.failed == []


# request_callback and send_link. The second write of a first invocation is the phone
# figures' row and its marker (chalicelib/reports/phone.py).


def test_request_callback_after_identify_costs(client, demo_agency, sent_sms):
    from tests.support_connect import connect_tasks

    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    call_flow(client, demo_agency, CITIZEN_PHONE, "identify")
    with connect_tasks() as tasks:
        tasks.answer()
        with count_aws_calls() as log:
            flow_response = call_flow(client, demo_agency, CITIZEN_PHONE, "request_callback")

    assert flow_response["callback_scheduled"] == "true"
    assert [key.split("#")[0] for key in read_keys(log)] == ["IDENTITY", "EVENT", "EVENT"]
    assert log.operations() == {"Query": 1, "TransactGetItems": 1, "TransactWriteItems": 2}
    assert [call.operation for call in log.other_calls] == ["StartTaskContact"]
    # The callback's contact and marker, the call's contact; the figures' marker and row.
    assert log.items_written == 5
    assert log.failed == []


def test_request_callback_repeated_costs_two_reads(client, demo_agency, sent_sms):
    from tests.support_connect import connect_tasks

    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    with connect_tasks() as tasks:
        tasks.answer()
        call_flow(client, demo_agency, CITIZEN_PHONE, "request_callback")
        with count_aws_calls() as log:
            flow_response = call_flow(client, demo_agency, CITIZEN_PHONE, "request_callback")

    assert flow_response["callback_scheduled"] == "true"
    assert log.operations() == {"Query": 1, "TransactGetItems": 1}
    assert log.other_calls == []


def test_send_link_unknown_caller_costs(client, demo_agency, sent_sms):
    call_flow(client, demo_agency, CITIZEN_PHONE, "identify")
    with count_aws_calls() as log:
        flow_response = call_flow(client, demo_agency, CITIZEN_PHONE, "send_link")

    assert flow_response["link_channel"] == "sms"
    # The caller's claim, the call's and the link's markers, the number's WhatsApp owner,
    # then the profile the notify service reads.
    assert [key.split("#")[0] for key in read_keys(log)] == [
        "IDENTITY",
        "EVENT",
        "EVENT",
        "IDENTITY",
        "CITIZEN",
    ]
    assert log.operations() == {
        "Query": 1,
        "TransactGetItems": 1,
        "GetItem": 2,
        "PutItem": 1,
        "TransactWriteItems": 2,
    }
    assert [call.operation for call in log.other_calls] == ["SendTextMessage"]
    assert log.items_written == 7


def test_send_link_repeated_costs_three_reads(client, demo_agency, sent_sms):
    call_flow(client, demo_agency, CITIZEN_PHONE, "identify")
    call_flow(client, demo_agency, CITIZEN_PHONE, "send_link")
    with count_aws_calls() as log:
        call_flow(client, demo_agency, CITIZEN_PHONE, "send_link")

    # The caller, the markers, then the contact the link's marker names.
    assert log.operations() == {"Query": 1, "TransactGetItems": 1, "GetItem": 1}
    assert log.other_calls == []


# WhatsApp, Messenger and email. Each known-citizen scenario sends a first message
# uncounted, which opens the case, fills the agency cache and caches the Meta secret.


def post_whatsapp(client, agency, message_id, text, user_id=None):
    raw = hooks.whatsapp_body(message_id, text, user_id)
    response = hooks.post_signed(client, hooks.WHATSAPP_PATH, raw, agency["whatsapp_app_secret"])
    assert response.status_code == 200, response.body


def post_messenger(client, agency, message_id, text):
    raw = hooks.messenger_body(message_id, text)
    response = hooks.post_signed(client, hooks.MESSENGER_PATH, raw, agency["messenger_app_secret"])
    assert response.status_code == 200, response.body


@pytest.fixture
def local_only(monkeypatch):
    hooks.refuse_remote_sockets(monkeypatch)


def test_whatsapp_known_citizen_costs(client, demo_agency, local_only):
    post_whatsapp(client, demo_agency, "wamid.cost-1", FIRST_SMS)
    with count_aws_calls() as log:
        post_whatsapp(client, demo_agency, "wamid.cost-2", "Sigue saliendo agua")

    assert read_keys(log) == ["IDENTITY#whatsapp#+525541637145"]
    assert log.operations() == {"GetItem": 1, "TransactWriteItems": 1}
    assert log.items_written == 4
    assert log.other_calls == []


def test_whatsapp_large_delivery_costs_per_message(client, demo_agency, local_only, monkeypatch):
    from chalicelib import clock

    # moto in process records far slower than DynamoDB, so the budget's clock is stopped.
    monkeypatch.setattr(clock, "monotonic", lambda: 0.0)
    secret = demo_agency["whatsapp_app_secret"]
    opening = hooks.whatsapp_batch_body(6, 1, prefix="wamid.opening")
    hooks.post_signed(client, hooks.WHATSAPP_PATH, opening, secret)
    raw = hooks.whatsapp_batch_body(6, 10)

    with count_aws_calls() as log:
        response = hooks.post_signed(client, hooks.WHATSAPP_PATH, raw, secret)

    assert response.status_code == 200, response.body
    assert log.operations() == {"GetItem": 60, "TransactWriteItems": 60}
    assert log.items_written == 240
    assert log.other_calls == []
    assert log.failed == []


def test_whatsapp_both_ids_known_costs(client, demo_agency, local_only):
    post_whatsapp(client, demo_agency, "wamid.cost-1", FIRST_SMS, user_id="MX.1")
    with count_aws_calls() as log:
        post_whatsapp(client, demo_agency, "wamid.cost-2", "Sigue saliendo agua", user_id="MX.1")

    assert sorted(read_keys(log)) == [
        "IDENTITY#whatsapp#+525541637145",
        "IDENTITY#whatsapp_user#MX.1",
    ]
    assert log.operations() == {"BatchGetItem": 1, "TransactWriteItems": 1}
    assert log.items_written == 5
    assert log.other_calls == []


def test_whatsapp_first_message_reads_secret_once(client, demo_agency, local_only):
    with count_aws_calls() as log:
        post_whatsapp(client, demo_agency, "wamid.cost-1", FIRST_SMS)
    names = [call.params["Name"] for call in log.other_calls if call.service == "ssm"]

    assert names[0] == "/ventanilla/test/meta/whatsapp-app-secret"
    assert names.count("/ventanilla/test/meta/whatsapp-app-secret") == 1
    assert read_keys(log)[:3] == [
        "ENDPOINT#whatsapp#271093650481234",
        "AGENCY#demo",
        "IDENTITY#whatsapp#+525541637145",
    ]
    assert log.operations()["TransactWriteItems"] >= 1


def test_whatsapp_duplicate_costs_two_reads(client, demo_agency, local_only):
    post_whatsapp(client, demo_agency, "wamid.cost-1", FIRST_SMS)
    with count_aws_calls() as log:
        post_whatsapp(client, demo_agency, "wamid.cost-1", FIRST_SMS)

    assert read_keys(log) == ["IDENTITY#whatsapp#+525541637145", "EVENT#whatsapp#wamid.cost-1"]
    assert log.operations() == {"GetItem": 2, "TransactWriteItems": 1}
    assert log.items_written == 0


def test_whatsapp_social_known_citizen_costs(client, demo_agency, local_only):
    post_whatsapp(client, demo_agency, "wamid.cost-1", FIRST_SMS)
    with count_aws_calls() as log:
        hooks.invoke(client, "inbound_whatsapp_social", hooks.social_event("wamid.cost-2", "Hola"))

    assert read_keys(log) == ["IDENTITY#whatsapp#+525541637145"]
    assert log.operations() == {"GetItem": 1, "TransactWriteItems": 1}
    assert log.items_written == 4


def test_whatsapp_status_costs_read_and_update(client, demo_agency, local_only):
    keys = hooks.seed_outbound("whatsapp", "wamid.out-1", "c0ffee00c0ffee00c0ffee00c0ffee00")
    payload = json.loads(hooks.raw_event("whatsapp_statuses"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["statuses"] = [{**value["statuses"][1], "id": "wamid.out-1"}]
    raw = hooks.signed_json(payload)
    with count_aws_calls() as log:
        hooks.post_signed(client, hooks.WHATSAPP_PATH, raw, demo_agency["whatsapp_app_secret"])

    assert keys["pk"].startswith("CITIZEN#")
    assert read_keys(log) == ["OUTBOUND#whatsapp#wamid.out-1"]
    assert log.operations() == {"GetItem": 1, "UpdateItem": 1}
    assert log.items_written == 1


def test_messenger_known_citizen_costs(client, demo_agency, local_only):
    post_messenger(client, demo_agency, "m_cost-1", FIRST_SMS)
    with count_aws_calls() as log:
        post_messenger(client, demo_agency, "m_cost-2", "Sigue saliendo agua")

    assert read_keys(log) == ["IDENTITY#messenger#7391058246613025"]
    assert log.operations() == {"GetItem": 1, "TransactWriteItems": 1}
    assert log.items_written == 4
    assert log.other_calls == []


def test_email_known_sender_costs(client, local_only):
    hooks.invoke(client, "inbound_email", hooks.email_event("ses-cost-1", "<cost-1@example.net>"))
    with count_aws_calls() as log:
        hooks.invoke(
            client, "inbound_email", hooks.email_event("ses-cost-2", "<cost-2@example.net>")
        )

    # The BatchGetItem reads the pointer of the email's own Message-ID, which is never
    # overwritten.
    assert read_keys(log) == ["EMAILREF#<cost-2@example.net>", "IDENTITY#email#mgomez@example.net"]
    assert log.operations() == {"BatchGetItem": 1, "GetItem": 1, "TransactWriteItems": 1}
    # The contact, its dedupe marker, the case, the link's open case, the Message-ID pointer.
    assert log.items_written == 5


def test_email_reply_reads_cited_ids_in_batch(client, local_only):
    hooks.invoke(client, "inbound_email", hooks.email_event("ses-cost-1", "<cost-1@example.net>"))
    event = hooks.email_event("ses-cost-2", "<cost-2@example.net>", "<cost-1@example.net>")
    with count_aws_calls() as log:
        hooks.invoke(client, "inbound_email", event)

    # pynamodb may reorder the keys of one BatchGetItem.
    assert sorted(read_keys(log)) == [
        "EMAILREF#<cost-1@example.net>",
        "EMAILREF#<cost-2@example.net>",
        "IDENTITY#email#mgomez@example.net",
    ]
    assert log.operations() == {"BatchGetItem": 1, "GetItem": 1, "TransactWriteItems": 1}
    assert log.items_written == 5


def test_email_quarantine_costs_one_put(client, local_only):
    hooks.invoke(client, "inbound_email", hooks.email_event("ses-cost-1", "<cost-1@example.net>"))
    with count_aws_calls() as log:
        hooks.invoke(client, "inbound_email", hooks.sns_event("ses_received_spam_fail"))

    assert log.operations() == {"PutItem": 1}
    assert log.items_written == 1


# Agents' replies: one outbound send on each channel


REPLY_PATH = "/cases/{case_id}/replies"
GRAPH_VERSION = "v23.0"


@pytest.fixture
def graph(aws, monkeypatch):
    """A Graph API on 127.0.0.1 that the product's settings point at."""
    from aws_lambda_powertools.utilities import parameters

    from tests import support_notify

    with support_notify.graph_fake() as fake:
        monkeypatch.setenv("VENTANILLA_META_GRAPH_URL", fake.url)
        support_notify.reload_settings()
        parameters.clear_caches()
        yield fake
    support_notify.reload_settings()
    parameters.clear_caches()


def only_case_id():
    from tests import support

    (case,) = support.items_of_kind("CASE#", "CASE")
    return case["case_id"]


def warm_reply_log(client, headers, case_id):
    """Count the second reply to a case, once the first filled the container's caches."""
    path = REPLY_PATH.format(case_id=case_id)
    first = post_json(client, path, {"text": "Recibido.", "idempotency_key": "r-0"}, headers)
    assert first.status_code == 201, first.body
    with count_aws_calls() as log:
        response = post_json(
            client, path, {"text": "Mañana va la cuadrilla.", "idempotency_key": "r-1"}, headers
        )
    assert response.status_code == 201, response.body
    return log, json.loads(response.body)


def receive(channel, kind, value, message_id, agency_id="demo"):
    from tests import support_notify

    text = "Hay una fuga de agua en mi calle"
    return support_notify.receive(channel, kind, value, text, message_id, agency_id=agency_id)


def test_reply_sms_costs(client, demo_agency, sent_sms, agent_headers):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    case_id = only_case_id()

    log, reply = warm_reply_log(client, agent_headers, case_id)

    assert reply["channel"] == "sms"
    assert [key.split("#")[0] for key in read_keys(log)] == ["CASE", "CITIZEN"]
    assert log.operations() == {"GetItem": 2, "PutItem": 1, "TransactWriteItems": 1}
    assert log.operations("pinpoint-sms-voice-v2") == {"SendTextMessage": 1}
    assert len(log.other_calls) == 1
    assert log.items_written == 5


def test_reply_sms_transaction_items(client, demo_agency, sent_sms, agent_headers):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")

    log, _ = warm_reply_log(client, agent_headers, only_case_id())

    (transaction,) = [call for call in log.calls if call.operation == "TransactWriteItems"]
    assert key_prefixes(transaction) == ["CASE", "CITIZEN", "EVENT", "OUTBOUND"]


def test_reply_repeated_key_costs(client, demo_agency, sent_sms, agent_headers):
    send_sms(client, demo_agency, FIRST_SMS, "sms-1")
    path = REPLY_PATH.format(case_id=only_case_id())
    body = {"text": "Recibido.", "idempotency_key": "r-0"}
    post_json(client, path, body, agent_headers)

    with count_aws_calls() as log:
        response = post_json(client, path, body, agent_headers)

    assert response.status_code == 200
    assert [key.split("#")[0] for key in read_keys(log)] == ["CASE", "EVENT", "CITIZEN"]
    assert log.operations() == {"GetItem": 3, "PutItem": 1}
    assert [call.error for call in log.failed] == ["ConditionalCheckFailedException"]
    assert log.items_written == 0
    assert log.other_calls == []


def test_reply_whatsapp_cloud_api_costs(client, agent_headers, graph):
    receive("whatsapp", "whatsapp", CITIZEN_PHONE, "wamid.in-1")
    requests_before = len(graph.requests)

    log, reply = warm_reply_log(client, agent_headers, only_case_id())

    assert reply["channel"] == "whatsapp"
    assert [key.split("#")[0] for key in read_keys(log)] == ["CASE", "CITIZEN", "IDENTITY"]
    assert log.operations() == {"GetItem": 3, "PutItem": 1, "TransactWriteItems": 1}
    assert log.other_calls == []
    assert log.items_written == 5
    assert len(graph.requests) == requests_before + 2


def test_reply_whatsapp_social_costs(client, agent_tokens):
    from tests import support_notify

    support_notify.SocialOutbox.attach()
    receive("whatsapp", "whatsapp", CITIZEN_PHONE, "wamid.in-1", agency_id="water")

    log, reply = warm_reply_log(client, agent_tokens.other_agency(), only_case_id())

    assert reply["channel"] == "whatsapp"
    assert log.operations() == {"GetItem": 3, "PutItem": 1, "TransactWriteItems": 1}
    assert log.operations("socialmessaging") == {"SendWhatsAppMessage": 1}
    assert len(log.other_calls) == 1
    assert log.items_written == 5


def test_reply_messenger_costs(client, agent_headers, graph):
    receive("messenger", "messenger", "6543210987654321", "m_in-1")

    log, reply = warm_reply_log(client, agent_headers, only_case_id())

    assert reply["channel"] == "messenger"
    assert log.operations() == {"GetItem": 3, "PutItem": 1, "TransactWriteItems": 1}
    assert log.other_calls == []
    assert log.items_written == 5
    assert graph.requests[-1].path == f"/{GRAPH_VERSION}/me/messages"


def test_reply_email_costs(client, demo_agency, agent_headers):
    import boto3

    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress=demo_agency["email_address"])
    receive("email", "email", "ana.lopez@example.org", "ses-in-1")

    log, reply = warm_reply_log(client, agent_headers, only_case_id())

    assert reply["channel"] == "email"
    assert log.operations() == {"GetItem": 3, "PutItem": 1, "TransactWriteItems": 1}
    assert log.operations("ses") == {"SendRawEmail": 1}
    assert len(log.other_calls) == 1
    # The contact, its pointer, the Message-ID's pointer to the case, the marker and the case.
    assert log.items_written == 6


def test_reply_chat_costs(client, demo_agency, agent_headers):
    session = open_chat(client, demo_agency)
    post_chat(client, session, "Quiero reportar un bache", "m-1")

    log, reply = warm_reply_log(client, agent_headers, only_case_id())

    assert reply["channel"] == "chat"
    assert [key.split("#")[0] for key in read_keys(log)] == ["CASE", "CITIZEN", "CHAT"]
    assert log.operations() == {"GetItem": 3, "PutItem": 1, "TransactWriteItems": 1}
    assert log.other_calls == []
    assert log.items_written == 5


def test_first_whatsapp_send_reads_token_once(client, agent_headers, graph):
    from aws_lambda_powertools.utilities import parameters

    receive("whatsapp", "whatsapp", CITIZEN_PHONE, "wamid.in-1")
    parameters.clear_caches()
    path = REPLY_PATH.format(case_id=only_case_id())

    with count_aws_calls() as log:
        post_json(client, path, {"text": "Recibido.", "idempotency_key": "r-0"}, agent_headers)
        post_json(client, path, {"text": "Otra vez.", "idempotency_key": "r-1"}, agent_headers)

    names = [call.params["Name"] for call in log.other_calls if call.service == "ssm"]
    assert names.count("/ventanilla/test/meta/whatsapp-access-token") == 1
