"""infra/template.yaml against the pynamodb models and app.py's event sources, without AWS."""

import pytest
from chalice.app import KinesisEventConfig, SNSEventConfig
from pynamodb.attributes import TTLAttribute

from chalicelib.store import models
from infra.resources import load_template, resources_of_type, table_definitions

STAGE = "test"


@pytest.fixture(scope="module")
def table():
    tables = resources_of_type(load_template(), "AWS::DynamoDB::Table", STAGE)
    assert len(tables) == 1, sorted(tables)
    return next(iter(tables.values()))


@pytest.fixture(scope="module")
def model_schema():
    """The table as the pynamodb models declare it, merged over every entity."""
    attributes, indexes = {}, {}
    for model in models.ENTITIES:
        schema = model._get_schema()
        for definition in schema["attribute_definitions"]:
            attributes[definition["AttributeName"]] = definition["AttributeType"]
        for index in schema["global_secondary_indexes"]:
            indexes[index["index_name"]] = index
    key_schema = models.TableItem._get_schema()["key_schema"]
    keys = {item["KeyType"]: item["AttributeName"] for item in key_schema}
    return {"attributes": attributes, "indexes": indexes, "keys": keys}


def key_names(key_schema):
    return {item["KeyType"]: item["AttributeName"] for item in key_schema}


def ttl_attribute_names():
    return {
        attribute.attr_name
        for model in models.ENTITIES
        for attribute in model.get_attributes().values()
        if isinstance(attribute, TTLAttribute)
    }


def test_template_table_name_matches_models(table):
    assert table["TableName"] == f"ventanilla-{STAGE}"
    assert models.TableItem.Meta.table_name == table["TableName"]


def test_template_table_keys_match_models(table, model_schema):
    assert key_names(table["KeySchema"]) == model_schema["keys"]
    assert model_schema["keys"] == {"HASH": "pk", "RANGE": "sk"}


def test_template_attribute_types_match_models(table, model_schema):
    declared = {
        item["AttributeName"]: item["AttributeType"] for item in table["AttributeDefinitions"]
    }

    assert declared == model_schema["attributes"]


def test_template_index_names_match_models(table, model_schema):
    names = {index["IndexName"] for index in table["GlobalSecondaryIndexes"]}

    assert names == set(model_schema["indexes"])
    assert models.Case.by_status.Meta.index_name == "gsi1"


def test_template_index_keys_match_models(table, model_schema):
    for index in table["GlobalSecondaryIndexes"]:
        model_index = model_schema["indexes"][index["IndexName"]]
        assert key_names(index["KeySchema"]) == key_names(model_index["key_schema"])


def test_template_index_projects_all_attributes(table, model_schema):
    for index in table["GlobalSecondaryIndexes"]:
        model_index = model_schema["indexes"][index["IndexName"]]
        assert index["Projection"]["ProjectionType"] == "ALL"
        assert model_index["projection"]["ProjectionType"] == "ALL"


def test_template_ttl_attribute_matches_models(table):
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    assert table["TimeToLiveSpecification"]["AttributeName"] == models.TTL_ATTRIBUTE
    assert ttl_attribute_names() == {models.TTL_ATTRIBUTE}


def test_template_billing_mode_matches_models(table):
    assert table["BillingMode"] == models.TableItem.Meta.billing_mode


def test_template_topics_cover_app_event_sources():
    from app import app

    topics = {
        properties["TopicName"]
        for properties in resources_of_type(load_template(), "AWS::SNS::Topic", STAGE).values()
    }
    # A topic may be given by name or by ARN, whose last field is the name.
    subscribed = {
        source.topic.split(":")[-1]
        for source in app.event_sources
        if isinstance(source, SNSEventConfig)
    }

    assert subscribed
    assert subscribed <= topics


def test_template_streams_cover_app_event_sources():
    from app import app

    streams = {
        properties["Name"]
        for properties in resources_of_type(load_template(), "AWS::Kinesis::Stream", STAGE).values()
    }
    consumed = {
        source.stream for source in app.event_sources if isinstance(source, KinesisEventConfig)
    }

    assert consumed == {"ventanilla-test-contact-records"}
    assert consumed <= streams


def test_template_parked_records_queue_matches_settings():
    from chalicelib.settings import get_settings

    queues = {
        properties["QueueName"]
        for properties in resources_of_type(load_template(), "AWS::SQS::Queue", STAGE).values()
    }

    assert get_settings().parked_records_queue in queues


def test_table_definitions_match_template(table):
    (definition,) = table_definitions(STAGE)

    request = definition["request"]
    assert definition["ttl_attribute"] == models.TTL_ATTRIBUTE
    assert request["TableName"] == table["TableName"]
    assert request["KeySchema"] == table["KeySchema"]
    assert request["AttributeDefinitions"] == table["AttributeDefinitions"]
    assert request["GlobalSecondaryIndexes"] == table["GlobalSecondaryIndexes"]
    assert request["BillingMode"] == table["BillingMode"]


def test_table_definitions_follow_stage():
    (definition,) = table_definitions("prod")

    assert definition["request"]["TableName"] == "ventanilla-prod"
