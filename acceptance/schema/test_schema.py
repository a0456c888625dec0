"""The OpenAPI schema is true to the API: schemathesis, every check, against the running front door.

Run by `tox -e schema-monolith`, `schema-strangler`, `schema-extract-orders` (not by the
acceptance envs: it takes a few minutes and changes stock at random). The stage is started the
way the acceptance suite starts it (../conftest.py); schemathesis reads the schema the front door
serves and throws generated requests at every operation, once as a customer and once as staff,
with `--checks all`: no 5xx, only documented status codes, bodies and headers that match the
schema, schema-valid requests accepted and invalid ones rejected, auth enforced, a created
order readable at its `Location`. `schemathesis.toml` beside this file lists the few 4xx the
contract gives to schema-valid requests (wrong credentials, unknown product, declined card).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CUSTOMERS, STAFF

HERE = Path(__file__).resolve().parent
EXAMPLES = os.environ.get("SCHEMA_MAX_EXAMPLES", "30")
# A fixed seed: the same requests every run, so CI never fails at random. SCHEMA_SEED=random
# explores new data (do it when you change the API; fix what it finds, keep the seed).
SEED = os.environ.get("SCHEMA_SEED", "20261127")

pytestmark = pytest.mark.schema


def schemathesis_cli() -> str:
    beside_python = Path(sys.executable).parent / "schemathesis"
    found = str(beside_python) if beside_python.exists() else shutil.which("schemathesis")
    if not found:
        pytest.fail("schemathesis is not installed: run `python3 -m workshop test -e schema-...`")
    return found


@pytest.mark.parametrize("who", ["customer", "staff"])
def test_every_operation_keeps_its_schema(who, base_url, login, tmp_path):
    user, password = next(iter((CUSTOMERS if who == "customer" else STAFF).items()))
    token = login(user, password)
    command = [
        schemathesis_cli(), "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{base_url}/api/v1/schema/", "--url", base_url,
        "-H", f"Authorization: Token {token}",
        "--checks", "all", "--max-examples", EXAMPLES,
        *([] if SEED == "random" else ["--seed", SEED]),
        # Two workers crashed inside the tool on this kind of box (shared/machine.md).
        "--workers", "1",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    started = time.monotonic()
    # In tmp_path: the tool keeps its replay cache (.schemathesis/) in its working directory.
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=900, cwd=tmp_path)
    took = time.monotonic() - started
    output = run.stdout
    # The phases with their times and the test-case count: the figures a maintainer watches.
    phases = [line.strip() for line in output.splitlines()
              if re.match(r"\s*\S+\s+(Examples|Coverage|Fuzzing|Stateful) \(in ", line)
              or "generated," in line]
    print(f"\nschemathesis as {who} ({user}): exit {run.returncode} in {took:.0f} s; "
          + "; ".join(phases))
    summary = output[output.find("= FAILURES ="):] if "= FAILURES =" in output else output[-3000:]
    assert run.returncode == 0, f"schemathesis as {who} ({user}) failed:\n{summary}"
