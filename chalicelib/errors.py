"""The one error family of Ventanilla; app.py maps it to HTTP in one place."""


class VentanillaError(Exception):
    """Base of every error the product raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class ValidationError(VentanillaError):
    """Input that is missing, malformed or out of range."""

    status_code = 400
    code = "invalid_request"


class UnauthorizedError(VentanillaError):
    """Missing or invalid credentials."""

    status_code = 401
    code = "unauthorized"


class ForbiddenError(VentanillaError):
    """Valid credentials without the right to the resource."""

    status_code = 403
    code = "forbidden"


class NotFoundError(VentanillaError):
    """A resource that does not exist or is not the caller's to see."""

    status_code = 404
    code = "not_found"


class ConflictError(VentanillaError):
    """A write that lost a race or contradicts the stored state."""

    status_code = 409
    code = "conflict"


class ServiceUnavailableError(VentanillaError):
    """A dependency or a setting the request needs is missing; retrying later may succeed."""

    status_code = 503
    code = "service_unavailable"


class DuplicateEventError(ConflictError):
    """An event that was already recorded; callers treat it as success."""

    code = "duplicate_event"
