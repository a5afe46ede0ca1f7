"""The only way to open the vector store and the embedding model.

Chroma holds three collections:

* `<collection>`: one record per chunk (id `doc_id#n`), its text, its vector and its metadata;
* `<collection>_sentences`: per chunk (same id), its sentences' spans and vectors, for the
  grounded answerer (`bot.core.sentences`); kept apart so that searches and the BM25 build never load
  them;
* `<collection>_docs`: one record per *complete* document (the registry): content hash, chunk
  count, when it was indexed. Chroma has no key-value store, so the registry and the sentences are
  collections with a one-dimensional placeholder vector; they live beside the chunks, in the same
  embedded directory or on the same Chroma server, so all stay consistent across machines.

The registry is written last when a document is added and removed first when it is deleted, so a
crash leaves at worst chunks that the registry does not vouch for. Readers ignore those chunks and
the next ingest run deletes them (`repair`). Every registry change also stamps a new `generation`
on the registry collection, so readers notice any change with one cheap lookup.

Writers. The embedded store is one folder that Chroma's processes do not coordinate: a process's
vector index lives in its memory, so a second process writing from a stale copy overwrites the
first one's vectors on disk, and a reader's stale copy answers "Error finding id" for chunks
another process added. So whatever writes takes an inter-process lock (`filelock`, beside the
store; `writing()`), names itself in a side file so a waiting writer can say who holds it, waits
`write_lock_timeout` at most, and reopens its client when another process wrote since its own
last write. A reader that sees another process's generation, or trips over a missing id, reopens
its client and reads again (`reread`). A Chroma server coordinates its clients itself, so several
writers may write at once; there each writer holds a lease (a heartbeat record in
`<collection>_writers`, refreshed while it writes) and stamps its chunks with its id, and
`ingest.pipeline.repair` removes unregistered chunks only when their writer's lease has expired.

The collection records which embedding model and backend built it. Another model is refused,
because mixing vectors from two models silently ruins retrieval; another backend of the same model
(PyTorch, ONNX, int8 ONNX) gives slightly different vectors, so the recorded backend is used.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.core.embeddings import embedding_model_id, make_embeddings
from bot.core.originals import Originals
from bot.core.settings import Settings
from bot.core.vectors import unpack

REGISTRY_SUFFIX = "_docs"
SENTENCES_SUFFIX = "_sentences"
WRITERS_SUFFIX = "_writers"
PAGE_SIZE = 5000
LOCK_FILE = ".plainsight-writer.lock"  # in the embedded store's folder
HOLDER_FILE = ".plainsight-writer.json"  # who holds (or last held) the lock: pid, command, writer id
REREADS = 4  # reads of a store that keeps changing under a reader before it gives up for now
RETIRE_AFTER = 60.0  # seconds a replaced client keeps serving reads already under way, then stops
_USERS: dict[int, weakref.WeakSet] = {}  # Chroma system -> the Stores reading through it
_USERS_LOCK = threading.Lock()
log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(RuntimeError):
    """The store cannot be used as configured (wrong model, unreachable server)."""


class StoreBusy(StoreError):
    """Another writer held the embedded store for longer than `write_lock_timeout`."""


class StoreChanging(StoreError):
    """The store kept changing under a reader; it answers from what it read before."""


def store_changed(exc: BaseException) -> bool:
    """Whether a Chroma error means another process changed the store under this reader (a chunk
    id the process's copy of the vector index does not hold, or a record gone)."""
    from chromadb.errors import InternalError, NotFoundError

    return isinstance(exc, NotFoundError) or (isinstance(exc, InternalError) and "finding id" in str(exc))


def process_label() -> str:
    """What this process is, for the message a waiting writer shows: `plainsight ingest`."""
    argv = sys.argv or ["python"]
    program = Path(argv[0])
    name = program.parent.name if program.name == "__main__.py" else program.name  # python -m pytest
    words = [name or "python", *[a for a in argv[1:2] if not a.startswith("-") and "/" not in a]]
    return " ".join(words)


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
    ocr: bool = False  # some of its text was recognised by OCR (scanned pages, images)
    ocr_confidence: float | None = None  # Tesseract's mean word confidence over those pages, 0-100
    file_sha256: str = ""  # SHA-256 of the exact bytes it was read from ("": indexed before it was kept)

    @classmethod
    def from_metadata(cls, doc_id: str, meta: dict[str, Any]) -> DocRecord:
        fields = {k: meta.get(k, "") for k in cls.__dataclass_fields__ if k != "doc_id"}
        fields["chunks"] = int(meta.get("chunks", 0))
        fields["ocr"] = bool(meta.get("ocr", False))
        fields["ocr_confidence"] = meta.get("ocr_confidence")
        return cls(doc_id=doc_id, **fields)


@dataclass(frozen=True)
class Chunk:
    """A passage as stored: its id, text and metadata (document fields plus position)."""

    id: str
    text: str
    metadata: dict[str, Any]


def embedding_text(meta: dict[str, Any], section: str, text: str) -> str:
    """What the model and BM25 see: the passage with its title, heading and the name its file was
    given as context. A file's name often says what its title does not ("albert-lea-pd-alpr-policy"
    for a policy whose first line is its purpose), and a passage rarely repeats whose it is."""
    title = str(meta.get("title") or "")
    named = str(meta.get("doc_id") or "").replace("-", " ")
    head = " — ".join(x for x in (title, named if named.lower() not in title.lower() else "", section) if x)
    return f"{head}\n{text}" if head else text


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
        self._client = open_client(settings)
        model = embedding_model_id(settings)
        self._chunks = self._client.get_or_create_collection(
            settings.collection,
            metadata={
                "hnsw:space": "cosine",
                "embedding_model": model,
                "embedding_backend": settings.embedding_backend,
            },
            embedding_function=None,
        )
        recorded = self._chunks.metadata or {}
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
        self._registry = self._client.get_or_create_collection(
            settings.collection + REGISTRY_SUFFIX, embedding_function=None
        )
        self._sentences = self._client.get_or_create_collection(
            settings.collection + SENTENCES_SUFFIX, embedding_function=None
        )
        self._writers = (  # leases; the embedded store's lock makes them unnecessary there
            self._client.get_or_create_collection(
                settings.collection + WRITERS_SUFFIX, embedding_function=None
            )
            if settings.uses_server
            else None
        )
        self._system = _use(self._client, self)
        self.writer_id = uuid.uuid4().hex  # stamped on every chunk this Store writes
        self._mutex = threading.RLock()  # one writer per Store; `writing()` is re-entrant
        self._depth = 0
        self._file_lock = None if settings.uses_server else _file_lock(settings.data_dir / LOCK_FILE)
        self._heartbeat: tuple[threading.Thread, threading.Event] | None = None
        self._own: list[str] = []  # generations this Store stamped (newest last)
        self._generation: str | None = None  # the last one seen

    @cached_property
    def embeddings(self) -> Embeddings:
        return self._embeddings or make_embeddings(self.settings)

    @cached_property
    def originals(self) -> Originals:
        """The files documents were read from (`bot.core.originals`)."""
        return Originals(self.settings.originals_root)

    # --- registry -------------------------------------------------------------------------

    def documents(self) -> list[DocRecord]:
        """Every complete document, sorted by doc_id."""
        got = self._registry.get(include=["metadatas"])
        records = [DocRecord.from_metadata(i, m or {}) for i, m in zip(got["ids"], got["metadatas"])]
        return sorted(records, key=lambda r: r.doc_id)

    def document_count(self) -> int:
        return self._registry.count()

    def documents_with_text(self, text_hash: str) -> list[str]:
        """Ids of the complete documents whose extracted text has this hash."""
        return self._registry.get(where={"text_hash": text_hash}, include=[])["ids"]

    def documents_with_file(self, file_sha256: str) -> list[str]:
        """Ids of the complete documents read from a file with this SHA-256."""
        return self._registry.get(where={"file_sha256": file_sha256}, include=[])["ids"]

    def document(self, doc_id: str) -> DocRecord | None:
        got = self._registry.get(ids=[doc_id], include=["metadatas"])
        if not got["ids"]:
            return None
        return DocRecord.from_metadata(doc_id, got["metadatas"][0] or {})

    def register_all(self, records: dict[str, dict[str, Any]]) -> None:
        """Vouch for complete documents (registry metadata by doc_id) in one write, under one new
        generation: a write per document cost 5-15 ms each, and readers would rebuild per document."""
        with self.writing():
            self._registry.upsert(
                ids=list(records), embeddings=[[1.0]] * len(records), metadatas=list(records.values())
            )
            self.bump()

    def unregister(self, doc_id: str) -> None:
        with self.writing():
            self._registry.delete(ids=[doc_id])
            self.bump()

    def bump(self) -> None:
        """A new generation: every reader compares its index with the registry again."""
        generation = uuid.uuid4().hex
        self._own = [*self._own[-63:], generation]
        with self.writing():
            self._registry.modify(metadata={"generation": generation})

    def fingerprint(self) -> str:
        """Changes whenever a document is added, replaced or deleted (by any process): one lookup.
        On the embedded store, another process's change also refreshes this process's copy."""
        fresh = self._client.get_collection(self._registry.name, embedding_function=None)
        generation = str((fresh.metadata or {}).get("generation", ""))
        if generation != self._generation:
            if self._generation is not None and generation not in self._own:
                self.refresh()
            self._generation = generation
        return generation

    # --- one writer at a time (embedded), leases (server) --------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store for writing (re-entrant). Embedded: the inter-process lock, waiting at
        most `write_lock_timeout` (then `StoreBusy` naming the holder), and a fresh client when
        another process wrote last. Chroma server: a lease, renewed while the block runs."""
        if not self._mutex.acquire(timeout=max(self.settings.write_lock_timeout, 0)):
            raise StoreBusy(self._busy_message(self._holder()))
        try:
            if self._depth == 0:
                self._begin_writing()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._end_writing()
        finally:
            self._mutex.release()

    def _begin_writing(self) -> None:
        if self._file_lock is None:
            self._start_lease()
            return
        from filelock import Timeout

        try:
            self._file_lock.acquire(timeout=max(self.settings.write_lock_timeout, 0))
        except Timeout as exc:
            raise StoreBusy(self._busy_message(self._holder())) from exc
        try:
            previous = self._holder()
            self._write_holder()
            if previous.get("writer") != self.writer_id:
                self._reopen()  # another process wrote since: write from its state, not a stale copy
        except BaseException:
            self._file_lock.release()
            raise

    def _end_writing(self) -> None:
        if self._file_lock is None:
            self._stop_lease()
        else:
            self._file_lock.release()

    def _holder(self) -> dict[str, Any]:
        try:
            return json.loads((self.settings.data_dir / HOLDER_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def _write_holder(self) -> None:
        path = self.settings.data_dir / HOLDER_FILE
        record = {"pid": os.getpid(), "command": process_label(), "host": socket.gethostname(),
                  "since": time.time(), "writer": self.writer_id}  # fmt: skip
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, path)

    def _busy_message(self, holder: dict[str, Any]) -> str:
        where = self.settings.data_dir
        if self._file_lock is None or holder.get("pid") == os.getpid():
            who = "another request in this process is writing to"
            return f"{who} {where}; try again when it finishes"
        pid, command = holder.get("pid", "unknown"), holder.get("command", "unknown command")
        return (
            f"another process is writing to {where} (pid {pid}, {command}); try again when it finishes, "
            "or use a Chroma server for several writers"
        )

    def _lease(self) -> dict[str, Any]:
        return {"heartbeat": time.time(), "pid": os.getpid(), "command": process_label(),
                "host": socket.gethostname()}  # fmt: skip

    def renew_lease(self) -> None:
        """Tell other writers this one is alive (server mode; the heartbeat thread calls it)."""
        if self._writers is not None:
            self._writers.upsert(ids=[self.writer_id], embeddings=[[1.0]], metadatas=[self._lease()])

    def _start_lease(self) -> None:
        self.renew_lease()
        stop = threading.Event()
        period = max(self.settings.writer_lease_seconds / 4, 0.2)

        def beat() -> None:
            while not stop.wait(period):
                try:
                    self.renew_lease()
                except Exception as exc:  # the server went away: the write itself will fail
                    log.warning("could not renew the writer lease: %s", type(exc).__name__)

        thread = threading.Thread(target=beat, name="plainsight-lease", daemon=True)
        thread.start()
        self._heartbeat = (thread, stop)

    def _stop_lease(self) -> None:
        if self._heartbeat:
            thread, stop = self._heartbeat
            stop.set()
            thread.join(5)
            self._heartbeat = None
        try:
            self._writers.delete(ids=[self.writer_id])  # its unregistered chunks may be repaired now
        except Exception as exc:
            log.warning("could not end the writer lease: %s", type(exc).__name__)

    def live_writers(self) -> set[str]:
        """Other writers that may be writing right now, whose unregistered chunks must be left
        alone: none on the embedded store (the caller holds its lock), else the unexpired leases."""
        if self._writers is None:
            return set()
        got = self._writers.get(include=["metadatas"])
        cutoff = time.time() - self.settings.writer_lease_seconds
        return {
            w
            for w, m in zip(got["ids"], got["metadatas"])
            if w != self.writer_id and float((m or {}).get("heartbeat", 0)) >= cutoff
        }

    def forget_expired_leases(self) -> None:
        if self._writers is None:
            return
        got = self._writers.get(include=["metadatas"])
        cutoff = time.time() - self.settings.writer_lease_seconds
        beats = {w: float((m or {}).get("heartbeat", 0)) for w, m in zip(got["ids"], got["metadatas"])}
        old = [w for w, beat in beats.items() if beat < cutoff]
        if old:
            self._writers.delete(ids=old)

    # --- readers beside a writer in another process ---------------------------------------

    def refresh(self) -> None:
        """Embedded store: read what other processes wrote (a new client from the files), unless
        this Store is writing right now (it reopened when it started)."""
        if self._file_lock is None or not self._mutex.acquire(blocking=False):
            return
        try:
            if self._depth == 0:
                self._reopen()
        finally:
            self._mutex.release()

    def _reopen(self) -> None:
        """A new Chroma client for the same folder. Chroma keeps one per folder per process; the
        old one is forgotten, not stopped, so reads already under way on it finish."""
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = getattr(self._client, "_identifier", None)
        with SharedSystemClient._refcount_lock:
            SharedSystemClient._identifier_to_system.pop(identifier, None)
            SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        client = open_client(self.settings)
        chunks, registry, sentences = (
            client.get_collection(self.settings.collection + suffix, embedding_function=None)
            for suffix in ("", REGISTRY_SUFFIX, SENTENCES_SUFFIX)
        )
        self._client, self._chunks, self._registry, self._sentences = client, chunks, registry, sentences
        old, self._system = self._system, _use(client, self)
        _retire(old, self)

    def reread(self, read: Callable[..., T], *args: Any) -> T:
        """`read(*args)`, read again from a fresh client when another process changed the store
        under it (at most `REREADS` times, then `StoreChanging`)."""
        for attempt in range(REREADS):
            try:
                return read(*args)
            except Exception as exc:
                if not store_changed(exc):
                    raise
                log.info("the store changed while it was read (%s); reading it again", type(exc).__name__)
                self.refresh()
                time.sleep(0.05 * attempt)
        raise StoreChanging("the store kept changing while it was read; try again shortly")

    # --- chunks ---------------------------------------------------------------------------

    def write_chunks(
        self, chunks: list[Chunk], vectors: Any, sentence_data: list[dict[str, str]] | None = None
    ) -> None:
        """Chunks with their vectors and, when given, their sentences (`bot.core.vectors.pack`), each
        stamped with this Store's `writer_id` (whose lease keeps other writers' repair off them)."""
        with self.writing():
            for start in range(0, len(chunks), PAGE_SIZE):
                part = chunks[start : start + PAGE_SIZE]
                if sentence_data:
                    self._sentences.upsert(
                        ids=[c.id for c in part],
                        embeddings=[[1.0]] * len(part),
                        metadatas=[
                            {
                                "doc_id": c.metadata["doc_id"],
                                "content_hash": c.metadata["content_hash"],
                                "writer": self.writer_id,
                                **d,
                            }
                            for c, d in zip(part, sentence_data[start : start + PAGE_SIZE])
                        ],
                    )
                self._chunks.upsert(
                    ids=[c.id for c in part],
                    documents=[c.text for c in part],
                    metadatas=[{**c.metadata, "writer": self.writer_id} for c in part],
                    embeddings=vectors[start : start + PAGE_SIZE],
                )

    def delete_chunks(self, where: dict[str, Any], ids: list[str] | None = None) -> None:
        """Delete the chunks (and their sentences) that match `where` (among `ids`, when given)."""
        with self.writing():
            self._chunks.delete(ids=ids, where=where)
            self._sentences.delete(ids=ids, where=where)

    def sentence_vectors(self, chunks: list[Chunk]) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """Stored sentence spans and unit vectors of these chunks, by chunk id. Left out: chunks
        without them, and records of another version of the chunk (a crash between writes)."""
        if not chunks:
            return {}
        version = {c.id: c.metadata.get("content_hash") for c in chunks}
        got = self._sentences.get(ids=list(version), include=["metadatas"])
        return {
            cid: unpack(meta)
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
        while (got := self._chunks.get(include=include, limit=PAGE_SIZE, offset=offset, where=where))["ids"]:
            yield got
            offset += len(got["ids"])

    def chunk_count(self) -> int:
        return self._chunks.count()

    def chunks(self, ids: list[str]) -> dict[str, Chunk]:
        """The stored chunks among `ids`, by id (an id with no chunk is left out)."""
        got = self.reread(lambda: self._chunks.get(ids=ids, include=["documents", "metadatas"]))
        rows = zip(got["ids"], got["documents"], got["metadatas"])
        return {i: Chunk(i, t or "", m or {}) for i, t, m in rows}

    def chunk_text(self, chunk_id: str) -> str | None:
        """The stored text of one chunk (None when there is no such chunk)."""
        got = self._chunks.get(ids=[chunk_id], include=["documents"])
        return (got["documents"][0] or "") if got["ids"] else None

    @property
    def collection_id(self) -> str:
        """The chunk collection's id: new whenever the collection is recreated (a reset store)."""
        return str(self._chunks.id)

    def nearest_ids(self, vector: list[float], k: int) -> list[str]:
        """Ids of the k nearest chunks, for callers that hold the chunks in memory: reading 40
        chunks' text and metadata takes Chroma several times longer than the search itself."""
        return self.reread(
            lambda: self._chunks.query(query_embeddings=[vector], n_results=k, include=[])["ids"][0]
        )


def _use(client: Any, store: Store) -> Any:
    """The Chroma system behind `client`, noted as used by `store`."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.get(getattr(client, "_identifier", None))
    if system is not None:
        with _USERS_LOCK:
            _USERS.setdefault(id(system), weakref.WeakSet()).add(store)
    return system


def _retire(system: Any, store: Store) -> None:
    """`store` no longer reads through `system`; once no Store does, it is stopped after a grace
    period (reads under way finish first), which frees its copy of the vector index."""
    if system is None:
        return
    with _USERS_LOCK:
        users = _USERS.get(id(system))
        if users is not None:
            users.discard(store)
            if len(users):
                return
            del _USERS[id(system)]
    timer = threading.Timer(RETIRE_AFTER, system.stop)
    timer.daemon = True
    timer.start()


def _file_lock(path: Path):
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, thread_local=False)  # held by one thread at a time through `_mutex`
