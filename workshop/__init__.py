"""The workshop's own command line: `python3 -m workshop <command>`.

Everything that runs before the virtual environment exists (bootstrap, doctor) uses the standard
library only, so a fresh clone needs nothing but python3.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_PYTHON = (3, 11)  # what CI runs: 3.11 and 3.13
