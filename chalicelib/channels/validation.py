"""Turn pydantic validation failures into one ValidationError naming the field."""

import json
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
        raise ValidationError(
            f"{what} is not valid JSON: {error.__class__.__name__} at position "
            f"{getattr(error, 'pos', 0)}",
            field=what,
        ) from error
