"""A bare websockets echo server: the floor the ingress is compared with (same event loop as
``centrale ingress``: asyncio's own, unless ``--loop uvloop``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from websockets.asyncio.server import serve


async def echo(ws) -> None:  # type: ignore[no-untyped-def]
    async for message in ws:
        await ws.send(message)


async def main(host: str, port: int) -> None:
    # The ingress's listen backlog (csms.ingress.server.LISTEN_BACKLOG): the same accept queue for both.
    async with serve(echo, host, port, subprotocols=["ocpp1.6"], max_queue=None, compression=None, ping_interval=None,
                     backlog=4096):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="the ingress runs on asyncio's own loop")
    a = parser.parse_args()
    if a.loop == "uvloop":
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
    asyncio.run(main(a.host, a.port))
