"""A stand-in server for the supervisor's tests: it answers /healthz, and misbehaves on request.

    python serve.py PORT NAME

FAKE_SLOW_STOP=s   on SIGTERM (Ctrl-Break on Windows), take s seconds before exiting
FAKE_EXIT=code     exit at once with this code, before listening
FAKE_CRASH_LOOP=f  once the file f exists, exit with code 3 a moment after every start
Leaves `NAME.term` (when asked to stop) and `NAME.exit` (when it exits cleanly) in its folder.
"""

import http.server
import os
import signal
import sys
import threading
import time
from pathlib import Path

port, name = int(sys.argv[1]), sys.argv[2]
if os.environ.get("FAKE_EXIT"):
    sys.exit(int(os.environ["FAKE_EXIT"]))
loop = os.environ.get("FAKE_CRASH_LOOP")
if loop and Path(loop).exists():
    threading.Timer(0.2, os._exit, args=(3,)).start()


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = f'{{"status": "ok", "service": "{name}", "pid": {os.getpid()}}}'.encode()
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def stop(signum, frame):
    Path(f"{name}.term").write_text(f"{time.time()}\n")
    time.sleep(float(os.environ.get("FAKE_SLOW_STOP", "0")))
    Path(f"{name}.exit").write_text(f"{time.time()}\n")
    os._exit(0)


for sig in ("SIGTERM", "SIGINT", "SIGBREAK"):
    if hasattr(signal, sig):
        signal.signal(getattr(signal, sig), stop)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Health)
print(f"{name} listening on {port}", flush=True)
server.serve_forever()
