"""Ventanilla's Lambda entry points: routes and event sources wired to channel adapters."""

from chalice import Chalice

from chalicelib import settings
from chalicelib.channels import chat, connect, sms
from chalicelib.channels.http import handle_errors, json_response
from chalicelib.observability import logging_middleware

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


@app.lambda_function(name="connect_contact_flow")
def connect_contact_flow(event, context):
    return connect.handle(event)


@app.on_sns_message(topic=settings.INBOUND_SMS_TOPIC, name="inbound_sms")
def inbound_sms(event):
    sms.handle(event.to_dict())
