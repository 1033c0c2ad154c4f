#!/usr/bin/python3
"""Latency proxy of a test host, the userspace stand-in for ``tc netem delay`` on kernels
without sch_netem (see tests/hosts/harness.py, TestHost.add_delay).

Usage: atoll-test-delay LISTEN_ADDR PORT TARGET_ADDR DELAY_MS PIDFILE
Accepts TCP connections on LISTEN_ADDR:PORT, connects each to TARGET_ADDR:PORT, and forwards
every chunk in both directions DELAY_MS milliseconds after it arrived (order kept, no rate
limit), so each round trip costs 2*DELAY_MS, as on a slow link.
"""

import asyncio
import os
import sys


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def feed() -> None:
        while True:
            data = await reader.read(65536)
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def drain() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    await asyncio.gather(feed(), drain())


async def _main(listen: str, port: int, target: str, delay: float, pidfile: str) -> None:
    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection(target, port)
        except OSError:
            cw.close()
            return
        try:
            await asyncio.gather(_pump(cr, sw, delay), _pump(sr, cw, delay))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            cw.close()
            sw.close()

    server = await asyncio.start_server(handle, listen, port, reuse_address=True)
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(_main(a[0], int(a[1]), a[2], int(a[3]) / 1000.0, a[4]))
