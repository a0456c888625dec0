"""Proxy correctness: headers both ways, bodies streamed intact, redirects, the facade's pages."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time

import pytest
from upstream import pattern

from conftest import start_facade, table

ROUTES = """
[[routes]]
prefix = "/api/v1/orders"
old = "monolith"
new = "orders"
weight = 100

[[routes]]
prefix = "/"
old = "monolith"
"""


@pytest.fixture(scope="module")
def facade(upstreams, tmp_path_factory):
    urls = {name: u.url for name, u in upstreams.items()}
    proc = start_facade(tmp_path_factory.mktemp("proxy"), table(urls, ROUTES))
    try:
        yield proc
    finally:
        proc.close()


def upstream_headers(body: dict) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in body["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


def raw_request(port: int, request: bytes) -> bytes:
    """Send bytes exactly as written (httpx would tidy the hop-by-hop headers up itself)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while not data.endswith(b"}") and (chunk := sock.recv(65536)):
            data += chunk
        return data


def test_hop_by_hop_request_headers_are_not_passed_on(facade):
    reply = raw_request(
        facade.port,
        b"GET /echo HTTP/1.1\r\n"
        b"Host: shop.test\r\n"
        b"Connection: keep-alive, X-Hop-Req\r\n"
        b"X-Hop-Req: for the facade only\r\n"
        b"Keep-Alive: timeout=5\r\n"
        b"Proxy-Authorization: Basic c2VjcmV0\r\n"
        b"Proxy-Connection: keep-alive\r\n"
        b"TE: trailers\r\n"
        b"Trailer: X-Checksum\r\n"
        b"Upgrade: h2c\r\n"
        b"X-End-To-End: kept\r\n"
        b"\r\n",
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    seen = upstream_headers(json.loads(body))
    for name in ("x-hop-req", "keep-alive", "proxy-authorization", "proxy-connection", "te",
                 "trailer", "upgrade"):
        assert name not in seen, name
    assert seen.get("connection", ["keep-alive"]) == ["keep-alive"]  # aiohttp's own hop
    assert seen["x-end-to-end"] == ["kept"]


def test_hop_by_hop_response_headers_are_not_passed_back(facade):
    response = facade.client.get("/hop-response")
    assert response.status_code == 200
    for name in ("x-hop-resp", "keep-alive", "proxy-authenticate", "trailer"):
        assert name not in response.headers, name
    assert response.headers["x-end-to-end"] == "kept"
    # one Date and one Server: the facade's server sets them, the upstream's are dropped
    assert len(response.headers.get_list("date")) == 1
    assert len(response.headers.get_list("server")) == 1


def test_forwarded_headers_tell_the_upstream_who_asked(facade):
    body = facade.client.get(
        "/echo", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "evil.test"}
    ).json()
    seen = upstream_headers(body)
    assert seen["x-forwarded-for"] == ["203.0.113.7, 127.0.0.1"]  # appended, not replaced
    assert seen["x-forwarded-proto"] == ["http"]
    # set by the facade from the Host the client used, never taken from the client
    assert seen["x-forwarded-host"] == [f"127.0.0.1:{facade.port}"]
    # Host is kept as the client sent it (see README: Django's CSRF origin check needs it)
    assert seen["host"] == [f"127.0.0.1:{facade.port}"]


def test_a_request_id_is_made_when_missing_and_passed_both_ways(facade):
    response = facade.client.get("/echo")
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert upstream_headers(response.json())["x-request-id"] == [request_id]
    assert facade.client.get("/echo").headers["x-request-id"] != request_id  # one per request


def test_a_request_id_from_the_client_is_kept(facade):
    response = facade.client.get("/echo", headers={"X-Request-ID": "req-abc.123"})
    assert response.headers["x-request-id"] == "req-abc.123"
    assert upstream_headers(response.json())["x-request-id"] == ["req-abc.123"]
    # the upstream's own X-Request-ID does not replace it
    response = facade.client.get("/hop-response", headers={"X-Request-ID": "req-xyz"})
    assert response.headers.get_list("x-request-id") == ["req-xyz"]


def test_a_large_upload_arrives_intact(facade):
    data = os.urandom(5 * 1024 * 1024)
    body = facade.client.post("/upload", content=data).json()
    assert body["body_size"] == len(data)
    assert body["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_chunked_upload_is_streamed_not_buffered(facade):
    # The client sends one chunk, waits, then the rest. A facade that buffered the body would
    # hand it over all at once; a streaming one passes the first chunk on at once.
    def slowly():
        yield b"a" * 65536
        time.sleep(0.6)
        yield b"b" * 65536

    body = facade.client.post("/upload", content=slowly()).json()
    assert body["body_size"] == 131072
    assert body["body_first_to_last"] >= 0.4, body


def test_a_large_download_arrives_intact(facade):
    size = 6 * 1024 * 1024 + 123
    response = facade.client.get(f"/download?size={size}")
    assert response.status_code == 200
    assert len(response.content) == size
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(pattern(size)).digest()


def test_a_download_is_streamed_not_buffered(facade):
    # The upstream sends 64 KiB, pauses 1 s, sends the rest: the first bytes must not wait.
    started = time.monotonic()
    with facade.client.stream("GET", "/download?size=1048576&pause=1") as response:
        chunks = response.iter_raw()
        first = next(chunks)
        first_after = time.monotonic() - started
        rest = b"".join(chunks)
    assert first and first_after < 0.7, first_after
    assert first + rest == pattern(1048576)


def test_cookies_pass_through_and_are_never_kept_by_the_facade(facade):
    response = facade.client.get("/set-cookie")
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert any(c.startswith("sessionid=alice-session") for c in cookies)
    # The next customer, without cookies, must not be sent alice's session: a proxy whose HTTP
    # client keeps a cookie jar would do exactly that.
    facade.client.cookies.clear()
    body = facade.client.get("/echo").json()
    assert "cookie" not in upstream_headers(body)


def test_redirects_are_passed_through_not_followed(facade):
    response = facade.client.get("/redirect")
    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere"
    assert response.headers["x-upstream"] == "monolith"


def test_health_and_routes_pages(facade):
    assert facade.client.get("/-/health").json() == {"status": "ok", "table_version": 1}
    routes = facade.routes()
    assert routes["version"] == 1 and routes["loaded_at"] and routes["last_error"] is None
    assert [r["prefix"] for r in routes["routes"]] == ["/api/v1/orders", "/"]
    assert routes["routes"][0]["weight"] == 100
    assert facade.client.get("/-/nothing").status_code == 404


def test_metrics_count_requests_latency_and_reloads(facade):
    before = facade.metric(
        "facade_requests_total", route="/api/v1/orders", upstream="orders", status="200"
    )
    for _ in range(3):
        assert facade.client.get("/api/v1/orders/1").status_code == 200
    assert facade.client.get("/redirect").status_code == 302
    text = facade.client.get("/-/metrics").text
    assert facade.metric(
        "facade_requests_total", route="/api/v1/orders", upstream="orders", status="200"
    ) == before + 3
    assert facade.metric("facade_requests_total", route="/", upstream="monolith", status="302") >= 1
    assert facade.metric("facade_upstream_latency_seconds_count", upstream="orders") >= 3
    assert 'facade_upstream_latency_seconds_bucket{le="0.005",upstream="orders"}' in text
    assert facade.metric("facade_table_reloads_total", result="ok") == 1
    assert facade.metric("facade_table_version") == 1
    assert facade.metric("facade_route_weight_percent", route="/api/v1/orders") == 100
    assert "process_cpu_seconds_total" in text
    # the facade's own pages are not counted as proxied requests
    assert "/-/" not in "".join(line for line in text.splitlines() if "requests_total{" in line)


def test_a_request_that_is_not_http_gets_a_json_400_and_the_connection_closes(facade):
    reply = raw_request(facade.port, b"GET /echo HTTP/1.1\r\nHost x\r\n\r\n")  # no colon
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), reply
    assert b"x-served-by: facade" in head.lower() and b"connection: close" in head.lower()
    assert json.loads(body)["code"] == "bad_request"


def test_the_connection_that_carried_a_big_answer_serves_the_next_request(facade):
    # Reading pauses while a big answer waits for the client; an answer that ended in the same
    # read must not leave its pooled connection paused, or the next request on it never hears
    # back (this made the first login after the Swagger UI's assets a 504).
    for size in (270_000, 300_000, 600_000, 1_600_000):
        for _ in range(3):
            got = facade.client.get(f"/download?size={size}&whole=1")
            assert got.content == pattern(size)
            assert facade.client.post("/echo", content=b"x", timeout=5).status_code == 200
