"""The facade's own HTTP/1.1 server, attacked byte by byte: every case refused or served exactly.

Raw sockets, because an HTTP client library never sends what these cases send. Each case checks
the exact answer (status, the contract's JSON error shape, `X-Served-By: facade`, whether the
connection closes) and then that the facade still answers a normal request (`healthy`). The
facade runs once for the module with short limits (1 s timeouts, a 100 kB body limit) so the
timeout cases take about a second each; the defaults are in server.Limits and the README.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import free_port, start_facade, stop, table, wait_until

MISBEHAVING = Path(__file__).resolve().parent / "misbehaving.py"
MAX_BODY = 100_000
TIMEOUT = 1.0  # header, body and idle timeouts of the facade under test
LINGER = 2.0  # server.LINGER: how long a refused connection may stay open, at most
POOL = 20  # requests in flight per upstream
ROUTES = """
[[routes]]
prefix = "/broken"
old = "bad"

[[routes]]
prefix = "/patient"                  # a budget beyond the header timeout
old = "monolith"
budget_ms = 3000

[[routes]]
prefix = "/"
old = "monolith"
"""


@pytest.fixture(scope="module")
def facade(upstreams, tmp_path_factory):
    port = free_port()
    bad = subprocess.Popen([sys.executable, str(MISBEHAVING), "--port", str(port)])
    proc = None
    try:
        wait_until(lambda: _listening(port), 10, "the misbehaving upstream")
        urls = {"monolith": upstreams["monolith"].url, "bad": f"http://127.0.0.1:{port}"}
        proc = start_facade(
            tmp_path_factory.mktemp("robustness"), table(urls, ROUTES),
            FACADE_MAX_BODY_BYTES=str(MAX_BODY), FACADE_HEADER_TIMEOUT=str(TIMEOUT),
            FACADE_BODY_TIMEOUT=str(TIMEOUT), FACADE_CLIENT_IDLE_TIMEOUT=str(TIMEOUT),
            FACADE_BUDGET_MS="300", FACADE_BUDGET_MARGIN_MS="1000", FACADE_POOL_LIMIT=str(POOL),
        )
        yield proc
    finally:
        if proc is not None:
            proc.close()
        stop(bad)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


# -- a raw HTTP/1.1 client that reads exactly what comes back ------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes = b""
    raw_head: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def json(self) -> dict:
        return json.loads(self.body)


class Raw:
    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        self.buf += chunk
        return bool(chunk)

    def answer(self, head_only: bool = False) -> Answer:
        """Read one answer; `head_only`: it answers a HEAD, so it has no body whatever it says."""
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"connection closed before an answer; got {self.buf!r}"
        raw_head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *lines = raw_head.decode("latin-1").split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        answer = Answer(int(status_line.split(" ")[1]), headers, raw_head=raw_head)
        if head_only or answer.status < 200 or answer.status in (204, 304):
            return answer
        if "content-length" in headers:
            size = int(headers["content-length"][0])
            while len(self.buf) < size:
                assert self._fill(), "connection closed inside a body"
            answer.body, self.buf = self.buf[:size], self.buf[size:]
        elif headers.get("transfer-encoding") == ["chunked"]:
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    assert self._fill()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_line, 16)
                while len(self.buf) < size + 2:
                    assert self._fill()
                body, self.buf = body + self.buf[:size], self.buf[size + 2:]
                if size == 0:
                    break
            answer.body = body
        else:
            while self._fill():
                pass
            answer.body, self.buf = self.buf, b""
        return answer

    def closed_within(self, seconds: float) -> float:
        """Seconds until the facade closes the connection (reading and dropping what comes)."""
        started = time.monotonic()
        self.sock.settimeout(seconds)
        try:
            while self._fill():
                pass
        except TimeoutError:
            raise AssertionError(f"the connection was still open after {seconds} s") from None
        return time.monotonic() - started


def one(port: int, data: bytes) -> tuple[Answer, Raw]:
    raw = Raw(port)
    raw.send(data)
    return raw.answer(), raw


def assert_refused(facade, request: bytes, status: int, code: str | None = None) -> Answer:
    """`request` gets the facade's JSON error `status`, and the connection is closed."""
    answer, raw = one(facade.port, request)
    with raw:
        assert answer.status == status, (answer, answer.body)
        assert answer.header("x-served-by") == "facade"
        assert answer.header("content-type") == "application/json"
        assert answer.header("connection") == "close"
        body = answer.json()
        assert body["detail"] and body["code"] == (code or body["code"]), body
        raw.closed_within(LINGER + 1)
    healthy(facade)
    return answer


def healthy(facade) -> None:
    """A normal proxied request on a new connection still answers 200."""
    answer, raw = one(facade.port, b"GET /echo?healthy=1 HTTP/1.1\r\nHost: shop.test\r\n\r\n")
    raw.sock.close()
    assert answer.status == 200 and answer.json()["query"] == "healthy=1", answer


def proxied(facade) -> float:
    """Requests the facade has passed upstream so far (any route, any status)."""
    text = facade.client.get("/-/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("facade_requests_total{"))


def echo(answer: Answer) -> dict:
    assert answer.status == 200, (answer, answer.body)
    return answer.json()


GET = b"GET /echo HTTP/1.1\r\nHost: shop.test\r\n\r\n"


# -- what the parser refuses: 400 --------------------------------------------------------------


@pytest.mark.parametrize("request_bytes", [
    pytest.param(b"GARBAGE\r\n\r\n", id="malformed-request-line"),
    pytest.param(b"GET /echo HTTP/1.1 extra\r\nHost: x\r\n\r\n", id="request-line-extra-word"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n", id="nul-in-header"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n", id="bare-cr-in-header"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Bad\xff: a\r\n\r\n", id="bad-header-name"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost x\r\n\r\n", id="header-without-colon"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost : x\r\n\r\n", id="space-before-colon"),
    pytest.param(b"G@T /echo HTTP/1.1\r\nHost: x\r\n\r\n", id="invalid-method"),
    pytest.param(b"get /echo HTTP/1.1\r\nHost: x\r\n\r\n", id="lowercase-method"),
    pytest.param(b"GET /e\x01cho HTTP/1.1\r\nHost: x\r\n\r\n", id="control-byte-in-target"),
    pytest.param(b"GET echo HTTP/1.1\r\nHost: x\r\n\r\n", id="relative-target"),
    pytest.param(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", id="asterisk-not-options"),
    pytest.param(b"GET /echo HTTP/1.1\r\n\r\n", id="http11-without-host"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", id="two-hosts"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n", id="invalid-host"),
    pytest.param(b"GET http://u@shop.test/echo HTTP/1.1\r\nHost: x\r\n\r\n", id="userinfo"),
])
def test_malformed_requests_get_a_json_400_and_the_connection_closes(facade, request_bytes):
    assert_refused(facade, request_bytes, 400, "bad_request")


@pytest.mark.parametrize("request_bytes", [
    pytest.param(b"GET /echo HTTP/2.0\r\nHost: x\r\n\r\n", id="http2-request-line"),
    pytest.param(b"GET /echo\r\n\r\n", id="http09"),
])
def test_other_http_versions_get_505(facade, request_bytes):
    assert_refused(facade, request_bytes, 505, "http_version_not_supported")


def test_a_refusal_pipelined_after_good_requests_comes_after_their_answers(facade):
    with Raw(facade.port) as raw:
        raw.send(GET + GET + b"NOT HTTP AT ALL\r\n\r\n")
        assert echo(raw.answer())["path"] == "/echo"
        assert echo(raw.answer())["path"] == "/echo"
        refusal = raw.answer()
        assert refusal.status == 400 and refusal.json()["code"] == "bad_request"
        raw.closed_within(LINGER + 1)
    healthy(facade)


# -- sizes: 431 and 413 ------------------------------------------------------------------------


def test_an_oversized_request_line_gets_431(facade):
    target = b"/echo?" + b"q" * 70_000
    assert_refused(facade, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431,
                   "request_header_fields_too_large")


def test_oversized_headers_get_431(facade):
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    assert_refused(facade, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n", 431)


def test_an_endless_header_is_cut_off_at_the_limit_not_buffered(facade):
    # One header line that never ends: refused once the limit is passed, not after the whole.
    with Raw(facade.port) as raw:
        raw.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        try:
            for _ in range(40):  # up to 640 kB, ten times the limit
                raw.send(b"a" * 16384)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the facade closed after its 431: what matters is what it said first
        answer = raw.answer()
        assert answer.status == 431, answer
    healthy(facade)


def test_an_endless_trailer_is_cut_off_at_the_limit(facade):
    with Raw(facade.port) as raw:
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n0\r\nX-Endless: ")
        try:
            for _ in range(40):
                raw.send(b"a" * 16384)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = raw.answer()
        assert answer.status == 431, answer
    healthy(facade)


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(facade):
    before = proxied(facade)
    answer = assert_refused(
        facade,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
        + b"x" * 1000,
        413, "content_too_large",
    )
    assert str(MAX_BODY) in answer.json()["detail"]
    assert proxied(facade) == before + 1  # only healthy()'s request went upstream


def test_a_chunked_body_over_the_limit_gets_413(facade):
    chunk = b"x" * 30_000
    body = b"".join(b"%x\r\n%b\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    assert_refused(
        facade,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
        413, "content_too_large",
    )


def test_a_body_at_the_limit_is_served(facade):
    body = bytes(range(256)) * (MAX_BODY // 256) + b"z" * (MAX_BODY % 256)
    answer, raw = one(facade.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
    raw.sock.close()
    assert echo(answer)["body_sha256"] == hashlib.sha256(body).hexdigest()


# -- framing: transfer codings and request smuggling -------------------------------------------


@pytest.mark.parametrize(("te", "status"), [
    pytest.param(b"gzip", 400, id="gzip-chunked-not-last"),
    pytest.param(b"chunked, identity", 400, id="chunked-identity"),
    pytest.param(b"identity", 400, id="identity"),
    pytest.param(b"gzip, chunked", 501, id="gzip-then-chunked"),
])
def test_transfer_codings_other_than_chunked_are_refused(facade, te, status):
    before = proxied(facade)
    assert_refused(
        facade,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + b"\r\n\r\n0\r\n\r\n",
        status,
    )
    assert proxied(facade) == before + 1  # never forwarded: only healthy()'s request was


@pytest.mark.parametrize("request_bytes", [
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n"
                 b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n\r\n",
                 id="content-length-and-transfer-encoding"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Length: 5\r\n\r\n0\r\n\r\n", id="transfer-encoding-then-length"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 30\r\n"
                 b"\r\nhelloGET /smuggled HTTP/1.1\r\n\r\n", id="two-differing-lengths"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 30\r\n\r\nhello",
                 id="length-list"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", id="chunked-twice"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", id="obs-fold"),
    pytest.param(b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 id="chunked-in-http10"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"zz\r\nhello\r\n0\r\n\r\n", id="bad-chunk-size"),
    pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
                 b"Content-Length: 31\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n\r\n",
                 id="upgrade-with-a-body"),
])
def test_smuggling_attempts_get_400_and_are_never_forwarded(facade, request_bytes):
    before = proxied(facade)
    answer, raw = one(facade.port, request_bytes)
    with raw:
        assert answer.status == 400, (answer, answer.body)
        assert answer.header("x-served-by") == "facade" and answer.json()["code"] == "bad_request"
        raw.closed_within(LINGER + 1)  # and nothing after it: no second answer
        assert b"HTTP/1.1" not in raw.buf, raw.buf
    assert proxied(facade) == before
    healthy(facade)


def test_a_chunked_body_with_extensions_and_trailers_arrives_exactly(facade):
    body = (b"5;name=value\r\nhello\r\n"
            b"7;quoted=\"a;b\";flag\r\n, world\r\n"
            b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n")
    with Raw(facade.port) as raw:
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        seen = echo(raw.answer())
        assert seen["body_size"] == 12
        assert seen["body_sha256"] == hashlib.sha256(b"hello, world").hexdigest()
        header_names = {name.lower() for name, _ in seen["headers"]}
        assert "x-checksum" not in header_names  # trailers are not passed on as headers
        raw.send(GET)  # the connection is still in step
        assert echo(raw.answer())["path"] == "/echo"


# -- Expect, HTTP/1.0, pipelining, HEAD, target forms -------------------------------------------


def test_expect_100_continue(facade):
    with Raw(facade.port) as raw:
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 b"Expect: 100-continue\r\n\r\n")
        interim = raw.answer()
        assert interim.status == 100 and interim.body == b""
        raw.send(b"hello")
        assert echo(raw.answer())["body_sha256"] == hashlib.sha256(b"hello").hexdigest()
    # over the limit: refused at once, no 100 first, and the body is never sent
    answer = assert_refused(
        facade, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
        b"Expect: 100-continue\r\n\r\n" % (MAX_BODY + 1), 413)
    assert answer.status == 413
    assert_refused(facade, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                   b"Expect: teapot\r\n\r\nx", 417, "expectation_failed")


def test_http10_without_keep_alive_closes_after_the_answer(facade):
    answer, raw = one(facade.port, b"GET /echo HTTP/1.0\r\n\r\n")
    with raw:
        assert echo(answer)["path"] == "/echo"
        assert answer.header("connection") == "close"
        assert raw.closed_within(2) < 1


def test_http10_with_keep_alive_keeps_the_connection(facade):
    with Raw(facade.port) as raw:
        for n in range(3):
            raw.send(b"GET /echo?n=%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % n)
            answer = raw.answer()
            assert echo(answer)["query"] == f"n={n}"
            assert answer.header("connection") == "keep-alive"  # RFC 9112 9.3: said back


def test_pipelined_requests_are_answered_in_order(facade):
    with Raw(facade.port) as raw:
        raw.send(b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"POST /echo?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                 b"HEAD /echo?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /echo?delay=0.2&n=4 HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /echo?n=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert echo(raw.answer())["query"] == "n=1"
        second = echo(raw.answer())
        assert (second["query"], second["body_size"]) == ("n=2", 3)
        head = raw.answer(head_only=True)
        assert head.status == 200 and int(head.header("content-length")) > 0
        assert echo(raw.answer())["query"] == "delay=0.2&n=4"
        assert echo(raw.answer())["query"] == "n=5"
        raw.closed_within(2)
        assert raw.buf == b""  # no body after the HEAD answer, nothing after the last


def test_a_pipelined_head_waiting_behind_a_slow_answer_is_not_timed_out(facade):
    # The facade stops reading while it answers the first request, with the second's head half
    # read: that wait is the facade's, and must not count against the second's header timeout.
    with Raw(facade.port) as raw:
        raw.send(b"GET /patient?delay=%g HTTP/1.1\r\nHost: x\r\n\r\n" % (TIMEOUT + 0.8)
                 + b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 + b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)  # (the end of the head in a later segment, read once reading resumes)
        raw.send(b"X-Last: 1\r\n\r\n")
        assert echo(raw.answer())["query"] == f"delay={TIMEOUT + 0.8:g}"
        assert echo(raw.answer())["query"] == "n=1"
        assert echo(raw.answer())["query"] == "n=2"


def test_head_answers_without_a_body(facade):
    with Raw(facade.port) as raw:
        raw.send(b"HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
        head = raw.answer(head_only=True)
        assert head.status == 200 and int(head.header("content-length")) > 0
        assert echo(raw.answer())["path"] == "/echo"  # begins right where the HEAD ended


def test_a_half_closed_client_still_gets_its_answers(facade):
    with Raw(facade.port) as raw:
        raw.send(GET + b"GET /echo?delay=0.3 HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.sock.shutdown(socket.SHUT_WR)  # "that is all I will send"
        assert echo(raw.answer())["path"] == "/echo"
        assert echo(raw.answer())["query"] == "delay=0.3"
        raw.closed_within(2)
    with Raw(facade.port) as raw:  # a body cut short by the close can never complete
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        raw.sock.shutdown(socket.SHUT_WR)
        raw.closed_within(2)
        assert raw.buf == b""
    healthy(facade)


def test_absolute_form_targets_are_passed_on_in_origin_form(facade):
    answer, raw = one(facade.port, b"GET http://shop.test:8080/echo?x=1 HTTP/1.1\r\n"
                      b"Host: ignored.test\r\n\r\n")
    raw.sock.close()
    seen = echo(answer)
    assert (seen["path"], seen["query"]) == ("/echo", "x=1")
    headers = {name.lower(): value for name, value in seen["headers"]}
    assert headers["host"] == "shop.test:8080"  # RFC 9112 3.2.2: the target's host wins
    assert headers["x-forwarded-host"] == "shop.test:8080"
    answer, raw = one(facade.port, b"GET http://shop.test HTTP/1.1\r\nHost: x\r\n\r\n")
    raw.sock.close()
    assert echo(answer)["path"] == "/"


def test_options_asterisk_is_answered_by_the_facade(facade):
    with Raw(facade.port) as raw:
        raw.send(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
        answer = raw.answer()
        assert answer.status == 200 and answer.body == b""
        assert answer.header("x-served-by") == "facade" and "GET" in answer.header("allow")
        assert echo(raw.answer())["path"] == "/echo"


def test_connect_gets_501_and_an_upgrade_without_a_body_is_served_as_http11(facade):
    assert_refused(facade, b"CONNECT shop.test:443 HTTP/1.1\r\nHost: shop.test:443\r\n\r\n",
                   501, "not_implemented")
    with Raw(facade.port) as raw:
        raw.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 b"\r\n" + GET)
        seen = echo(raw.answer())
        assert "upgrade" not in {name.lower() for name, _ in seen["headers"]}
        assert echo(raw.answer())["path"] == "/echo"  # the next request on the connection
    with Raw(facade.port) as raw:  # many in one read: each one resumes the parser
        raw.send(b"GET /-/health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                 b"Upgrade: websocket\r\n\r\n" * 1500)
        for _ in range(1500):
            assert raw.answer().status == 200


# -- clients that go away or stall -------------------------------------------------------------


def connections(facade) -> float:
    return facade.metric("facade_client_connections")


def open_fds(facade) -> float:
    return facade.metric("process_open_fds")


def test_clients_that_vanish_mid_request_or_mid_answer_leak_nothing(facade):
    healthy(facade)
    base_conns, base_fds = connections(facade), open_fds(facade)
    # mid-body
    raw = Raw(facade.port)
    raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n" + b"x" * 1000)
    time.sleep(0.1)  # (no condition to wait on: the facade is streaming the body upstream)
    raw.sock.close()
    # mid-answer: a 5 MB download, read a little of it
    raw = Raw(facade.port)
    raw.send(b"GET /download?size=5000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw._fill()
    raw.sock.close()
    # while the upstream is still thinking: a close looks like a half-close (which is still
    # answered) until the answer is written, so the request holds its slot until its budget
    # (0.3 s + 1 s margin here) is spent, not until the upstream answers after 8 s
    raw = Raw(facade.port)
    raw.send(b"GET /echo?delay=8 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    raw.sock.close()
    wait_until(lambda: facade.metric("facade_upstream_in_flight", upstream="monolith") == 0, 4,
               "no request in flight upstream")
    wait_until(lambda: connections(facade) <= base_conns, 3, "client connections back to base")
    # and the upstream connections the three held are closed
    wait_until(lambda: open_fds(facade) <= base_fds, 3, f"open fds back to {base_fds}")
    healthy(facade)


def test_slowloris_headers_are_cut_off_after_the_header_timeout(facade):
    with Raw(facade.port) as raw:
        started = time.monotonic()
        raw.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        answered = None
        for n in range(40):  # a header line every 0.1 s: always sending, never finishing
            try:
                raw.send(b"X-Slow-%d: a\r\n" % n)
            except (BrokenPipeError, ConnectionResetError):
                break
            raw.sock.settimeout(0.1)
            try:
                if raw._fill():
                    answered = time.monotonic() - started
                    break
            except TimeoutError:
                pass
        raw.sock.settimeout(5)
        answer = raw.answer()
        assert answer.status == 408 and answer.json()["code"] == "request_timeout", answer
        assert answered is not None and TIMEOUT <= answered < TIMEOUT + 1.5, answered
        raw.closed_within(LINGER + 1)
    healthy(facade)


def test_a_stalled_body_is_cut_off_after_the_body_timeout(facade):
    with Raw(facade.port) as raw:
        started = time.monotonic()
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        answer = raw.answer()
        took = time.monotonic() - started
        assert answer.status == 408 and answer.json()["code"] == "request_timeout", answer
        assert TIMEOUT <= took < TIMEOUT + 1.5, took
        raw.closed_within(LINGER + 1)
    healthy(facade)


def test_idle_connections_are_closed_after_the_idle_timeout(facade):
    with Raw(facade.port) as kept, Raw(facade.port) as silent:
        kept.send(GET)
        assert echo(kept.answer())["path"] == "/echo"
        # kept-alive after an answer, and opened without a byte sent: both closed, silently
        assert kept.closed_within(TIMEOUT + 1.5) >= TIMEOUT * 0.9
        silent.closed_within(1.5)
        assert kept.buf == b"" and silent.buf == b""
    healthy(facade)


def test_many_concurrent_connections(facade):
    healthy(facade)
    base = connections(facade)
    clients = [Raw(facade.port, timeout=20) for _ in range(500)]
    try:
        for n, raw in enumerate(clients):
            raw.send(b"GET /echo?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        for n, raw in enumerate(clients):
            assert echo(raw.answer())["query"] == f"n={n}"
    finally:
        for raw in clients:
            raw.sock.close()
    wait_until(lambda: connections(facade) <= base, 5, "the 500 connections closed")
    healthy(facade)


# -- upstreams that break HTTP: 502, and slow ones: 504 ----------------------------------------


@pytest.mark.parametrize("path", [
    "truncated", "cl-and-te", "long-header", "close-early", "not-http", "switch",
])
def test_a_broken_upstream_answer_becomes_a_json_502(facade, path):
    with Raw(facade.port) as raw:
        raw.send(b"GET /broken/%b HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        answer = raw.answer()
        assert answer.status == 502, (answer, answer.body)
        assert answer.header("x-served-by") == "facade"
        body = answer.json()
        assert body["code"] == "upstream_unavailable" and body["upstream"] == "bad", body
        raw.send(GET)  # the client's connection is unharmed
        assert echo(raw.answer())["path"] == "/echo"
    healthy(facade)


def test_an_interim_1xx_answer_from_upstream_is_skipped(facade):
    with Raw(facade.port) as raw:
        raw.send(b"GET /broken/interim HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = raw.answer()
        assert (answer.status, answer.body) == (200, b"final ok")


def test_an_upstream_slower_than_the_budget_becomes_a_json_504(facade):
    with Raw(facade.port) as raw:
        started = time.monotonic()
        raw.send(b"GET /echo?delay=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = raw.answer()
        took = time.monotonic() - started
        assert answer.status == 504 and answer.header("x-served-by") == "facade"
        assert answer.json()["code"] == "upstream_timeout"
        assert 1.25 < took < 4, took  # budget 0.3 s + margin 1 s
        raw.send(GET)
        assert echo(raw.answer())["path"] == "/echo"


def test_a_request_queued_behind_a_hung_upstream_still_gets_its_504_within_budget(facade):
    # Every slot is held by a request the upstream sits on for 2 s (allowed 3 s + 1 s); the
    # next one waits for a slot, but never past its own budget (0.3 s + 1 s).
    hung = [Raw(facade.port) for _ in range(POOL)]
    try:
        for raw in hung:
            raw.send(b"GET /patient?delay=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: facade.metric("facade_upstream_in_flight", upstream="monolith")
                   == POOL, 3, "every slot taken")
        with Raw(facade.port) as raw:
            started = time.monotonic()
            raw.send(GET)
            answer = raw.answer()
            took = time.monotonic() - started
        assert answer.status == 504 and "no free connection" in answer.json()["detail"], answer
        assert took < 1.3 + 0.6, took  # before: it waited 2 s for a slot, past its budget
        for raw in hung:
            assert echo(raw.answer())["query"] == "delay=2"
    finally:
        for raw in hung:
            raw.sock.close()
    healthy(facade)
