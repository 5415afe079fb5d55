"""The IAM policies of `.chalice/policy-<stage>.json` against the AWS calls the code makes.

Chalice's generated policy cannot see code in chalicelib/, so these files are written
by hand, and an action missing from them fails only on AWS, with AccessDenied.
"""

import json
from pathlib import Path

import pytest

POLICY_DIR = Path(__file__).parents[2] / ".chalice"
STAGES = ("dev", "prod")

# The IAM actions behind every DynamoDB request of the product. pynamodb's batch_get
# is BatchGetItem, TransactGetItems needs GetItem on each item, and TransactWriteItems
# needs PutItem, UpdateItem or ConditionCheckItem for each of its operations.
TABLE_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
}


def allowed_actions(stage):
    policy = json.loads((POLICY_DIR / f"policy-{stage}.json").read_text())
    actions = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.mark.parametrize("stage", STAGES)
def test_policy_allows_table_actions(stage):
    missing = TABLE_ACTIONS - allowed_actions(stage)
    assert missing == set(), f"policy-{stage}.json lacks {sorted(missing)}"
