"""Staff routes on the documents (the staff key on the router): add, list, show, download the
original, delete. Writes go through the store's writer lock; URLs are fetched by `ingest.web`."""

from __future__ import annotations

import base64
import json
import mimetypes
from dataclasses import asdict
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.interfaces.api.schemas import DocumentOut, DocumentsOut, FileResultOut
from bot.interfaces.api.security import staff
from bot.interfaces.api.service import ServiceDep
from ingest.limits import file_too_large, max_file_bytes
from ingest.pipeline import delete_document, ingest_document
from ingest.web import FetchError, check_metadata, fetch_for

router = APIRouter(dependencies=[Depends(staff)], tags=["staff"])


def safe_name(name: str) -> str:
    """The base name of an uploaded file, without folders or control characters."""
    base = PurePosixPath(unquote(name).replace("\\", "/")).name
    return "".join(ch for ch in base if ch.isprintable()).strip()


@router.post(
    "/v1/documents",
    response_model=FileResultOut,
    status_code=201,
    responses={
        200: {"model": FileResultOut, "description": "Updated, or unchanged."},
        413: {"description": "Over PLAINSIGHT_MAX_FILE_MB."},
        422: {"model": FileResultOut, "description": "Refused, with the reason."},
    },
)
async def add_document(
    service: ServiceDep,
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
    source_kind: str | None = Form(
        None, description="The kind of source, when the one derived from doc_type and publisher is wrong."
    ),
    replace: bool = Form(False, description="Allow taking over a doc_id held by another file."),
) -> JSONResponse:
    """Add or update a document from an upload or a URL. Unchanged content does nothing."""
    max_bytes = max_file_bytes(service.settings)
    try:
        meta = json.loads(metadata) if metadata else {}
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"metadata is not valid JSON: {exc.msg}") from exc
    if not isinstance(meta, dict):
        raise HTTPException(422, "metadata must be a JSON object")
    fields = {
        "doc_id": doc_id,
        "title": title,
        "source_url": source_url,
        "publisher": publisher,
        "published": published,
        "jurisdiction": jurisdiction,
        "doc_type": doc_type,
        "topics": topics,
        "language": language,
        "source_kind": source_kind,
    }
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
            raise HTTPException(413, file_too_large(len(data), max_bytes, at_least=True))
    else:
        try:
            fetched = await run_in_threadpool(fetch_for, service.settings, url)
        except FetchError as exc:
            raise HTTPException(413 if exc.too_large else 422, f"fetching the url failed: {exc}") from exc
        name, data = fetched.name, fetched.data
    result = await run_in_threadpool(ingest_document, service.store, name, data, meta, replace)
    status = {"added": 201, "failed": 422}.get(result.status, 200)
    return JSONResponse(asdict(result), status_code=status)


@router.get("/v1/documents", response_model=DocumentsOut)
def list_documents(service: ServiceDep) -> dict[str, Any]:
    """Every indexed document."""
    return {"documents": [asdict(r) for r in service.store.documents()]}


@router.get("/v1/documents/{doc_id}", response_model=DocumentOut)
def show_document(doc_id: str, service: ServiceDep) -> dict[str, Any]:
    """One document's registry record."""
    record = service.store.document(doc_id)
    if record is None:
        raise HTTPException(404, f"no document '{doc_id}'")
    return asdict(record)


@router.get(
    "/v1/documents/{doc_id}/original",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file, byte for byte."},
        404: {"description": "Unknown document, or its file is not kept (indexed before files were)."},
    },
)
def download_original(doc_id: str, service: ServiceDep) -> FileResponse:
    """The exact file the document was read from; `Repr-Digest` carries its SHA-256 (as recorded
    in `file_sha256`), so a copy can be checked."""
    record = service.store.document(doc_id)
    kept = service.store.originals.path(record.file_sha256) if record else None
    if kept is None:
        raise HTTPException(404, f"no original file kept for '{doc_id}'")
    name = record.source or kept.name
    digest = base64.b64encode(bytes.fromhex(record.file_sha256)).decode()
    return FileResponse(
        kept,
        media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        filename=name,
        headers={"Repr-Digest": f"sha-256=:{digest}:", "X-Content-Type-Options": "nosniff"},
    )


@router.delete("/v1/documents/{doc_id}")
def delete(doc_id: str, service: ServiceDep) -> dict[str, str]:
    """Remove a document and every chunk of it."""
    if not delete_document(service.store, doc_id):
        raise HTTPException(404, f"no document '{doc_id}'")
    return {"deleted": doc_id}
