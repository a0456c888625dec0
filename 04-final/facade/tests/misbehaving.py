"""An upstream that breaks HTTP the way waitress + Django did: `python misbehaving.py --port N`.

Every request, HEAD included, is answered with a page: status line, headers, Content-Length and
the body, in one write, on a keep-alive connection (`/close-delimited`: no length, the connection
closes after the page, which is legal). For a HEAD that body is a protocol error
(RFC 9110 9.3.2): a client reading the connection takes it for the start of the next answer.
Paths ending in a name from BROKEN get a broken answer instead (truncated, framed twice, an
endless header, no answer, not HTTP, an unasked 101); `.../interim` a 103 before its answer.
Raw asyncio on purpose: a real HTTP server library would not let us send it.
"""

from __future__ import annotations

import argparse
import asyncio

PAGE = b"<!doctype html><title>shop</title><h1>The whole page, again</h1>\n" * 20
# Broken answers, by the request path's last segment (tests/test_http_robustness.py): each must
# reach the client as the facade's 502, never relayed half-understood.
BROKEN = {
    b"truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it",
    b"cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n",
    b"long-header": b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 100_000
                    + b"\r\nContent-Length: 2\r\n\r\nok",
    b"close-early": b"",
    b"not-http": b"SSH-2.0-OpenSSH_9.6\r\n",
    b"switch": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\n\r\n",
}
# A 1xx before the answer is legal (RFC 9110 15.2): the facade must skip it, not relay it.
INTERIM = (b"HTTP/1.1 103 Early Hints\r\nLink: </shop.css>; rel=preload\r\n\r\n"
           b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nfinal ok")


class Misbehaving(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:  # the tests send no request bodies
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            method, target = head.split(b" ", 2)[:2]
            last = target.rsplit(b"/", 1)[-1]
            if last in BROKEN:
                self.transport.write(BROKEN[last])
                self.transport.close()
                return
            if last == b"interim":
                self.transport.write(INTERIM)
                continue
            if target == b"/close-delimited":
                # HTTP/1.0 style: neither a length nor chunks; the end of the body is the close.
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                     b"Connection: close\r\n\r\n" + PAGE)
                self.transport.close()
                return
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Served-By: misbehaving\r\n"
                b"X-Method-Seen: " + method + b"\r\n"
                b"Content-Length: %d\r\n\r\n%b" % (len(PAGE), PAGE)
            )


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Misbehaving, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
