"""OpenAI-compatible embeddings from this process's model (the staff key on the router), so other
tools and other Plainsight processes (`PLAINSIGHT_EMBEDDINGS_URL`) can share it."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from bot.core.embeddings import embedding_model_id
from bot.core.settings import Settings
from bot.interfaces.api.schemas import EmbeddingsIn
from bot.interfaces.api.security import staff
from bot.interfaces.api.service import ServiceDep

MAX_EMBEDDING_INPUTS = 2048

router = APIRouter(dependencies=[Depends(staff)], tags=["embeddings"])


class EmbeddingsError(HTTPException):
    """An error on the OpenAI-compatible endpoints, answered in OpenAI's `{"error": {...}}` shape."""


async def embeddings_error(request: Request, exc: EmbeddingsError) -> JSONResponse:
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    error = {"message": exc.detail, "type": kind, "param": None, "code": None}
    return JSONResponse({"error": error, "detail": exc.detail}, status_code=exc.status_code)


def model_names(settings: Settings) -> set[str]:
    """The names a request may give the served model: its id, or the id without its owner."""
    served = embedding_model_id(settings)
    return {served, served.rsplit("/", 1)[-1]}


@router.post("/v1/embeddings")
def embeddings(body: EmbeddingsIn, service: ServiceDep) -> dict[str, Any]:
    """OpenAI-compatible embeddings from this server's model (unit-length vectors)."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not 1 <= len(texts) <= MAX_EMBEDDING_INPUTS:
        raise EmbeddingsError(400, f"input must hold 1 to {MAX_EMBEDDING_INPUTS} texts")
    if body.model and body.model not in model_names(service.settings):
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
        "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)],
        "model": embedding_model_id(service.settings),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


@router.get("/v1/models")
def models(service: ServiceDep) -> dict[str, Any]:
    """The embedding model this server serves (OpenAI-compatible list)."""
    served = embedding_model_id(service.settings)
    return {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "plainsight"}]}
