"""Turn pydantic validation failures into one ValidationError naming the field."""

import json
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic

from chalicelib.errors import ValidationError

Model = TypeVar("Model", bound=pydantic.BaseModel)


def field_path(location: tuple) -> str:
    """Join a pydantic error location into a dotted path such as `Details.ContactData`."""
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


def validate(model: type[Model], data: Any, prefix: str = "") -> Model:
    """Validate `data` as `model`; raises ValidationError for the first invalid field."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        first = error.errors(include_url=False)[0]
        path = field_path(tuple(first["loc"]))
        path = f"{prefix}.{path}" if prefix and path else (prefix or path)
        message = first["msg"]
        if first["type"] == "missing":
            message = "is required"
        elif first["type"] == "extra_forbidden":
            message = "is not a known field"
        raise ValidationError(f"{path or 'body'}: {message}", field=path or None) from error


def parse_json(text: str | bytes | None, what: str) -> Any:
    """Parse JSON text; raises ValidationError naming `what` when it is absent or malformed."""
    if text is None or (isinstance(text, (bytes, str)) and not text.strip()):
        raise ValidationError(f"{what} is empty; expected a JSON object", field=what)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        position = getattr(error, "pos", None)
        if position is None:
            position = getattr(error, "start", 0)
        raise ValidationError(
            f"{what} is not valid JSON: {error.__class__.__name__} at position {position}",
            field=what,
        ) from error
    except (RecursionError, ValueError) as error:
        # Nesting deeper than the interpreter's recursion limit, or an integer
        # longer than Python's 4,300-digit conversion limit.
        raise ValidationError(
            f"{what} is invalid: nested too deeply or contains a number too long to parse",
            field=what,
        ) from error


def with_prefix(error: ValidationError, prefix: str) -> ValidationError:
    """Return `error` with its field path under `prefix`, unless it is already there."""
    if error.field is None or error.field.startswith(prefix):
        return error
    return ValidationError(f"{prefix}.{error.message}", field=f"{prefix}.{error.field}")


@dataclass(frozen=True)
class InvalidItem:
    """A webhook item, such as a message or status, that failed validation and was skipped.

    `path` is the JSON path of the invalid field, such as
    `entry[0].changes[0].value.messages[1].timestamp`, and `code` is the error code, such
    as pydantic's "missing" or "less_than_equal". Neither holds an input value.
    """

    path: str
    code: str


def invalid_item(error: ValidationError, item_path: str) -> InvalidItem:
    """Describe a ValidationError of the item at `item_path`, raised by `validate` or our code.

    Our own checks only reject required parts that are absent, so they get "missing".
    """
    cause = error.__cause__
    code = "missing"
    if isinstance(cause, pydantic.ValidationError):
        code = cause.errors(include_url=False)[0]["type"]
    return InvalidItem(path=error.field or item_path, code=code)
