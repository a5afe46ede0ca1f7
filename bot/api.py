"""The HTTP API: the same `AnswerChain` and `Answer` object as the CLI and the page, over HTTP.

Public (rate-limited per client, CORS allow-list from settings):

* `POST /v1/ask` -> the answer object; `POST /v1/ask/stream` -> server-sent events
  (`token` pieces, then `answer` with the full object and its citations, then `done`);
* `GET /v1/search?q=&k=&jurisdiction=` -> ranked passages (the CLI's `search --json` schema);
* `GET /healthz`; `GET /widget.js` (the embeddable chat); `GET /docs`, `GET /openapi.json`.

Staff (`Authorization: Bearer <PLAINSIGHT_API_KEY>`; answered 403 while no key is configured):

* `POST /v1/documents` (multipart upload with metadata, or a URL), `GET /v1/documents`,
  `GET /v1/documents/{doc_id}`, `DELETE /v1/documents/{doc_id}`;
* `POST /v1/embeddings` (OpenAI-compatible, served from this process's model) and `GET /v1/models`,
  so other tools, and other Plainsight processes (`PLAINSIGHT_EMBEDDINGS_URL`), can share the model.

One process builds one store and one chain (at start-up, in the lifespan) and answers in a thread
pool. Request bodies are capped before they are read; questions are never logged (run with the
access log off, as `plainsight serve` does, because a search URL carries its query), nor echoed in
an error: a malformed request is answered with where and why, without its input, and an
unexpected failure is logged by its error type alone. Text that is not valid Unicode (a lone
surrogate such as "\ud800" from JSON) is mended with U+FFFD rather than failing later.

Staff writes go through the store's writer lock (`Store.writing`): while another process writes
to the embedded store, an upload waits `PLAINSIGHT_WRITE_LOCK_TIMEOUT` at most and is then
answered 503 with who holds the store. URLs are fetched by `ingest.web`, which refuses addresses
inside the network.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import unquote

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, Field
from starlette.concurrency import run_in_threadpool

from bot.answer import Answer
from bot.chain import AnswerChain, Ask
from bot.retrieve import Filters, search_results, town_filter
from bot.settings import Settings, get_settings
from bot.store import Store, StoreError, embedding_model_id
from ingest.pipeline import delete_document, ingest_document
from ingest.web import FetchError, check_metadata, fetch_for

log = logging.getLogger("plainsight.api")

STAFF_PREFIXES = ("/v1/documents", "/v1/embeddings", "/v1/models")
UPLOAD_OVERHEAD = 64 * 1024  # multipart boundaries and metadata fields around the file
MAX_EMBEDDING_INPUTS = 2048
MAX_CLIENTS = 10_000  # rate-limit buckets kept before idle ones are dropped
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads pairs real ones, so any left is alone


# --- request and response shapes --------------------------------------------------------------


def mend(text: Any) -> Any:
    """`text` with lone surrogates (valid JSON, invalid Unicode) replaced by U+FFFD."""
    if not isinstance(text, str):
        return text
    return LONE_SURROGATE.sub("\ufffd", text)


Text = Annotated[str, BeforeValidator(mend)]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: Text = Field(max_length=4000)


class FiltersIn(BaseModel):
    jurisdictions: list[Text] = Field(default_factory=list, max_length=50)
    doc_types: list[Text] = Field(default_factory=list, max_length=20)


class AskIn(BaseModel):
    question: Text = Field(min_length=1, max_length=1000)
    history: list[Turn] = Field(
        default_factory=list, max_length=20, description="Earlier turns, oldest first."
    )
    filters: FiltersIn = Field(default_factory=FiltersIn)
    town: Text | None = Field(
        None, max_length=100, description="Prefer this town's documents, its state's and national ones."
    )
    explain: bool = Field(False, description="Include the retrieval trace.")


class CitationOut(BaseModel):
    n: int
    doc_id: str
    chunk_id: str
    title: str
    source_url: str
    publisher: str
    published: str
    doc_type: str
    jurisdiction: str
    page: int | None
    section: str
    quote: str
    score: float


class SideOut(BaseModel):
    label: str
    kind: str
    citations: list[int]
    text: str


class AnswerOut(BaseModel):
    question: str
    text: str
    refused: bool
    status: str = Field(
        description="answered, partial, refused_no_evidence, refused_unknown_place or refused_off_topic"
    )
    status_text: str = Field(description="The status in words, for a reader")
    citations: list[CitationOut]
    sides: list[SideOut] = Field(
        default_factory=list,
        description="When sources of different kinds disagree: each side and its citations",
    )
    unanswered: str = Field("", description="For a partial answer: the part the documents do not answer")
    mode: str
    trace: list[dict[str, Any]] | None = None


class SearchResult(BaseModel):
    rank: int
    score: float
    similarity: float
    chunk_id: str
    doc_id: str
    title: str
    source_url: str
    page: int | None
    section: str
    text: str


class SearchOut(BaseModel):
    query: str
    results: list[SearchResult]


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    content_hash: str
    chunks: int
    indexed_at: str
    source: str
    doc_type: str
    jurisdiction: str
    publisher: str
    published: str
    source_url: str


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class FileResultOut(BaseModel):
    path: str
    status: Literal["added", "updated", "unchanged", "failed"]
    doc_id: str
    chunks: int
    reason: str


class EmbeddingsIn(BaseModel):
    input: str | list[str] = Field(description="A text or a list of texts (token arrays are not accepted).")
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


# --- rate limit, request size, staff key ------------------------------------------------------


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


class Guard:
    """ASGI middleware run before any body is read: caps body size and turns away staff requests
    without the key, so neither an oversize upload nor an anonymous one is ever buffered."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service

    def limit(self, path: str) -> int:
        settings = self.service.settings
        if path.startswith(("/v1/documents", "/v1/embeddings")):
            return int(settings.max_file_mb * 1_000_000) + UPLOAD_OVERHEAD
        return settings.max_request_kb * 1024

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"].startswith(STAFF_PREFIXES):
            status = key_status(self.service.api_key, headers.get("authorization"))
            if status != 200:
                auth = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                await _reply(scope, receive, send, status, KEY_ERRORS[status], auth)
                return
        limit = self.limit(scope["path"])
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


class EmbeddingsError(HTTPException):
    """An error on the OpenAI-compatible endpoints, answered in OpenAI's `{"error": {...}}` shape."""


def too_large(limit: int) -> str:
    return f"request body over the limit of {limit / 1_000_000:.3g} MB"


async def _reply(scope, receive, send, status: int, detail: str, headers: dict | None = None) -> None:
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


# --- the service one process runs -------------------------------------------------------------


@dataclass
class Service:
    """What one API process holds: settings, the chain (and its store), limits."""

    settings: Settings
    chain: AnswerChain | None = None
    limiter: RateLimiter = field(init=False)
    probe: list[float] = field(default_factory=list)  # a question vector for the health check

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.rate_limit_per_minute)

    @property
    def api_key(self) -> str:
        key = self.settings.api_key
        return key.get_secret_value().strip() if key else ""

    @property
    def store(self) -> Store:
        assert self.chain is not None, "the service has not started"
        return self.chain.store

    def start(self) -> None:
        if self.chain is None:
            self.chain = AnswerChain(self.settings, Store(self.settings))
        self.probe = self.chain.store.embeddings.embed_query("warm up")
        self.chain.index.search("warm up", 1, vector=self.probe)  # load the model, build BM25 first


def to_ask(chain: AnswerChain, body: AskIn) -> Ask:
    filters = Filters(tuple(body.filters.jurisdictions), tuple(body.filters.doc_types))
    if body.town and body.town.strip():
        town = town_filter(body.town, chain.index.jurisdictions())
        filters = Filters(town.jurisdictions, filters.doc_types)
    history = tuple({"role": t.role, "content": t.content} for t in body.history)
    return Ask(body.question, history, filters, body.explain)


def sse(event: str, data: Any) -> str:
    """One server-sent event; the JSON is on one line, so no field splitting is needed."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def safe_name(name: str) -> str:
    """The base name of an uploaded file, without folders or control characters."""
    base = PurePosixPath(unquote(name).replace("\\", "/")).name
    return "".join(ch for ch in base if ch.isprintable()).strip()


# --- the application --------------------------------------------------------------------------

DESCRIPTION = """Cited answers to residents' questions about local police surveillance.

Every answer is the same object the CLI and the web page show: `text` with `[n]` markers, or a
refusal, and `citations` with the verbatim quote behind each marker. Questions are not stored or
logged. Staff endpoints need `Authorization: Bearer <PLAINSIGHT_API_KEY>`.
"""


def create_app(settings: Settings | None = None, chain: AnswerChain | None = None) -> FastAPI:
    """The API for one process. With no arguments it reads the environment (`uvicorn --factory`);
    tests and embedders pass settings and, to share a loaded model, a ready chain."""
    service = Service(settings or get_settings(), chain)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(service.start)
        yield

    app = FastAPI(
        title="Plainsight API", version="1", description=DESCRIPTION, lifespan=lifespan, redoc_url=None
    )
    app.state.service = service
    app.add_middleware(Guard, service=service)
    app.add_middleware(  # outermost, so refusals (413, 429) still carry CORS headers
        CORSMiddleware,
        allow_origins=service.settings.cors_origin_list,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        max_age=600,
    )

    @app.exception_handler(EmbeddingsError)
    async def embeddings_error(request: Request, exc: EmbeddingsError) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        error = {"message": exc.detail, "type": kind, "param": None, "code": None}
        return JSONResponse({"error": error, "detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """Where and why, never the input (FastAPI's default echoes it, question included)."""
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]  # fmt: skip
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(ResponseValidationError)
    async def invalid_response(request: Request, exc: ResponseValidationError) -> JSONResponse:
        log.error("%s %s: the reply did not fit its schema", request.method, request.url.path)
        return JSONResponse({"detail": "the request failed; please try again"}, status_code=500)

    # --- public -------------------------------------------------------------------------------

    @app.get("/healthz", tags=["public"])
    def healthz() -> JSONResponse:
        """Liveness and readiness: a search runs as a question's would (the registry, the index
        brought up to date, the vector store's nearest neighbours), 503 when it fails."""
        body = {
            "status": "ok",
            "documents": None,
            "store": "server" if service.settings.uses_server else "embedded",
            "embedding_model": embedding_model_id(service.settings),
        }
        try:
            body["documents"] = service.store.registry.count()
            service.chain.index.search("health check", 1, vector=service.probe)
        except Exception as exc:  # a Chroma server that went away, a store that cannot be read
            log.error("health check: the store does not answer: %s", type(exc).__name__)
            return JSONResponse({**body, "status": "unavailable"}, status_code=503)
        return JSONResponse(body)

    @app.post(
        "/v1/ask",
        tags=["public"],
        response_model=AnswerOut,
        response_model_exclude_unset=True,  # `trace` only when asked for
        dependencies=[Depends(rate_limited)],
    )
    def ask(body: AskIn) -> dict[str, Any]:
        """A short answer with numbered citations, or an honest refusal."""
        chain = service.chain
        return chain.invoke(to_ask(chain, body)).to_dict(explain=body.explain)

    @app.post(
        "/v1/ask/stream",
        tags=["public"],
        dependencies=[Depends(rate_limited)],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
    )
    def ask_stream(body: AskIn) -> StreamingResponse:
        """Server-sent events: `token` (`{"text"}`) pieces as they are ready, then `answer` (the
        full answer object with its citations), then `done`; `error` if answering failed."""
        chain = service.chain
        request = to_ask(chain, body)

        def events() -> Iterator[str]:
            try:
                for piece in chain.stream(request):
                    if isinstance(piece, Answer):
                        yield sse("answer", piece.to_dict(explain=body.explain))
                    else:
                        yield sse("token", {"text": piece})
            except Exception as exc:  # the response has started: report in-band
                log.error("answer stream failed: %s", type(exc).__name__)
                yield sse("error", {"message": "the answer failed; please try again"})
            yield sse("done", {})

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/v1/search", tags=["public"], response_model=SearchOut, dependencies=[Depends(rate_limited)])
    def search(
        q: str = Query(min_length=1, max_length=1000, description="The question or words to look for."),
        k: int = Query(6, ge=1, le=50, description="How many passages."),
        jurisdiction: list[str] = Query(default=[], description="Only these jurisdictions (repeatable)."),
        doc_type: list[str] = Query(default=[], description="Only these document types (repeatable)."),
    ) -> dict[str, Any]:
        """The top passages for a question, with scores and sources."""
        q = mend(q)
        hits = service.chain.index.search(q, k, Filters(tuple(jurisdiction), tuple(doc_type)))
        return {"query": q, "results": search_results(hits)}

    @app.get("/widget.js", tags=["public"], response_class=Response, include_in_schema=False)
    def widget() -> Response:
        return Response(
            WIDGET_JS,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"},
        )

    # --- staff: documents ---------------------------------------------------------------------

    def get_record(doc_id: str) -> dict[str, Any]:
        record = service.store.document(doc_id)
        if record is None:
            raise HTTPException(404, f"no document '{doc_id}'")
        return asdict(record)

    @app.post(
        "/v1/documents",
        tags=["staff"],
        dependencies=[Depends(staff)],
        response_model=FileResultOut,
        status_code=201,
        responses={
            200: {"model": FileResultOut, "description": "Updated, or unchanged."},
            413: {"description": "Over PLAINSIGHT_MAX_FILE_MB."},
            422: {"model": FileResultOut, "description": "Refused, with the reason."},
        },
    )
    async def add_document(
        file: UploadFile | None = File(None, description="The document (PDF, Word, HTML, Markdown...)."),
        url: str | None = Form(None, description="Or an http(s) address to fetch it from."),
        metadata: str | None = Form(None, description="JSON object of metadata fields (see README)."),
        doc_id: str | None = Form(None),
        title: str | None = Form(None),
        source_url: str | None = Form(None),
        publisher: str | None = Form(None),
        published: str | None = Form(None),
        jurisdiction: str | None = Form(None),
        doc_type: str | None = Form(None),
        topics: str | None = Form(None, description="Comma-separated."),
        language: str | None = Form(None),
        replace: bool = Form(False, description="Allow taking over a doc_id held by another file."),
    ) -> JSONResponse:
        """Add or update a document from an upload or a URL. Unchanged content does nothing."""
        max_bytes = int(service.settings.max_file_mb * 1_000_000)
        try:
            meta = json.loads(metadata) if metadata else {}
        except json.JSONDecodeError as exc:
            raise HTTPException(422, f"metadata is not valid JSON: {exc.msg}") from exc
        if not isinstance(meta, dict):
            raise HTTPException(422, "metadata must be a JSON object")
        fields = dict(
            doc_id=doc_id,
            title=title,
            source_url=source_url,
            publisher=publisher,
            published=published,
            jurisdiction=jurisdiction,
            doc_type=doc_type,
            topics=topics,
            language=language,
        )
        meta.update({k: v for k, v in fields.items() if v not in (None, "")})
        if (file is None) == (not url):
            raise HTTPException(422, "send either a file or a url")
        if url:  # named after the address given: a redirect never picks another document
            meta.setdefault("source_url", url.strip())
        try:
            meta = check_metadata(meta)  # the staff page's checks
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        if file is not None:
            name = safe_name(file.filename or "")
            if not name:
                raise HTTPException(422, "the upload has no file name")
            data = await file.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise HTTPException(413, f"the file is over the {max_bytes / 1e6:g} MB limit")
        else:
            try:
                fetched = await run_in_threadpool(fetch_for, service.settings, url)
            except FetchError as exc:
                raise HTTPException(413 if exc.too_large else 422, f"fetching the url failed: {exc}") from exc
            name, data = fetched.name, fetched.data
        result = await run_in_threadpool(ingest_document, service.store, name, data, meta, replace)
        status = {"added": 201, "failed": 422}.get(result.status, 200)
        return JSONResponse(asdict(result), status_code=status)

    @app.get("/v1/documents", tags=["staff"], dependencies=[Depends(staff)], response_model=DocumentsOut)
    def list_documents() -> dict[str, Any]:
        """Every indexed document."""
        return {"documents": [asdict(r) for r in service.store.documents()]}

    @app.get(
        "/v1/documents/{doc_id}", tags=["staff"], dependencies=[Depends(staff)], response_model=DocumentOut
    )
    def show_document(doc_id: str) -> dict[str, Any]:
        """One document's registry record."""
        return get_record(doc_id)

    @app.delete("/v1/documents/{doc_id}", tags=["staff"], dependencies=[Depends(staff)])
    def delete(doc_id: str) -> dict[str, str]:
        """Remove a document and every chunk of it."""
        if not delete_document(service.store, doc_id):
            raise HTTPException(404, f"no document '{doc_id}'")
        return {"deleted": doc_id}

    # --- staff: embeddings --------------------------------------------------------------------

    def model_names() -> set[str]:
        served = embedding_model_id(service.settings)
        return {served, served.rsplit("/", 1)[-1]}

    @app.post("/v1/embeddings", tags=["embeddings"], dependencies=[Depends(staff)])
    def embeddings(body: EmbeddingsIn) -> dict[str, Any]:
        """OpenAI-compatible embeddings from this server's model (unit-length vectors)."""
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not 1 <= len(texts) <= MAX_EMBEDDING_INPUTS:
            raise EmbeddingsError(400, f"input must hold 1 to {MAX_EMBEDDING_INPUTS} texts")
        if body.model and body.model not in model_names():
            raise EmbeddingsError(
                404, f"model '{body.model}' is not served here; use '{embedding_model_id(service.settings)}'"
            )
        vectors = service.store.embeddings.embed_documents(texts)
        if body.dimensions is not None and vectors and body.dimensions != len(vectors[0]):
            raise EmbeddingsError(400, f"this model has {len(vectors[0])} dimensions")

        def encode(vector: list[float]) -> list[float] | str:
            if body.encoding_format == "base64":
                return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            return vector

        tokens = sum(len(t.split()) for t in texts)  # an estimate; the model truncates long texts
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)
            ],
            "model": embedding_model_id(service.settings),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @app.get("/v1/models", tags=["embeddings"], dependencies=[Depends(staff)])
    def models() -> dict[str, Any]:
        """The embedding model this server serves (OpenAI-compatible list)."""
        served = embedding_model_id(service.settings)
        return {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "plainsight"}]}

    return app


WIDGET_JS = files("bot").joinpath("static/widget.js").read_text(encoding="utf-8")


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> None:
    """Run the API with uvicorn: no access log (URLs carry questions), one chain per worker."""
    import uvicorn

    if workers > 1 and not settings.uses_server:
        raise StoreError(
            "several workers need a Chroma server (PLAINSIGHT_CHROMA_HOST): "
            "the embedded store is safe for one writing process"
        )
    uvicorn.run(
        "bot.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
