"""The one place where errors become HTTP responses."""

import functools
from collections.abc import Callable
from typing import Any

from chalice import Response
from pydantic import BaseModel

from chalicelib.channels.validation import parse_json, validate
from chalicelib.errors import ValidationError, VentanillaError
from chalicelib.observability import logger

JSON_HEADERS = {"Content-Type": "application/json"}


def json_response(body: Any, status_code: int = 200) -> Response:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", exclude_none=True)
    return Response(body=body, status_code=status_code, headers=JSON_HEADERS)


def error_response(error: VentanillaError) -> Response:
    return json_response({"error": error.to_dict()}, error.status_code)


def handle_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a view so that product errors become their status and unexpected ones a bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except VentanillaError as error:
            log = logger.warning if error.status_code >= 500 else logger.info
            log("request rejected", extra={"status": error.status_code, "error_code": error.code})
            return error_response(error)
        except Exception:  # noqa: BLE001 - the API boundary: log once, never leak internals
            logger.exception("request failed")
            body = {"error": {"code": "internal_error", "message": "internal error; retry later"}}
            return json_response(body, 500)

    return wrapper


def body_as(model: type[BaseModel], raw_body: bytes | None) -> Any:
    """Parse and validate a JSON request body; raises ValidationError naming the field."""
    data = parse_json(raw_body, "body")
    if not isinstance(data, dict):
        raise ValidationError("body: expected a JSON object", field="body")
    return validate(model, data)
