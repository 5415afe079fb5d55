"""Create the resources of `infra/template.yaml` through the service APIs.

moto's CloudFormation drops table TTL, SNS subscriptions and topic policies, so
local and test stacks are built from the template's own definitions with direct
API calls instead. Only the properties moto and DynamoDB Local honour are read.
"""

import re
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).with_name("template.yaml")


class _TemplateLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation's short-form tags as `Fn::` maps."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict:
    """Parse the CloudFormation template, keeping intrinsic functions as data."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass


def resolve(value: Any, parameters: dict[str, str]) -> Any:
    """Resolve `!Sub` and `!Ref` of template parameters in a property value."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}]+)\}", lambda match: parameters[match.group(1)], value["Fn::Sub"])
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    if isinstance(value, dict):
        return {key: resolve(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, parameters) for item in value]
    return value


def resources_of_type(template: dict, resource_type: str, stage: str) -> dict[str, dict]:
    """Return the resolved properties of every resource of one type, by logical id."""
    parameters = {"Stage": stage, "AWS::AccountId": "123456789012", "AWS::Region": "us-east-1"}
    return {
        logical_id: resolve(resource.get("Properties", {}), parameters)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def table_definitions(stage: str, template: dict | None = None) -> list[dict]:
    """Return the CreateTable request and TTL attribute of each table in the template."""
    template = template or load_template()
    definitions = []
    for properties in resources_of_type(template, "AWS::DynamoDB::Table", stage).values():
        request = {
            key: properties[key]
            for key in ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode")
        }
        if properties.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        ttl = properties.get("TimeToLiveSpecification") or {}
        definitions.append({"request": request, "ttl_attribute": ttl.get("AttributeName")})
    return definitions


def create_resources(session: Any, stage: str) -> dict[str, str]:
    """Create every table, topic, queue and stream of the template; return names to ARNs or URLs."""
    template = load_template()
    created: dict[str, str] = {}

    dynamodb = session.client("dynamodb")
    for definition in table_definitions(stage, template):
        request = definition["request"]
        dynamodb.create_table(**request)
        dynamodb.get_waiter("table_exists").wait(TableName=request["TableName"])
        if definition["ttl_attribute"]:
            dynamodb.update_time_to_live(
                TableName=request["TableName"],
                TimeToLiveSpecification={
                    "AttributeName": definition["ttl_attribute"],
                    "Enabled": True,
                },
            )
        created[request["TableName"]] = request["TableName"]

    sns = session.client("sns")
    for properties in resources_of_type(template, "AWS::SNS::Topic", stage).values():
        created[properties["TopicName"]] = sns.create_topic(Name=properties["TopicName"])[
            "TopicArn"
        ]

    sqs = session.client("sqs")
    for properties in resources_of_type(template, "AWS::SQS::Queue", stage).values():
        attributes = {}
        if "MessageRetentionPeriod" in properties:
            attributes["MessageRetentionPeriod"] = str(properties["MessageRetentionPeriod"])
        response = sqs.create_queue(QueueName=properties["QueueName"], Attributes=attributes)
        created[properties["QueueName"]] = response["QueueUrl"]

    kinesis = session.client("kinesis")
    for properties in resources_of_type(template, "AWS::Kinesis::Stream", stage).values():
        kinesis.create_stream(
            StreamName=properties["Name"], StreamModeDetails=properties["StreamModeDetails"]
        )
        created[properties["Name"]] = kinesis.describe_stream_summary(
            StreamName=properties["Name"]
        )["StreamDescriptionSummary"]["StreamARN"]
    return created
