"""The bare server `python -m bench.wrk` compares hookwise with: aiohttp doing nothing but HTTP.

    python -m bench.bare_server --port 8080 [--host 127.0.0.1] [--loop uvloop|asyncio]
        [--path /api/github/webhooks]

A POST to the webhook path reads the whole body and answers 202 with a small fixed JSON body; that
is the most a single-process aiohttp server can accept on this machine, the ceiling hookwise's
verify/parse/dedupe/enqueue work is measured against. `GET /healthz` answers 200 (the bench waits
for it). No access log, no logging. SIGTERM stops it (aiohttp's own shutdown).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

ANSWER = b'{"status":"queued"}'


async def _webhook(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=202, body=ANSWER, content_type="application/json")


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop  # optional: installed by whoever runs this variant of the bench

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--path", default="/api/github/webhooks")
    args = parser.parse_args(argv)
    try:
        loop = new_loop(args.loop)
    except ImportError:
        print("bare_server: uvloop is not installed (pip install uvloop), or pass --loop asyncio", file=sys.stderr)
        return 2
    app = web.Application()
    app.router.add_post(args.path, _webhook)
    app.router.add_get("/healthz", _healthz)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None, shutdown_timeout=5, loop=loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
