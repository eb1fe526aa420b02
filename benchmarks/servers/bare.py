"""Baseline ``bare``: about the least Python can do to serve the model over HTTP (a ceiling).

httptools parses, uvloop runs the loop, the handler decodes the body with orjson, calls
``predict`` and writes the answer with one write; no ASGI, no framework, no auth, no log, no
metrics, no limits, no timeouts (never a server to deploy). Two processes share one listening
socket, as the other servers' two workers do. Any server doing more per request, as mlws does,
stays below this row; how far below is what its features and its framework cost.

Run: ``BENCH_MODEL_FILE=model.joblib python bare.py PORT``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Any

import httptools
import joblib
import numpy as np
import orjson
import uvloop

_model: Any = joblib.load(os.environ["BENCH_MODEL_FILE"])
_WORKERS = 2


class BareProtocol(asyncio.Protocol):
    """One connection: ``POST /score`` predicts, anything else answers ``ok``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        if self.url == b"/score":
            data = np.asarray(orjson.loads(body)["data"], dtype=np.float64)
            answer = orjson.dumps(_model.predict(data).tolist())
        else:
            answer = b"ok"
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(answer), answer)
        )


def main() -> None:
    """Listen on ``127.0.0.1:PORT`` with two processes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    sock.listen(1024)
    for _ in range(_WORKERS - 1):
        if os.fork() == 0:
            break
    loop = uvloop.new_event_loop()
    loop.run_until_complete(loop.create_server(BareProtocol, sock=sock))
    loop.run_forever()


if __name__ == "__main__":
    main()
