"""The application: one service per process, the middleware, the error replies and the routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.chain import AnswerChain
from bot.core.settings import Settings, get_settings
from bot.core.store import StoreError
from bot.interfaces.api.routers import embeddings, public, staff
from bot.interfaces.api.security import Guard
from bot.interfaces.api.service import Service

log = logging.getLogger("plainsight.api")

DESCRIPTION = """Cited answers to residents' questions about local police surveillance.

Every answer is the same object the CLI and the web page show: `text` with `[n]` markers, or a
refusal, and `citations` with the verbatim quote behind each marker. Questions are not stored or
logged. Staff endpoints need `Authorization: Bearer <PLAINSIGHT_API_KEY>`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the store and chain (and load the model) before the first request, not during it."""
    await run_in_threadpool(app.state.service.start)
    yield


async def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Where and why, never the input (FastAPI's default echoes it, question included)."""
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]  # fmt: skip
    return JSONResponse({"detail": errors}, status_code=422)


async def invalid_response(request: Request, exc: ResponseValidationError) -> JSONResponse:
    log.error("%s %s: the reply did not fit its schema", request.method, request.url.path)
    return JSONResponse({"detail": "the request failed; please try again"}, status_code=500)


def create_app(settings: Settings | None = None, chain: AnswerChain | None = None) -> FastAPI:
    """The API for one process. With no arguments it reads the environment (`uvicorn --factory`);
    tests and embedders pass settings and, to share a loaded model, a ready chain."""
    service = Service(settings or get_settings(), chain)
    app = FastAPI(
        title="Plainsight API", version="1", description=DESCRIPTION, lifespan=lifespan, redoc_url=None
    )
    app.state.service = service
    app.add_middleware(Guard)
    app.add_middleware(  # outermost, so refusals (413, 429) still carry CORS headers
        CORSMiddleware,
        allow_origins=service.settings.cors_origin_list,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        max_age=600,
    )
    app.add_exception_handler(embeddings.EmbeddingsError, embeddings.embeddings_error)
    app.add_exception_handler(StoreError, store_unavailable)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(ResponseValidationError, invalid_response)
    for router in (public.router, staff.router, embeddings.router):
        app.include_router(router)
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> None:
    """Run the API with uvicorn: no access log (URLs carry questions), one chain per worker."""
    import uvicorn

    if workers > 1 and not settings.uses_server:
        raise StoreError(
            "several workers need a Chroma server (PLAINSIGHT_CHROMA_HOST): "
            "the embedded store is safe for one writing process"
        )
    uvicorn.run(
        "bot.interfaces.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
