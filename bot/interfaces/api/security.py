"""Rate limit, request size and the staff key: checked before a route runs, and the staff key and
size cap before any body is read."""

from __future__ import annotations

import hmac
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.core.settings import Settings
from ingest.limits import max_file_bytes

log = logging.getLogger("plainsight.api")

STAFF_PREFIXES = ("/v1/documents", "/v1/embeddings", "/v1/models")
# the two public reads under /v1/documents: a passage, and its page image. The same segments as
# the routes' own patterns (a parameter never holds "/"), so no staff route can match them
PUBLIC_DOCUMENT_PATHS = re.compile(r"/v1/documents/[^/]+/(?:passages/[^/]+|pages/[^/]+\.png)")
UPLOAD_OVERHEAD = 64 * 1024  # multipart boundaries and metadata fields around the file
MAX_CLIENTS = 10_000  # rate-limit buckets kept before idle ones are dropped

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class RateLimiter:
    """A token bucket per client: `per_minute` requests, refilled continuously; 0 = no limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(per_minute, 0))
        self.rate = self.capacity / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0.0 when the request may go ahead, else the seconds until it may."""
        if self.capacity <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                if len(self._buckets) > MAX_CLIENTS:  # forget clients whose bucket is full again
                    refill = self.capacity / self.rate
                    self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < refill}
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate


def key_status(configured: str, authorization: str | None) -> int:
    """200 when `authorization` carries the staff key, else 403 (no key configured) or 401."""
    if not configured:
        return 403
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), configured.encode()):
        return 401
    return 200


KEY_ERRORS = {
    401: "missing or wrong API key (Authorization: Bearer <PLAINSIGHT_API_KEY>)",
    403: "staff endpoints are disabled: set PLAINSIGHT_API_KEY to enable them",
}


def staff_only(path: str) -> bool:
    """Whether `path` needs the staff key: everything under the staff prefixes but the public
    reads of a passage and its page."""
    return path.startswith(STAFF_PREFIXES) and not PUBLIC_DOCUMENT_PATHS.fullmatch(path)


def body_limit(settings: Settings, path: str) -> int:
    """The most bytes a request body to `path` may have: a file's limit where files are sent."""
    if staff_only(path) and path.startswith(("/v1/documents", "/v1/embeddings")):
        return max_file_bytes(settings) + UPLOAD_OVERHEAD
    return settings.max_request_kb * 1024


class Guard:
    """ASGI middleware run before any body is read: caps body size and turns away staff requests
    without the key, so neither an oversize upload nor an anonymous one is ever buffered. It reads
    the service from the app (`app.state.service`), as the route dependencies do."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        service = scope["app"].state.service
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if staff_only(scope["path"]):
            status = key_status(service.api_key, headers.get("authorization"))
            if status != 200:
                auth = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                await _reply(scope, receive, send, status, KEY_ERRORS[status], auth)
                return
        limit = body_limit(service.settings, scope["path"])
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _reply(scope, receive, send, 413, too_large(limit))
            return
        received = 0
        started = False

        async def capped() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # chunked or lying Content-Length: stop reading here
                    raise HTTPException(413, too_large(limit))
            return message

        async def sending(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped, sending)
        except Exception as exc:  # logged by type alone: a traceback's messages can quote the request
            log.error("%s %s failed: %s", scope["method"], scope["path"], type(exc).__name__)
            if not started:
                await _reply(scope, receive, send, 500, "the request failed; please try again")


def too_large(limit: int) -> str:
    return f"request body over the limit of {limit / 1_000_000:.3g} MB"


async def _reply(
    scope: dict, receive: Receive, send: Send, status: int, detail: str, headers: dict | None = None
) -> None:
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)


bearer = HTTPBearer(auto_error=False, description="PLAINSIGHT_API_KEY")


def staff(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    """Staff key check (also done by `Guard` before the body; kept here for the OpenAPI schema)."""
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    status = key_status(request.app.state.service.api_key, header)
    if status != 200:
        raise HTTPException(status, KEY_ERRORS[status], headers={"WWW-Authenticate": "Bearer"})


def client_id(request: Request) -> str:
    """The client's address (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
    return request.client.host if request.client else "unknown"


def rate_limited(request: Request) -> None:
    wait = request.app.state.service.limiter.take(client_id(request))
    if wait:
        raise HTTPException(
            429, "too many requests; try again shortly", headers={"Retry-After": str(math.ceil(wait))}
        )
