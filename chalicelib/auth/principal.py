"""The signed-in person a verified token names, as routes and services see it (no JWT import)."""

from dataclasses import dataclass

from chalicelib.errors import VentanillaError

# "analyst" reads the reports of every agency of the deployment and no citizen data.
ROLES = ("agent", "supervisor", "auditor", "admin", "analyst")
# Seconds of clock difference accepted between the issuer and this container.
LEEWAY_SECONDS = 30


class KeyUnavailableError(VentanillaError):
    """The keys that verify tokens could not be loaded, which is a server fault."""

    status_code = 503
    code = "unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Principal:
    """A signed-in person as their verified token describes them."""

    subject: str
    roles: frozenset[str]
    agency_id: str | None
    token_use: str
    # Expiry of the token, in seconds since the Unix epoch.
    expires_at: int
    name: str | None = None
