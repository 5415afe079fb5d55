"""What importing app.py must not do, checked in a fresh interpreter.

A powertools Tracer loads the X-Ray SDK even with tracing disabled, which
lengthens every cold start (benchmarks/cold_import.py measures by how much), and a
client built at import time costs every cold start and escapes moto and botocore's
Stubber.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cold_import import SIDE_EFFECTS

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app_import():
    completed = subprocess.run(
        [sys.executable, "-c", SIDE_EFFECTS],
        cwd=REPOSITORY,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_app_import_skips_xray_sdk(app_import):
    xray_modules = [name for name in app_import["modules"] if name.startswith("aws_xray_sdk")]

    assert xray_modules == []


def test_app_import_builds_no_tracer(app_import):
    assert app_import["tracers"] == 0


def test_app_import_creates_no_client(app_import):
    assert app_import["clients"] == []


def test_app_import_loads_app(app_import):
    assert "app" in app_import["modules"]
