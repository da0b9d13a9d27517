"""HTTP spoken over a raw socket, for what a client library will not send: a Content-Length
larger than the body, a body that stalls, chunks of any size."""

from __future__ import annotations

import asyncio


async def raw_exchange(port: int, head: str, *parts: bytes, pause_s: float = 0.0,
                       timeout_s: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (request line and headers) and ``parts`` of the body, wait ``pause_s``
    without sending more, then read the answer until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        for part in parts:
            writer.write(part)
            await writer.drain()
        await asyncio.sleep(pause_s)
        raw = await asyncio.wait_for(reader.read(), timeout_s)
    finally:
        writer.close()
    header_block, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def login_head(length_header: str, content_type: str = "application/x-www-form-urlencoded",
               extra: str = "") -> str:
    return (f"POST /api/v1/auth/token HTTP/1.1\nHost: hall\nContent-Type: {content_type}\n"
            f"{length_header}\n{extra}")


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
