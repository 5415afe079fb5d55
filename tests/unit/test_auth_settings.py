"""Settings of the agent API's authentication, validated at cold start."""

import json
from pathlib import Path

import pytest

from chalicelib.settings import SettingsError, load_settings

COGNITO = {
    "VENTANILLA_AUTH_MODE": "cognito",
    "VENTANILLA_COGNITO_USER_POOL_ID": "eu-west-1_AbC123xyz",
    "VENTANILLA_COGNITO_APP_CLIENT_ID": "1example23456789",
}
CHALICE_CONFIG = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"


def test_settings_default_is_development():
    settings = load_settings({})

    assert settings.auth_mode == "development"
    assert settings.on_lambda is False


def test_settings_development_on_prod_is_refused():
    with pytest.raises(SettingsError) as raised:
        load_settings({"VENTANILLA_STAGE": "prod", "VENTANILLA_AUTH_MODE": "development"})

    assert "VENTANILLA_AUTH_MODE=development is not allowed on stage 'prod'" in str(raised.value)


def test_settings_prod_without_mode_is_refused():
    with pytest.raises(SettingsError):
        load_settings({"VENTANILLA_STAGE": "prod"})


def test_settings_cognito_on_prod_is_accepted():
    settings = load_settings({"VENTANILLA_STAGE": "prod", **COGNITO})

    assert settings.auth_mode == "cognito"
    assert settings.cognito_user_pool_id == "eu-west-1_AbC123xyz"


def test_settings_cognito_without_pool_is_refused():
    with pytest.raises(SettingsError) as raised:
        load_settings({"VENTANILLA_AUTH_MODE": "cognito"})

    assert "VENTANILLA_COGNITO_USER_POOL_ID" in str(raised.value)


def test_settings_malformed_pool_id_names_variable():
    environment = {**COGNITO, "VENTANILLA_COGNITO_USER_POOL_ID": "not a pool"}

    with pytest.raises(SettingsError) as raised:
        load_settings(environment)

    assert "VENTANILLA_COGNITO_USER_POOL_ID:" in str(raised.value)


@pytest.mark.parametrize("client_id", ["1example23456789", "app+client_1", "A" * 128])
def test_settings_ascii_client_id_is_accepted(client_id):
    settings = load_settings({**COGNITO, "VENTANILLA_COGNITO_APP_CLIENT_ID": client_id})

    assert settings.cognito_app_client_id == client_id


@pytest.mark.parametrize("client_id", ["clienté123", "client-123", "A" * 129, ""])
def test_settings_malformed_client_id_names_variable(client_id):
    environment = {**COGNITO, "VENTANILLA_COGNITO_APP_CLIENT_ID": client_id}

    with pytest.raises(SettingsError) as raised:
        load_settings(environment)

    assert "VENTANILLA_COGNITO_APP_CLIENT_ID" in str(raised.value)


def test_settings_unknown_mode_is_refused():
    with pytest.raises(SettingsError):
        load_settings({"VENTANILLA_AUTH_MODE": "none"})


def test_settings_key_parameter_follows_stage():
    settings = load_settings({"VENTANILLA_STAGE": "dev"})

    assert settings.development_key_parameter == "/ventanilla/dev/auth/development-public-key"


def test_settings_key_parameter_override():
    variable = {"VENTANILLA_DEV_JWT_PUBLIC_KEY_PARAMETER": "/team/keys/agent-api"}

    assert load_settings(variable).development_key_parameter == "/team/keys/agent-api"


def test_settings_lambda_runtime_is_detected():
    settings = load_settings({"AWS_LAMBDA_FUNCTION_NAME": "ventanilla-dev-agent_authorizer"})

    assert settings.on_lambda is True


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_chalice_stage_uses_cognito(stage):
    config = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))
    environment = {
        **config["environment_variables"],
        **config["stages"][stage]["environment_variables"],
    }

    settings = load_settings(environment)

    assert settings.stage == stage
    assert settings.auth_mode == "cognito"
