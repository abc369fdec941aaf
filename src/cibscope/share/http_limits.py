"""Caps on the request line and headers, for the hub and the web app (issue #17 row 11).

A request target (path plus query string) over :data:`MAX_TARGET` bytes is answered 414 and headers over
:data:`MAX_HEADERS` bytes 431 (RFC 9110 section 15.5.15, RFC 6585 section 5), at once and before any route,
dependency or session code runs. Uvicorn is also started with ``h11_max_incomplete_event_size`` = 16 KiB,
so a request whose head is still incomplete at that size is refused by the HTTP parser.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

MAX_TARGET = 8 * 1024
MAX_HEADERS = 16 * 1024


class RequestLimits:
    """Pure ASGI middleware refusing over-long request targets (414) and headers (431)."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_target: int = MAX_TARGET,
                 max_headers: int = MAX_HEADERS, media_type: str = "application/json"):
        self.app, self.max_target, self.max_headers, self.media_type = app, max_target, max_headers, media_type

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            target = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(scope.get("query_string", b""))
            headers = sum(len(k) + len(v) + 4 for k, v in scope.get("headers", ()))
            if target > self.max_target:
                return await self._refuse(send, 414, "URI Too Long", f"request target over {self.max_target} bytes")
            if headers > self.max_headers:
                return await self._refuse(send, 431, "Request Header Fields Too Large",
                                          f"headers over {self.max_headers} bytes")
        await self.app(scope, receive, send)

    async def _refuse(self, send: Callable, status: int, title: str, description: str) -> None:
        body = json.dumps({"title": title, "description": description, "http_status": str(status),
                           "detail": description}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", self.media_type.encode()), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


#: Seconds a client has to send a complete request head (request line and headers), from the connection's
#: start or the previous response's end.
HEAD_TIMEOUT = 10.0


def head_timeout_protocol(seconds: float = HEAD_TIMEOUT) -> type:
    """Uvicorn's h11 protocol class, closing a connection whose request head is not complete ``seconds``
    after the connection opened or the last response ended.

    Uvicorn has no such timeout: a client sending a request line without its final empty line held the
    connection (and its memory) open indefinitely, a "slowloris" (issue #17 row 11: a connection stayed
    open 10 minutes). Pass the class as ``uvicorn.run(..., http=head_timeout_protocol())``.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadTimeoutH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_timer = self.loop.call_later(seconds, self._head_expired)

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before and self._head_timer is not None:  # a new request's head is complete
                self._head_timer.cancel()
                self._head_timer = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(seconds, self._head_expired)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

        def _head_expired(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeadTimeoutH11Protocol


def uvicorn_options() -> dict[str, Any]:
    """The Uvicorn options both servers run with: the 16 KiB cap on an incomplete request head and the
    head timeout (:func:`head_timeout_protocol`)."""
    return {"h11_max_incomplete_event_size": MAX_HEADERS, "http": head_timeout_protocol()}
