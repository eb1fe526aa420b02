"""A free TCP port for a server under test: the one helper every test folder uses."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, below the kernel's ephemeral range (32768+).

    A port handed out by ``bind(0)`` comes from the ephemeral range, where any outgoing connection
    on this busy machine may take it again before the server under test binds it.
    """
    for _ in range(100):
        port = random.randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found in 20000-32000")
