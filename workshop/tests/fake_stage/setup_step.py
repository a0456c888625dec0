"""A setup step that takes as long as the test wants: it waits for a file named `go`."""

import time
from pathlib import Path

print("setup: waiting for go", flush=True)
deadline = time.monotonic() + 120
while not Path("go").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print("setup: done", flush=True)
