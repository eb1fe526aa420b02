"""Reading an ASGI request: its id headers, its credentials, its headers and its body, bounded.

:func:`read_request` scans the headers once for what every request needs (the ``Authorization``
header, refusing two of them, and azmlinfsrv's request id headers); the rest are decoded only if a
script looks at them (:class:`RequestHeaders`). :func:`read_body` reads a body up to the size limit.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from mlws.runtime.http_errors import BodyTooLarge, ClientDisconnected, Header

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: azmlinfsrv's limit on request id headers (longer ones get 431).
REQUEST_ID_LIMIT = 100
#: Stands for "several Authorization headers" (never a real one): refused, never "last one wins".
REPEATED_AUTH = b"\x00repeated"


class RequestIds:
    """Request ids shaped like UUIDs: a random per-process prefix and a counter.

    As unique as ``uuid4()`` across processes and restarts, without a system call per request.
    """

    def __init__(self) -> None:
        random = uuid.uuid4().hex
        self._prefix = f"{random[:8]}-{random[8:12]}-4{random[13:16]}-{random[16:20]}-"
        self._counter = itertools.count(int(random[20:], 16) & 0xFFFFFFFFFFF)

    def next(self) -> bytes:
        """The next id."""
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}".encode()


class RequestHeaders(Mapping[str, str]):
    """The request headers as a read-only mapping with lower-case names, without ``authorization``.

    Decoded on first use only: most scripts never look at them.
    """

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    def _headers(self) -> dict[str, str]:
        if self._decoded is None:
            decoded: dict[str, str] = {}
            for name, value in self._raw:
                if name != b"authorization":
                    key = name.decode("latin-1")
                    text = value.decode("latin-1")
                    decoded[key] = f"{decoded[key]}, {text}" if key in decoded else text
            self._decoded = decoded
        return self._decoded

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def get_raw(self, name: bytes) -> bytes | None:
        """The first raw value of header ``name`` (lower-case bytes), without decoding the rest."""
        for key, value in self._raw:
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Request:
    """One HTTP request as the routes see it."""

    scope: Scope
    receive: Receive
    method: str
    """``HEAD`` on a route other than ``/score`` is read as ``GET`` (its body is dropped)."""
    path: str
    authorization: bytes | None
    """The ``Authorization`` header; :data:`REPEATED_AUTH` when there were several."""
    request_id: bytes
    ids: list[Header]
    """The request id headers every answer echoes (azmlinfsrv's three, or two)."""
    id_too_long: str | None
    """azmlinfsrv's 431 message when a request id header is over its limit."""


def read_request(scope: Scope, receive: Receive, ids: RequestIds) -> Request:
    """The request of ``scope``, with azmlinfsrv's request id headers worked out.

    ``x-request-id`` is the client's or a new one; ``x-ms-request-id`` (legacy) defaults to the
    client id, then the request id; the client id defaults to a given legacy id.
    """
    authorization: bytes | None = None
    request_id: bytes | None = None
    ms_request_id: bytes | None = None
    client_id: bytes | None = None
    repeated_auth = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            repeated_auth = authorization is not None
            authorization = value
        elif name == b"x-request-id":
            request_id = value
        elif name == b"x-ms-request-id":
            ms_request_id = value
        elif name == b"x-ms-client-request-id":
            client_id = value
    too_long = None
    if request_id is not None and len(request_id) > REQUEST_ID_LIMIT:
        too_long = f"x-request-id must not exceed {REQUEST_ID_LIMIT} characters"
        request_id = None
    if request_id is None:
        request_id = ms_request_id or ids.next()
    if ms_request_id is None and client_id is None:
        headers = [(b"x-request-id", request_id), (b"x-ms-request-id", request_id)]
    else:
        legacy = ms_request_id or client_id or request_id
        client = client_id or ms_request_id or b""
        if too_long is None and max(len(legacy), len(client)) > REQUEST_ID_LIMIT:
            too_long = (
                "x-ms-request-id and x-ms-client-request-id must not exceed "
                f"{REQUEST_ID_LIMIT} characters"
            )
        headers = [
            (b"x-request-id", request_id),
            (b"x-ms-request-id", legacy),
            (b"x-ms-client-request-id", client),
        ]
    method: str = scope["method"]
    path: str = scope["path"]
    if method == "HEAD" and path != "/score":  # as Flask: HEAD answers like GET, no body
        method = "GET"
    return Request(
        scope,
        receive,
        method,
        path,
        REPEATED_AUTH if repeated_auth else authorization,
        request_id,
        headers,
        too_long,
    )


async def read_body(receive: Receive, max_bytes: int) -> bytes:
    """The whole body; :class:`BodyTooLarge` as soon as it is over ``max_bytes`` (the rest is
    never read), :class:`ClientDisconnected` when the client leaves first."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > max_bytes:
            raise BodyTooLarge
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
