"""Create the resources of `infra/template.yaml` through the service APIs.

moto's CloudFormation drops table TTL, SNS subscriptions and topic policies, so
local and test stacks are built from the template's own definitions with direct
API calls instead. Only the properties moto and DynamoDB Local honour are read.
"""

import json
import re
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).with_name("template.yaml")
ACCOUNT_ID = "123456789012"
# A `${Name}` placeholder of an ASL file, filled from `DefinitionSubstitutions`.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


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
    parameters = {"Stage": stage, "AWS::AccountId": ACCOUNT_ID, "AWS::Region": "us-east-1"}
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
    """Create every table, topic, queue and state machine of the template.

    Returns each resource's name mapped to its ARN, or its URL for a queue.
    """
    template = load_template()
    created: dict[str, str] = {}
    # What `!Ref` of each logical id resolves to, and `!GetAtt <id>.Arn`.
    references: dict[str, str] = {}
    arns: dict[str, str] = {}

    dynamodb = session.client("dynamodb")
    tables = resources_of_type(template, "AWS::DynamoDB::Table", stage)
    for logical_id, definition in zip(tables, table_definitions(stage, template), strict=True):
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
        references[logical_id] = request["TableName"]

    sns = session.client("sns")
    for logical_id, properties in resources_of_type(template, "AWS::SNS::Topic", stage).items():
        topic_arn = sns.create_topic(Name=properties["TopicName"])["TopicArn"]
        created[properties["TopicName"]] = references[logical_id] = topic_arn

    sqs = session.client("sqs")
    queues = resources_of_type(template, "AWS::SQS::Queue", stage)
    # Dead-letter queues first, because a redrive policy names its target's ARN.
    for logical_id in sorted(queues, key=lambda queue: "RedrivePolicy" in queues[queue]):
        properties = queues[logical_id]
        queue_url = sqs.create_queue(
            QueueName=properties["QueueName"], Attributes=_queue_attributes(properties, arns)
        )["QueueUrl"]
        created[properties["QueueName"]] = references[logical_id] = queue_url
        arns[logical_id] = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

    stepfunctions = session.client("stepfunctions")
    machines = resources_of_type(template, "AWS::StepFunctions::StateMachine", stage)
    for properties in machines.values():
        definition = state_machine_definition(properties, references)
        response = stepfunctions.create_state_machine(
            name=properties["StateMachineName"],
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ventanilla-{stage}-workflows",
            type=properties.get("StateMachineType", "STANDARD"),
        )
        created[properties["StateMachineName"]] = response["stateMachineArn"]
    return created


def _queue_attributes(properties: dict, arns: dict[str, str]) -> dict[str, str]:
    attributes = {
        name: str(properties[name])
        for name in ("MessageRetentionPeriod", "VisibilityTimeout")
        if name in properties
    }
    redrive = properties.get("RedrivePolicy")
    if redrive:
        target = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
        logical_id = target.split(".")[0] if isinstance(target, str) else target[0]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arns[logical_id], "maxReceiveCount": redrive["maxReceiveCount"]}
        )
    return attributes


def state_machine_definition(properties: dict, references: dict[str, str]) -> str:
    """Read a state machine's ASL file and apply its `DefinitionSubstitutions`.

    Raises KeyError naming a `${...}` placeholder that has no substitution.
    """
    text = (TEMPLATE_PATH.parent / properties["DefinitionS3Location"]).read_text(encoding="utf-8")
    substitutions = {
        name: _reference(value, references)
        for name, value in properties.get("DefinitionSubstitutions", {}).items()
    }

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise KeyError(f"{properties['DefinitionS3Location']}: no substitution for ${{{name}}}")
        return substitutions[name]

    return PLACEHOLDER.sub(substitute, text)


def _reference(value: Any, references: dict[str, str]) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return references[value["Ref"]]
    return str(value)
