"""One socket write per response: uvicorn's httptools protocol over a coalescing transport.

Why: uvicorn writes a response's head and its body in two ``transport.write`` calls, two
loopback TCP sends; after the fast path (:mod:`ocrr.server.fastpath`) they were a quarter
of the event loop's time on a single-text prediction (docs/results.md, "The service").
Here the writes made during one turn of the event loop are joined and sent once, at the
end of that turn (``loop.call_soon``), in order; closing the connection sends what is
waiting first. Nothing else about the transport changes.

>>> import asyncio
>>> class Sink:
...     def __init__(self): self.sent = []
...     def write(self, data): self.sent.append(data)
...     def is_closing(self): return False
...     def close(self): self.sent.append(b"<closed>")
>>> async def demo():
...     sink = Sink()
...     joined = CoalescingTransport(sink, asyncio.get_running_loop())
...     joined.write(b"head ")
...     joined.write(b"body")
...     await asyncio.sleep(0)
...     joined.write(b"last")
...     joined.close()
...     return sink.sent
>>> asyncio.run(demo())
[b'head body', b'last', b'<closed>']
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose writes within one event-loop turn leave as one write."""

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._waiting: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._waiting:
            self._loop.call_soon(self.flush)
        self._waiting.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what is waiting, as one write (nothing if the connection is closing)."""
        if not self._waiting:
            return
        data = b"".join(self._waiting)
        self._waiting.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, is_closing, pause_reading...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(
            CoalescingTransport(transport, asyncio.get_running_loop()))  # type: ignore[arg-type]
