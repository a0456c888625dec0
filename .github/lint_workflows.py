"""Lint every GitHub workflow (`tox -e workflows`), so one cannot rot unnoticed.

actionlint knows the workflow language, expressions, and each popular action's inputs and
runtime (it flags an action whose node runtime GitHub removes); check-jsonschema checks each
file against the published GitHub-workflow schema.
"""

import subprocess
import sys
from pathlib import Path

workflows = sorted(str(p) for p in (Path(__file__).parent / "workflows").glob("*.y*ml"))
if not workflows:
    sys.exit("no workflow in .github/workflows")
linted = subprocess.call(["actionlint", *workflows])
schema = subprocess.call(
    ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows]
)
sys.exit(linted or schema)
