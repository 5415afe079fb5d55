"""The ASL files of infra/statemachines/ against the template and the task registry."""

import json
import re
from pathlib import Path

import pytest

from chalicelib.workflows import engine, tasks
from infra.resources import PLACEHOLDER, TEMPLATE_PATH, load_template, resources_of_type

STAGE = "test"
MACHINES = resources_of_type(load_template(), "AWS::StepFunctions::StateMachine", STAGE)
CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"


def _definition(properties: dict) -> dict:
    path = TEMPLATE_PATH.parent / properties["DefinitionS3Location"]
    return json.loads(path.read_text(encoding="utf-8"))


def _states(definition: dict):
    """Yield every state, including those of Parallel branches and Map iterators."""
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _states(state[key])


def test_statemachines_cover_every_workflow_kind():
    names = {properties["StateMachineName"] for properties in MACHINES.values()}

    assert names == {f"ventanilla-{STAGE}-{kind}" for kind in engine.KINDS}


def test_statemachines_every_file_is_in_the_template():
    files = {path.name for path in (TEMPLATE_PATH.parent / "statemachines").glob("*.asl.json")}
    used = {Path(item["DefinitionS3Location"]).name for item in MACHINES.values()}

    assert files == used


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_statemachine_placeholders_have_substitutions(logical_id):
    properties = MACHINES[logical_id]
    text = (TEMPLATE_PATH.parent / properties["DefinitionS3Location"]).read_text(encoding="utf-8")
    placeholders = set(PLACEHOLDER.findall(text))

    assert placeholders <= set(properties.get("DefinitionSubstitutions", {}))
    assert "${" not in PLACEHOLDER.sub("", text)


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_statemachine_substitutions_name_template_resources(logical_id):
    resources = load_template()["Resources"]
    for value in MACHINES[logical_id].get("DefinitionSubstitutions", {}).values():
        assert set(value) == {"Ref"}
        assert value["Ref"] in resources


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_statemachine_transitions_name_existing_states(logical_id):
    definition = _definition(MACHINES[logical_id])
    states = dict(_states(definition))

    assert definition["StartAt"] in states
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [choice.get("Next") for choice in state.get("Choices", [])]
        targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in states, f"{name} goes to missing state {target}"
        terminal = state.get("End") or state["Type"] in ("Succeed", "Fail", "Choice")
        assert terminal or state.get("Next"), f"{name} has no Next and no End"


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_statemachine_tasks_are_registered_and_bounded(logical_id):
    for name, state in _states(_definition(MACHINES[logical_id])):
        if state.get("Resource") != CALLBACK:
            continue
        parameters = state["Parameters"]
        body = parameters["MessageBody"]
        assert parameters["QueueUrl"] == "${WorkflowTasksQueueUrl}"
        assert body["task"] in tasks.registered_tasks(), f"{name}: unknown task {body['task']}"
        assert body["token.$"] == "$$.Task.Token"
        assert body["execution.$"] == "$$.Execution.Id"
        # A callback without a timeout waits up to a year if the handler loses it.
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_statemachine_timestamps_come_from_input(logical_id):
    """Waits read their time from the input, which our code computes in UTC with `Z`."""
    for name, state in _states(_definition(MACHINES[logical_id])):
        if state["Type"] != "Wait":
            continue
        assert {"TimestampPath", "SecondsPath"} & set(state), f"{name} has a fixed wait"
        assert re.fullmatch(r"\$\.[\w.]+", state.get("TimestampPath", state.get("SecondsPath")))
