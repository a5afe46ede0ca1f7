"""Public routes: questions, searches and cited passages with their pages (rate-limited per
client), health and the widget."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from bot.answer import Answer
from bot.chain import AnswerChain, Ask
from bot.core.embeddings import embedding_model_id
from bot.filters import Filters, town_filter
from bot.interfaces.api.schemas import AnswerOut, AskIn, PassageViewOut, SearchOut, mend
from bot.interfaces.api.security import rate_limited
from bot.interfaces.api.service import Service, ServiceDep
from bot.interfaces.sources import view_link
from bot.passages import MAX_SIDE, QUOTE_MAX, PassageView, page_png, passage_view
from bot.retrieve import search_results

log = logging.getLogger("plainsight.api")

WIDGET_JS = files("bot.interfaces").joinpath("static/widget.js").read_text(encoding="utf-8")
PAGE_MAX_AGE = 600  # seconds a browser may reuse a page image (a replaced document draws anew)
DocId = Annotated[str, Path(max_length=200, description="The document's doc_id.")]
Quote = Annotated[
    str, Query(max_length=QUOTE_MAX, description="The cited words, marked where they occur exactly.")
]

router = APIRouter(tags=["public"])


def to_ask(chain: AnswerChain, body: AskIn) -> Ask:
    filters = Filters(tuple(body.filters.jurisdictions), tuple(body.filters.doc_types))
    if body.town and body.town.strip():
        town = town_filter(body.town, chain.index.jurisdictions())
        filters = Filters(town.jurisdictions, filters.doc_types)
    history = tuple({"role": t.role, "content": t.content} for t in body.history)
    return Ask(body.question, history, filters, body.explain)


def answer_out(service: Service, answer: Answer, explain: bool) -> dict[str, Any]:
    """The answer object, each citation with the address of its document view in the app."""
    data = answer.to_dict(explain=explain)
    base = service.settings.app_url.rstrip("/")
    for c in data["citations"]:
        c["view_url"] = f"{base}/{view_link(c['doc_id'], c['chunk_id'], c['quote'])}"
    return data


def sse(event: str, data: Any) -> str:
    """One server-sent event; the JSON is on one line, so no field splitting is needed."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get("/healthz")
def healthz(service: ServiceDep) -> JSONResponse:
    """Liveness and readiness: a search runs as a question's would (the registry, the index
    brought up to date, the vector store's nearest neighbours), 503 when it fails."""
    body = {
        "status": "ok",
        "documents": None,
        "store": "server" if service.settings.uses_server else "embedded",
        "embedding_model": embedding_model_id(service.settings),
    }
    try:
        body["documents"] = service.store.document_count()
        service.chain.index.search("health check", 1, vector=service.probe)
    except Exception as exc:  # a Chroma server that went away, a store that cannot be read
        log.error("health check: the store does not answer: %s", type(exc).__name__)
        return JSONResponse({**body, "status": "unavailable"}, status_code=503)
    return JSONResponse(body)


@router.post(
    "/v1/ask",
    response_model=AnswerOut,
    response_model_exclude_unset=True,  # `trace` only when asked for
    dependencies=[Depends(rate_limited)],
)
def ask(body: AskIn, service: ServiceDep) -> dict[str, Any]:
    """A short answer with numbered citations, or an honest refusal."""
    chain = service.chain
    return answer_out(service, chain.invoke(to_ask(chain, body)), body.explain)


@router.post(
    "/v1/ask/stream",
    dependencies=[Depends(rate_limited)],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
)
def ask_stream(body: AskIn, service: ServiceDep) -> StreamingResponse:
    """Server-sent events: `token` (`{"text"}`) pieces as they are ready, then `answer` (the
    full answer object with its citations), then `done`; `error` if answering failed."""
    chain = service.chain
    request = to_ask(chain, body)

    def events() -> Iterator[str]:
        try:
            for piece in chain.stream(request):
                if isinstance(piece, Answer):
                    yield sse("answer", answer_out(service, piece, body.explain))
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


@router.get("/v1/search", response_model=SearchOut, dependencies=[Depends(rate_limited)])
def search(
    service: ServiceDep,
    q: str = Query(min_length=1, max_length=1000, description="The question or words to look for."),
    k: int = Query(6, ge=1, le=50, description="How many passages."),
    jurisdiction: list[str] = Query(default=[], description="Only these jurisdictions (repeatable)."),
    doc_type: list[str] = Query(default=[], description="Only these document types (repeatable)."),
) -> dict[str, Any]:
    """The top passages for a question, with scores and sources."""
    q = mend(q)
    hits = service.chain.index.search(q, k, Filters(tuple(jurisdiction), tuple(doc_type)))
    return {"query": q, "results": search_results(hits)}


def page_image_url(view: PassageView) -> str | None:
    """Where the passage's page is drawn, marked with the quote only where the stored text holds
    it exactly (what the text view marks)."""
    if not view.page_image:
        return None
    url = f"/v1/documents/{quote(view.document.doc_id, safe='')}/pages/{view.passage.page}.png"
    return f"{url}?{urlencode({'quote': view.quote})}" if view.quote_start is not None else url


@router.get(
    "/v1/documents/{doc_id}/passages/{chunk_id}",
    response_model=PassageViewOut,
    dependencies=[Depends(rate_limited)],
    responses={404: {"description": "No such document, or the chunk is not one of its passages."}},
)
def passage(
    service: ServiceDep,
    doc_id: DocId,
    chunk_id: Annotated[str, Path(max_length=220, description="`<doc_id>#<n>`, as a citation names it.")],
    quote: Quote = "",
) -> dict[str, Any]:
    """A cited passage in its document: the passage and its neighbours, where the quote is in it,
    the document's record (its file's SHA-256 and when it was indexed), its kind of source, the
    original's address, the page image's and, for an explainer, the sources it rests on.
    Every indexed document is public."""
    view = passage_view(service.store, doc_id, chunk_id, mend(quote))
    if view is None:
        raise HTTPException(404, "no such passage")
    return {**asdict(view), "page_image_url": page_image_url(view)}


@router.get(
    "/v1/documents/{doc_id}/pages/{n}.png",
    response_class=Response,
    dependencies=[Depends(rate_limited)],
    responses={
        200: {"content": {"image/png": {}}, "description": f"At most {MAX_SIDE} pixels on its longer side."},
        404: {"description": "No such document, no PDF of it is kept, or it has no such page."},
    },
)
def page_image(
    service: ServiceDep,
    doc_id: DocId,
    n: Annotated[int, Path(ge=1, le=1_000_000, description="The page, from 1.")],
    quote: Quote = "",
) -> Response:
    """A page of the document's PDF as a PNG, the quote's characters marked in yellow."""
    png = page_png(service.store, doc_id, n, mend(quote))
    if png is None:
        raise HTTPException(404, "no such page")
    return Response(
        png,
        media_type="image/png",
        headers={"Cache-Control": f"public, max-age={PAGE_MAX_AGE}", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/widget.js", response_class=Response, include_in_schema=False)
def widget() -> Response:
    return Response(
        WIDGET_JS,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"},
    )
