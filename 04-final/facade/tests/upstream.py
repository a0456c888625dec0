"""A small real upstream for the tests: `python upstream.py --name monolith --port 8000`.

It runs as its own process (so a test can kill it mid-traffic) and answers over real HTTP:
    any path          echoes what it received as JSON: its own name, method, path, query, headers,
                      and the body's size, SHA-256 and the seconds between its first and last chunk
    ?delay=S          waits S seconds before answering
    /download?size=N  streams N deterministic bytes; &pause=S waits S seconds after the first chunk;
                      &whole=1 sends them in one write instead, like a static file server
    /redirect         302 to /elsewhere
    /set-cookie       sets two cookies (sessionid, csrftoken)
    /hop-response     an answer carrying hop-by-hop headers the facade must strip
    fixture paths     --fixtures '{"/path": {...}}' answers those paths with that JSON
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time

from aiohttp import web

CHUNK = 64 * 1024


def pattern(size: int) -> bytes:
    """The bytes /download sends: cheap to regenerate in the test to check them."""
    block = bytes(range(256)) * (CHUNK // 256)
    return (block * (size // CHUNK + 1))[:size]


async def handle(request: web.Request) -> web.StreamResponse:
    app = request.app
    name = app["name"]
    served_by = {"X-Served-By": name}
    if "delay" in request.query:
        await asyncio.sleep(float(request.query["delay"]))

    fixture = app["fixtures"].get(request.path)
    if fixture is not None:
        await request.read()
        return web.json_response(fixture, headers=served_by)
    if request.path == "/redirect":
        return web.Response(status=302, headers={"Location": "/elsewhere", **served_by})
    if request.path == "/set-cookie":
        resp = web.Response(text="cookies", headers=served_by)
        resp.set_cookie("sessionid", "alice-session", httponly=True)
        resp.set_cookie("csrftoken", "alice-csrf")
        return resp
    if request.path == "/hop-response":
        return web.Response(
            text="hop",
            headers={
                "Connection": "keep-alive, X-Hop-Resp",
                "X-Hop-Resp": "for the facade only",
                "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic realm=upstream",
                "Trailer": "X-Checksum",
                "X-End-To-End": "kept",
                "X-Request-ID": "upstream-must-not-override",
                **served_by,
            },
        )
    if request.path == "/download":
        size = int(request.query.get("size", "0"))
        pause = float(request.query.get("pause", "0"))
        data = pattern(size)
        if request.query.get("whole"):
            return web.Response(body=data, content_type="application/octet-stream",
                                headers=served_by)
        resp = web.StreamResponse(headers=served_by)
        resp.content_type = "application/octet-stream"
        await resp.prepare(request)
        for offset in range(0, size, CHUNK):
            await resp.write(data[offset : offset + CHUNK])
            if offset == 0 and pause:
                await asyncio.sleep(pause)
        await resp.write_eof()
        return resp

    digest = hashlib.sha256()
    size = 0
    first = last = None
    async for chunk in request.content.iter_any():
        now = time.monotonic()
        first = now if first is None else first
        last = now
        size += len(chunk)
        digest.update(chunk)
    return web.json_response(
        {
            "upstream": name,
            "method": request.method,
            "path": request.raw_path.split("?")[0],
            "query": request.raw_path.partition("?")[2],
            "headers": [[k, v] for k, v in request.headers.items()],
            "body_size": size,
            "body_sha256": digest.hexdigest(),
            "body_first_to_last": (last - first) if first is not None else 0.0,
        },
        headers=served_by,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fixtures", default="{}")
    args = parser.parse_args()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["name"] = args.name
    app["fixtures"] = json.loads(args.fixtures)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
