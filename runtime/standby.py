"""Answer probes on the listening socket while no worker process is ready.

Each worker runs its ``init()`` before it accepts connections, so no request ever reaches a worker
that is still loading its model. Whenever no worker is ready (at start-up, or while a crashed or
stuck worker's successor loads), the supervising process accepts on the same socket and answers:
``GET /live`` 200 (the process is alive, so Kubernetes does not restart a pod during a slow model
load), ``/``, ``/ready`` and everything else 503 with ``Retry-After``. Each answer closes its
connection. Hand-written because it must share the listening socket with the workers and answer
without importing the web stack: a few lines of socket code, where a library would be a server.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable

_STARTING = b'{"message":"The entry script\'s init() is still running; retry shortly."}'
_ANSWERS: dict[bytes, tuple[bytes, bytes, bytes]] = {
    b"/live": (b"200 OK", b"application/json", b'{"status":"live"}'),
    b"/ready": (
        b"503 Service Unavailable",
        b"application/json",
        b'{"status":"starting","message":"init() is still running"}',
    ),
}
_DEFAULT = (b"503 Service Unavailable", b"application/json", _STARTING)


def answer(request_head: bytes) -> bytes:
    """The full HTTP response for a request head (request line and headers)."""
    parts = request_head.split(b" ", 2)
    path = parts[1].split(b"?", 1)[0] if len(parts) >= 2 else b""
    status, content_type, body = _ANSWERS.get(path, _DEFAULT)
    retry = b"Retry-After: 1\r\n" if status.startswith(b"503") else b""
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"Content-Type: " + content_type + b"\r\n"
        b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + retry
        + b"Connection: close\r\n\r\n"
    ) + body


def _serve_one(conn: socket.socket) -> None:
    conn.settimeout(2.0)
    head = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in head and len(head) < 16384:
            chunk = conn.recv(4096)
            if not chunk:
                break
            head += chunk
        if head:
            conn.sendall(answer(head))


class StandbyResponder:
    """A thread accepting on ``sock`` whenever ``done()`` is false (no worker is ready), until
    stopped."""

    def __init__(self, sock: socket.socket, done: Callable[[], bool]) -> None:
        self._sock = sock
        self._done = done
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlws-standby", daemon=True)

    def start(self) -> None:
        """Start answering."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering (idempotent) and wait for the thread."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        while not self._stopped.is_set():
            if self._done():
                self._stopped.wait(0.05)
                continue
            if not poller.poll(50):
                continue
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # a worker took this connection
            except OSError:
                return  # the socket was closed
            with conn:
                _serve_one(conn)
