"""Ventanilla's Lambda entry points: routes and event sources wired to channel adapters."""

from chalice import Chalice

from chalicelib import settings
from chalicelib.channels import (
    agent_api,
    appointments,
    chat,
    connect,
    connect_chat,
    connect_events,
    connect_records,
    inbound_email,
    sms,
    webhooks,
)
from chalicelib.channels.http import handle_errors, json_response
from chalicelib.observability import logging_middleware
from chalicelib.workflows import tasks

app = Chalice(app_name="ventanilla", configure_logs=False)
app.register_middleware(logging_middleware, "all")


@app.route("/health", methods=["GET"])
@handle_errors
def health():
    return json_response({"status": "ok", "stage": settings.get_settings().stage})


@app.route("/chat/sessions", methods=["POST"])
@handle_errors
def open_chat_session():
    return chat.open_session(app.current_request.raw_body)


@app.route("/chat/sessions/{session_id}/messages", methods=["POST"])
@handle_errors
def post_chat_message(session_id):
    request = app.current_request
    return chat.post_message(session_id, request.headers, request.raw_body)


@app.route("/chat/sessions/{session_id}/messages", methods=["GET"])
@handle_errors
def list_chat_messages(session_id):
    request = app.current_request
    return chat.list_messages(session_id, request.headers, request.query_params)


@app.route("/webhooks/whatsapp", methods=["GET"])
@handle_errors
def verify_whatsapp_webhook():
    return webhooks.verify_whatsapp(app.current_request.query_params)


@app.route("/webhooks/whatsapp", methods=["POST"])
@handle_errors
def receive_whatsapp_webhook():
    request = app.current_request
    return webhooks.receive_whatsapp(request.raw_body, request.headers, app.lambda_context)


@app.route("/webhooks/messenger", methods=["GET"])
@handle_errors
def verify_messenger_webhook():
    return webhooks.verify_messenger(app.current_request.query_params)


@app.route("/webhooks/messenger", methods=["POST"])
@handle_errors
def receive_messenger_webhook():
    request = app.current_request
    return webhooks.receive_messenger(request.raw_body, request.headers, app.lambda_context)


@app.authorizer(name="agent_authorizer", ttl_seconds=agent_api.AUTHORIZER_TTL_SECONDS)
def agent_authorizer(auth_request):
    return agent_api.authorize(auth_request.token, auth_request.method_arn)


@app.route("/citizens/search", methods=["POST"], authorizer=agent_authorizer)
@handle_errors
def search_citizens():
    return agent_api.search_citizens(app.current_request)


@app.route("/citizens/{citizen_id}", methods=["GET"], authorizer=agent_authorizer)
@handle_errors
def get_citizen(citizen_id):
    return agent_api.get_citizen(app.current_request, citizen_id)


@app.route("/citizens/{citizen_id}/timeline", methods=["GET"], authorizer=agent_authorizer)
@handle_errors
def get_citizen_timeline(citizen_id):
    return agent_api.get_timeline(app.current_request, citizen_id)


@app.route("/cases/{case_id}", methods=["GET"], authorizer=agent_authorizer)
@handle_errors
def get_case(case_id):
    return agent_api.get_case(app.current_request, case_id)


@app.route("/cases/{case_id}", methods=["PATCH"], authorizer=agent_authorizer)
@handle_errors
def patch_case(case_id):
    return agent_api.patch_case(app.current_request, case_id)


@app.route("/reports/deadlines", methods=["GET"], authorizer=agent_authorizer)
@handle_errors
def get_deadline_report():
    return agent_api.get_deadline_report(app.current_request)


@app.route("/cases/{case_id}/replies", methods=["POST"], authorizer=agent_authorizer)
@handle_errors
def post_case_reply(case_id):
    return agent_api.post_reply(app.current_request, case_id)


@app.route("/reports/agencies/{agency_id}/phone", methods=["GET"], authorizer=agent_authorizer)
@handle_errors
def get_phone_report(agency_id):
    return agent_api.get_phone_report(app.current_request, agency_id)


@app.route(
    "/reports/agencies/{agency_id}/satisfaction", methods=["GET"], authorizer=agent_authorizer
)
@handle_errors
def get_satisfaction_report(agency_id):
    return agent_api.get_satisfaction_report(app.current_request, agency_id)


@app.lambda_function(name="connect_contact_flow")
def connect_contact_flow(event, context):
    return connect.handle(event, context)


@app.on_sns_message(topic=settings.INBOUND_SMS_TOPIC, name="inbound_sms")
def inbound_sms(event):
    sms.handle(event.to_dict())


@app.on_sns_message(topic=settings.WHATSAPP_SOCIAL_TOPIC, name="inbound_whatsapp_social")
def inbound_whatsapp_social(event):
    webhooks.handle_social(event.to_dict(), event.context)


@app.on_sns_message(topic=settings.INBOUND_EMAIL_TOPIC, name="inbound_email")
def inbound_email_handler(event):
    inbound_email.handle(event.to_dict())


@app.on_sqs_message(queue=settings.WORKFLOW_TASKS_QUEUE, batch_size=1, name="workflow_tasks")
def workflow_tasks(event):
    for record in event:
        tasks.handle(record.to_dict())


@app.route("/agencies/{agency_id}/slots", methods=["GET"])
@handle_errors
def list_appointment_slots(agency_id):
    return appointments.list_slots(agency_id, app.current_request.query_params)


@app.route("/appointments", methods=["POST"])
@handle_errors
def book_appointment():
    return appointments.book_from_form(app.current_request.raw_body)


@app.route("/chat/sessions/{session_id}/appointments", methods=["POST"])
@handle_errors
def book_chat_appointment(session_id):
    request = app.current_request
    return appointments.book_from_chat(session_id, request.headers, request.raw_body)


@app.route(
    "/reports/agencies/{agency_id}/appointments", methods=["GET"], authorizer=agent_authorizer
)
@handle_errors
def list_agency_appointments(agency_id):
    return agent_api.list_appointments(app.current_request, agency_id)


@app.route("/cases/{case_id}/appointment", methods=["POST"], authorizer=agent_authorizer)
@handle_errors
def change_case_appointment(case_id):
    return agent_api.change_appointment(app.current_request, case_id)


@app.on_cw_event(
    {"source": ["aws.connect"], "detail-type": ["Amazon Connect Contact Event"]},
    name="connect_contact_events",
)
def connect_contact_events(event):
    connect_events.handle(event.to_dict())


@app.on_kinesis_record(stream=settings.CONTACT_RECORDS_STREAM, name="connect_contact_records")
def connect_contact_records(event):
    return connect_records.handle(event.to_dict())


@app.on_sns_message(topic=settings.CONNECT_CHAT_STREAM_TOPIC, name="connect_chat_stream")
def connect_chat_stream(event):
    connect_chat.handle(event.to_dict())
