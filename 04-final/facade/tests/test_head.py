"""HEAD through the facade: the GET answer's head, no body, whatever the upstream does with HEAD."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port, stop, table, wait_until

ROUTES = """
[[routes]]
prefix = "/"
old = "monolith"
"""
MISBEHAVING = Path(__file__).resolve().parent / "misbehaving.py"


@pytest.fixture
def misbehaving():
    """An upstream that sends the page's body after the headers of a HEAD answer."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(MISBEHAVING), "--port", str(port)])
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(listening, 10, "the misbehaving upstream")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def raw_exchange(port: int, requests: bytes, answers: int) -> bytes:
    """Send requests on one keep-alive connection; read until `answers` answers have come."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(requests)
        data = b""
        while data.count(b"HTTP/1.1 ") < answers or not data.endswith((b"\r\n\r\n", b"</h1>\n")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.settimeout(0.3)  # anything after the last answer would be a body sent for a HEAD
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
        return data


def test_the_misbehaving_upstream_does_break_a_plain_client(misbehaving):
    # The premise: after a HEAD answer, a keep-alive client finds the page where the next
    # answer's status line should be.
    port = int(misbehaving.rsplit(":", 1)[1])
    data = raw_exchange(port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    head, _, after = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and after.startswith(b"<!doctype html>")


def test_head_is_answered_right_in_front_of_a_misbehaving_upstream(misbehaving, facade_factory):
    facade = facade_factory(table({"monolith": misbehaving}, ROUTES))
    get = facade.client.get("/page")
    for _ in range(20):
        head = facade.client.head("/page")
        assert head.status_code == 200, head.text
        assert head.content == b""
        assert head.headers["content-length"] == str(len(get.content))
        assert head.headers["x-served-by"] == "misbehaving"
        assert head.headers["x-upstream"] == "monolith"
        # the upstream was asked GET: the only method every server frames the same way
        assert head.headers["x-method-seen"] == "GET"
    # GET, HEAD, GET on one client connection: nothing of the page leaks between answers
    data = raw_exchange(
        facade.port,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
        3,
    )
    assert data.count(b"HTTP/1.1 200 OK") == 3, data[:500]
    assert data.count(b"<!doctype html>") == 2 * 20, "a body was sent for the HEAD"
    assert "502" not in facade.log() and "Bad status" not in facade.log()


def test_head_of_a_streamed_answer_sends_no_body(upstreams, facade_factory):
    # /download streams 2 MB: the facade answers the head and drops the rest of the GET.
    facade = facade_factory(table({"monolith": upstreams["monolith"].url}, ROUTES))
    for _ in range(3):
        head = facade.client.head("/download?size=2000000")
        assert head.status_code == 200 and head.content == b""
    assert facade.client.get("/download?size=10").content == bytes(range(10))


def test_an_answer_ended_by_closing_the_connection_arrives_whole(misbehaving, facade_factory):
    facade = facade_factory(table({"monolith": misbehaving}, ROUTES))
    page = facade.client.get("/page").content
    for _ in range(3):
        response = facade.client.get("/close-delimited")
        assert response.status_code == 200 and response.content == page
