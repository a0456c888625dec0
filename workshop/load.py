"""`workshop load`: a steady trickle of requests and, once a second, who answered them.

For the instructor's demo: run it in one terminal, edit the facade's routing table in another,
and watch customers move from the monolith to the new service (or see 502s when one is killed).
Each simulated customer sends its own Authorization header, so sticky routing keeps it on one
side. Standard library only; loopback only.
"""

from __future__ import annotations

import collections
import http.client
import time
import urllib.parse


def run(base_url: str, path: str, customers: int, seconds: float, per_second: int = 20) -> dict:
    parsed = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    totals: collections.Counter = collections.Counter()
    deadline = time.monotonic() + seconds
    i = 0
    try:
        while time.monotonic() < deadline:
            tick = collections.Counter()
            started = time.monotonic()
            for _ in range(per_second):
                customer = f"customer-{i % customers:03d}"
                i += 1
                try:
                    conn.request("GET", path, headers={"Authorization": f"Token {customer}"})
                    resp = conn.getresponse()
                    resp.read()
                    who = resp.getheader("X-Served-By") or resp.getheader("X-Upstream") or "?"
                    tick[f"{who} {resp.status}"] += 1
                except OSError:
                    conn.close()
                    tick["no answer"] += 1
            totals.update(tick)
            print("  ".join(f"{key}: {n:>3}" for key, n in sorted(tick.items())), flush=True)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    finally:
        conn.close()
    return dict(totals)
