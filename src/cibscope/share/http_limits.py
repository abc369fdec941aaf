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
