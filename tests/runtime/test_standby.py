"""The supervisor's answers while no worker is ready."""

from __future__ import annotations

import socket
import threading

import pytest

from mlws.runtime.standby import StandbyResponder, answer


@pytest.mark.parametrize(
    ("head", "status", "body"),
    [
        (b"GET /live HTTP/1.1\r\n\r\n", b"200 OK", b'{"status":"live"}'),
        (b"GET / HTTP/1.1\r\n\r\n", b"503 Service Unavailable", b"still running"),
        (b"GET /ready?x=1 HTTP/1.1\r\n\r\n", b"503 Service Unavailable", b"starting"),
        (b"POST /score HTTP/1.1\r\n\r\n", b"503 Service Unavailable", b"still running"),
        (b"garbage", b"503 Service Unavailable", b"still running"),
    ],
)
def test_answers(head: bytes, status: bytes, body: bytes) -> None:
    response = answer(head)
    assert response.startswith(b"HTTP/1.1 " + status)
    assert body in response
    assert b"Connection: close" in response
    assert (b"Retry-After: 1" in response) == status.startswith(b"503")


def test_the_responder_answers_until_done() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    done = threading.Event()
    responder = StandbyResponder(listener, done.is_set)
    responder.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=5) as client:
            client.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = client.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200 OK")
        done.set()
    finally:
        responder.stop()
        listener.close()
