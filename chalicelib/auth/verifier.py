"""Token verification by auth mode: a Cognito user pool's keys or the development key."""

from chalicelib.auth import keys
from chalicelib.auth.principal import Principal
from chalicelib.auth.tokens import DEVELOPMENT_CLIENT_ID, DEVELOPMENT_ISSUER, TokenRules, verify
from chalicelib.settings import COGNITO, Settings, get_settings


def cognito_issuer(user_pool_id: str) -> str:
    """Return the `iss` of a user pool's tokens; the pool id starts with its region."""
    region = user_pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def token_rules(settings: Settings) -> TokenRules:
    """Return what a token must satisfy on this stage, by its auth mode."""
    if settings.auth_mode == COGNITO:
        pool_id = settings.cognito_user_pool_id
        region = pool_id.split("_", 1)[0]
        return TokenRules(
            issuer=cognito_issuer(pool_id),
            client_id=settings.cognito_app_client_id,
            keys=keys.jwks_keys(keys.jwks_url(region, pool_id)),
        )
    return TokenRules(
        issuer=DEVELOPMENT_ISSUER,
        client_id=DEVELOPMENT_CLIENT_ID,
        keys=keys.development_key(
            settings.development_key_parameter, settings.auth_key_cache_seconds
        ),
    )


def authenticate(token: str) -> Principal:
    """Verify a bearer token; raises UnauthorizedError, or KeyUnavailableError on a key fault."""
    return verify(token, token_rules(get_settings()))
