"""A round-robin TCP balancer for the fault run: listens on one port, sends each new
connection to the next backend that accepts it (a dead backend is skipped, as a
Kubernetes Service or the compose gateway would stop routing to it).

    python3 scripts/lib/balancer.py LISTEN_PORT BACKEND_PORT [BACKEND_PORT ...]
"""

import asyncio
import itertools
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main(listen, backends):
    turn = itertools.cycle(backends)

    async def handle(client_r, client_w):
        for _ in backends:
            port = next(turn)
            try:
                server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
            return
        client_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), [int(p) for p in sys.argv[2:]]))
