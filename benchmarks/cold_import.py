"""Measure the cold import time of app.py against the libraries it is built on.

Run from the repository root: `python -m benchmarks.cold_import [--runs N] [--importtime]`.

Each sample is a fresh interpreter that times one import block with
`time.perf_counter`, so interpreter startup is left out. The programs run
interleaved, after one unmeasured run each that compiles bytecode and warms the
OS file cache. The baseline imports the libraries app.py uses and builds a
powertools Logger, as app.py does, so app/baseline measures what Ventanilla's own
modules, and the libraries only they load, add. Times depend on the machine, so
compare the ratio.

Before timing, one more interpreter imports app.py and checks that the import
loads no X-Ray SDK, builds no powertools Tracer and creates no botocore client.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = 15
PACKAGES = ("chalice", "boto3", "botocore", "pynamodb", "pydantic", "phonenumbers")
POWERTOOLS = "aws-lambda-powertools"

APP = "import app"
LIBRARIES = """\
from chalice import Chalice
import boto3
from pynamodb.models import Model
from pydantic import BaseModel
import phonenumbers
from aws_lambda_powertools import Logger
Logger(service="baseline")"""
BARE_CHALICE = "from chalice import Chalice"
# powertools' Tracer loads the X-Ray SDK when built, even with tracing disabled.
WITH_TRACER = (
    LIBRARIES
    + """
from aws_lambda_powertools import Tracer
Tracer(service="baseline")"""
)

# Counts what `import app` builds. Every boto3 or pynamodb client goes through
# Session.create_client, and every Tracer through Tracer.__init__.
SIDE_EFFECTS = """\
import json, sys
import botocore.session
from aws_lambda_powertools.tracing import tracer
created = {"clients": [], "tracers": 0}
create_client = botocore.session.Session.create_client
def counting_create_client(self, service_name, *args, **kwargs):
    created["clients"].append(service_name)
    return create_client(self, service_name, *args, **kwargs)
botocore.session.Session.create_client = counting_create_client
tracer_init = tracer.Tracer.__init__
def counting_tracer_init(self, *args, **kwargs):
    created["tracers"] += 1
    tracer_init(self, *args, **kwargs)
tracer.Tracer.__init__ = counting_tracer_init
import app
created["modules"] = sorted(sys.modules)
created["xray_modules"] = [name for name in created["modules"] if name.startswith("aws_xray_sdk")]
print(json.dumps(created))"""


@dataclass(frozen=True)
class Program:
    name: str
    description: str
    source: str


PROGRAMS = (
    Program("app", "`import app`", APP),
    Program(
        "baseline",
        "chalice, boto3, pynamodb, pydantic, phonenumbers, powertools Logger; no app",
        LIBRARIES,
    ),
    Program("bare chalice", "`from chalice import Chalice`", BARE_CHALICE),
    Program("baseline + Tracer", "the baseline, then a powertools Tracer", WITH_TRACER),
)


class ImportCheckError(RuntimeError):
    """Raised when importing app.py loads the X-Ray SDK, a Tracer or an AWS client."""


def run_python(arguments: list[str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "POWERTOOLS_SERVICE_NAME": "ventanilla"}
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )


def timed_import(source: str) -> float:
    """Return the seconds one fresh interpreter takes to run `source`."""
    program = f"import time\n_start = time.perf_counter()\n{source}\n"
    program += "print(time.perf_counter() - _start)"
    return float(run_python(["-c", program]).stdout.strip().splitlines()[-1])


def check_import_side_effects() -> dict:
    """Import app.py in a fresh interpreter and return what the import created.

    Raises ImportCheckError when the import loaded the X-Ray SDK, built a Tracer or
    created a botocore client.
    """
    created = json.loads(run_python(["-c", SIDE_EFFECTS]).stdout.strip().splitlines()[-1])
    if created["xray_modules"]:
        raise ImportCheckError(f"import app loaded the X-Ray SDK: {created['xray_modules']}")
    if created["tracers"]:
        raise ImportCheckError(f"import app built {created['tracers']} powertools Tracer(s)")
    if created["clients"]:
        raise ImportCheckError(f"import app created botocore clients: {created['clients']}")
    return created


def percentile(samples: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile: the smallest sample with `fraction` at or below it."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def import_self_times(source: str) -> dict[str, int]:
    """Return each module's own import time in microseconds, from `python -X importtime`."""
    lines = run_python(["-X", "importtime", "-c", source]).stderr.splitlines()
    times = {}
    for line in lines:
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        times[name] = int(own)
    return times


def added_modules(source: str, baseline: str) -> dict[str, int]:
    """Return the own import time of each module `source` loads and `baseline` does not.

    Own time leaves out submodules, so a library imported first by one of our
    modules is not charged to it.
    """
    baseline_modules = import_self_times(baseline)
    return {
        name: own for name, own in import_self_times(source).items() if name not in baseline_modules
    }


def versions() -> str:
    names = [*PACKAGES, POWERTOOLS]
    return ", ".join(f"{name} {metadata.version(name)}" for name in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help="fresh interpreters per program"
    )
    parser.add_argument(
        "--importtime",
        action="store_true",
        help="also list the modules app.py loads beyond the baseline, from python -X importtime",
    )
    arguments = parser.parse_args()

    created = check_import_side_effects()
    load_before = os.getloadavg()[0]
    for program in PROGRAMS:
        timed_import(program.source)
    samples: dict[str, list[float]] = {program.name: [] for program in PROGRAMS}
    for _ in range(arguments.runs):
        for program in PROGRAMS:
            samples[program.name].append(timed_import(program.source))

    load_after = os.getloadavg()[0]

    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"Python {platform.python_version()} on {os.cpu_count()} CPUs; {versions()}")
    print(f"{arguments.runs} fresh interpreters per program, interleaved, after one warm-up each.")
    # Other processes on the machine slow every program, so the load goes with the figures.
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after")
    print()
    print("| program | imports | median ms | p90 ms |")
    print("| --- | --- | ---: | ---: |")
    for program in PROGRAMS:
        values = samples[program.name]
        print(
            f"| {program.name} | {program.description} | {medians[program.name] * 1000:.0f} "
            f"| {percentile(values, 0.9) * 1000:.0f} |"
        )
    print()
    print(f"app / baseline (medians): {medians['app'] / medians['baseline']:.2f}")
    print(f"app / bare chalice (medians): {medians['app'] / medians['bare chalice']:.2f}")
    tracer_cost = medians["baseline + Tracer"] - medians["baseline"]
    print(f"a Tracer adds to the baseline (medians): {tracer_cost * 1000:.0f} ms")
    print(
        f"import app: X-Ray SDK modules {len(created['xray_modules'])}, "
        f"Tracers built {created['tracers']}, botocore clients created {len(created['clients'])}"
    )
    if arguments.importtime:
        added = added_modules(APP, LIBRARIES)
        print()
        print(
            f"modules app.py loads beyond the baseline (python -X importtime, one run): "
            f"{len(added)}, {sum(added.values()) / 1000:.0f} ms of own import time"
        )
        print()
        print("| own ms | module |")
        print("| ---: | --- |")
        for name, own in sorted(added.items(), key=lambda entry: -entry[1])[:15]:
            print(f"| {own / 1000:.1f} | `{name}` |")


if __name__ == "__main__":
    main()
