"""Files -> chunks -> store, idempotently and safely.

* A document's content hash covers its text and metadata: an unchanged file is skipped before any
  embedding work, a changed one replaces all of its chunks.
* Write order makes crashes harmless: chunks are written (ids `doc_id#n`, tagged with the new
  hash), stale chunks of the document are deleted, and only then does the registry vouch for the
  new hash. Deleting unregisters first. `repair` removes whatever a crash left half-done, and every
  ingest run starts with it, so the next run restores exactly the right state.
* One bad file is a `FileResult` with a reason; the batch goes on.
* A folder is embedded in windows of about `BATCH_CHUNKS` chunks from several files: one small
  file alone makes a small, badly padded model batch (which cost ingest half the model's own
  throughput), and chunks are sorted by length within a window, so a wide one pads little (with
  batches of 64, a 512-chunk window padded to 8% more tokens than one sort over 10k chunks; 4096,
  to 1%). The encoder pools each model batch as it comes, so a wide window costs no memory. The
  first window is small (`FIRST_BATCH_CHUNKS`): a long run reports and vouches for its first
  files within seconds rather than minutes, and a run killed early keeps them.
* Per window, one delete removes its files' stale chunks and one registry write vouches for all of
  them, under one new generation (readers rebuild once): Chroma takes 5-15 ms a write, and three
  writes per file were 2-4% of ingest time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import sentences
from bot.encoder import LocalEmbeddings
from bot.sentences import sentence_spans
from bot.store import Chunk, Store, embedding_text
from ingest.chunking import split_document
from ingest.loaders import SUPPORTED, IngestError, LoadedDocument, load_bytes, read_sidecar

BATCH_CHUNKS = 4096  # chunks embedded together: full model batches, sorted by length over a wide window
FIRST_BATCH_CHUNKS = 128  # the first window: the first files are vouched for within seconds


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: added, updated, unchanged or failed (with a reason)."""

    path: str
    status: str
    doc_id: str = ""
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def all_failed(self) -> bool:
        return bool(self.results) and self.count("failed") == len(self.results)

    def to_json(self) -> dict[str, Any]:
        counts = {s: self.count(s) for s in ("added", "updated", "unchanged", "failed")}
        return {**counts, "files": [asdict(r) for r in self.results]}


def content_hash(doc: LoadedDocument) -> str:
    digest = hashlib.sha256(json.dumps(doc.meta, sort_keys=True).encode())
    for page in doc.pages:
        digest.update(f"\x00{page.number}\x00{page.text}".encode())
    return digest.hexdigest()[:32]


def text_hash(doc: LoadedDocument) -> str:
    """The text alone: the same text under another file name (so another doc_id) is a duplicate."""
    digest = hashlib.sha256()
    for page in doc.pages:
        digest.update(f"\x00{page.number}\x00{page.text}".encode())
    return digest.hexdigest()[:32]


def build_chunks(doc: LoadedDocument, digest: str, source: str, size: int, overlap: int) -> list[Chunk]:
    chunks = []
    for n, piece in enumerate(split_document(doc, size, overlap)):
        meta = {
            **doc.meta,
            "chunk": n,
            "section": piece.section,
            "start": piece.start,
            "end": piece.end,
            "content_hash": digest,
            "source": source,
        }
        if piece.page is not None:
            meta["page"] = piece.page
        chunks.append(Chunk(f"{doc.meta['doc_id']}#{n}", piece.text, meta))
    return chunks


def embed_chunks(store: Store, chunks: list[Chunk]) -> tuple[Any, list[dict[str, str]] | None]:
    """Chunk vectors, plus sentence spans and vectors from the same pass when the model can
    (the local model can; a remote embeddings server cannot, and the answerer embeds later)."""
    texts = [embedding_text(c.metadata, c.metadata["section"], c.text) for c in chunks]
    if not isinstance(store.embeddings, LocalEmbeddings):
        return store.embeddings.embed_documents(texts), None
    spans = [sentence_spans(c.text) for c in chunks]
    shift = [len(t) - len(c.text) for t, c in zip(texts, chunks)]  # the title/heading prefix
    vectors, per_chunk = store.embeddings.embed_passages(
        texts, [[(s + d, e + d) for s, e in sp] for sp, d in zip(spans, shift)]
    )
    return vectors, [sentences.pack(sp, v) for sp, v in zip(spans, per_chunk)]


def delete_document(store: Store, doc_id: str) -> bool:
    """Remove a document and every chunk of it. Returns False if it was not indexed."""
    known = store.document(doc_id) is not None
    store.unregister(doc_id)
    store.delete_chunks({"doc_id": doc_id})
    return known


def repair(store: Store) -> int:
    """Delete chunks the registry does not vouch for (left by a crash), and announce the registry
    as it is to every reader. Returns how many chunks were deleted."""
    vouched = {r.doc_id: r for r in store.documents()}
    stale_docs, counts = set(), {}
    for chunk in store.iter_chunks(include_text=False):
        doc_id = chunk.metadata.get("doc_id", "")
        record = vouched.get(doc_id)
        if record is None or chunk.metadata.get("content_hash") != record.content_hash:
            stale_docs.add(doc_id)
        else:
            counts[doc_id] = counts.get(doc_id, 0) + 1
    removed = 0
    for doc_id in sorted(stale_docs):
        record = vouched.get(doc_id)
        where: dict[str, Any] = {"doc_id": doc_id}
        if record is not None:
            where = {"$and": [where, {"content_hash": {"$ne": record.content_hash}}]}
        removed += len(store.chunks.get(where=where, include=[])["ids"])
        store.delete_chunks(where)
    for doc_id, record in vouched.items():
        if counts.get(doc_id, 0) != record.chunks:  # registered but chunks missing: re-ingest
            store.unregister(doc_id)
    store.bump()  # a run killed between vouching for documents and announcing them left readers unaware
    return removed


@dataclass(frozen=True)
class Pending:
    """A file that passed every check, waiting to be embedded together with its neighbours."""

    path: str
    doc: LoadedDocument
    digest: str
    text_digest: str
    updating: bool
    chunks: list[Chunk]

    @property
    def doc_id(self) -> str:
        return self.doc.meta["doc_id"]

    def result(self) -> FileResult:
        return FileResult(self.path, "updated" if self.updating else "added", self.doc_id, len(self.chunks))


def check(store: Store, path: str, doc: LoadedDocument, replace: bool = False) -> Pending | FileResult:
    """Skip an unchanged file and refuse a doc_id clash or a duplicate text, before any embedding."""
    name = Path(path).name
    doc_id, digest = doc.meta["doc_id"], content_hash(doc)
    existing = store.document(doc_id)
    if existing and existing.content_hash == digest:
        return FileResult(path, "unchanged", doc_id, existing.chunks)
    if existing and existing.source != name and not replace:
        return FileResult(
            path,
            "failed",
            doc_id,
            reason=(
                f"doc_id '{doc_id}' is already used by '{existing.source}'; "
                "give this file its own doc_id (front matter or NAME.meta.yaml) or replace explicitly"
            ),
        )
    text_digest = text_hash(doc)
    same_text = store.registry.get(where={"text_hash": text_digest}, include=[])["ids"]
    twins = [t for t in same_text if t != doc_id]
    if twins:
        return FileResult(path, "failed", doc_id, reason=f"same content as '{twins[0]}', already indexed")
    chunks = build_chunks(doc, digest, name, store.settings.chunk_size, store.settings.chunk_overlap)
    return Pending(path, doc, digest, text_digest, existing is not None, chunks)


def commit(store: Store, batch: list[Pending | FileResult]) -> list[FileResult]:
    """Embed the pending files' chunks in one pass (full, length-sorted model batches rather than
    one small batch per file), write them, delete the files' stale chunks, and only then register
    the files: the registry still vouches for a document only once its chunks are complete."""
    pending = [item for item in batch if isinstance(item, Pending)]
    chunks = [c for item in pending for c in item.chunks]
    if chunks:
        store.write_chunks(chunks, *embed_chunks(store, chunks))
    if pending:
        # a chunk's content hash names its document (the hash covers the doc_id), so this is each
        # file's "its doc_id, another hash" in one call
        ids, digests = [item.doc_id for item in pending], [item.digest for item in pending]
        store.delete_chunks({"$and": [{"doc_id": {"$in": ids}}, {"content_hash": {"$nin": digests}}]})
        store.register_all({item.doc_id: registry_record(item) for item in pending})
    return [item.result() if isinstance(item, Pending) else item for item in batch]


def registry_record(item: Pending) -> dict[str, Any]:
    fields = ("title", "doc_type", "jurisdiction", "publisher", "published", "source_url")
    return {
        **{k: item.doc.meta.get(k, "") for k in fields},
        "content_hash": item.digest,
        "text_hash": item.text_digest,
        "chunks": len(item.chunks),
        "source": Path(item.path).name,
        "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def ingest_document(
    store: Store, name: str, data: bytes, meta: dict[str, Any] | None = None, replace: bool = False
) -> FileResult:
    """Ingest one file's bytes. `replace` allows a doc_id that another source file holds."""
    try:
        doc = load_bytes(name, data, meta)
    except IngestError as exc:
        return FileResult(name, "failed", reason=str(exc))
    (result,) = commit(store, [check(store, name, doc, replace)])
    return result


def read_file(path: Path, max_bytes: int) -> LoadedDocument | FileResult:
    """Read and parse one file from disk, with its sidecar metadata."""
    if not path.exists():
        return FileResult(str(path), "failed", reason="no such file or folder")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"file is {size / 1e6:.3g} MB, over the {max_bytes / 1e6:g} MB limit")
        return load_bytes(path.name, path.read_bytes(), read_sidecar(path))
    except IngestError as exc:
        return FileResult(str(path), "failed", reason=str(exc))
    except OSError as exc:
        return FileResult(str(path), "failed", reason=f"cannot read file ({exc.strerror})")


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus supported files found recursively in folders."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in SUPPORTED
                and not p.name.startswith(".")
                and not p.name.endswith(".meta.yaml")
            )
        else:
            files.append(path)
    return files


def clashes(doc: LoadedDocument, batch: list[Pending | FileResult]) -> bool:
    """Whether a waiting file has this doc_id or text: it must be registered before `check` can
    judge this one (unchanged, doc_id clash or duplicate), exactly as if files went one by one."""
    digest = text_hash(doc)
    return any(
        isinstance(item, Pending) and (item.doc_id == doc.meta["doc_id"] or item.text_digest == digest)
        for item in batch
    )


def ingest_paths(
    store: Store, paths: Iterable[Path], on_file: Callable[[FileResult], None] | None = None
) -> IngestReport:
    """Repair the store, then ingest every file, embedding about `BATCH_CHUNKS` chunks at a time
    (`FIRST_BATCH_CHUNKS` the first time); a failure is recorded and the batch goes on. Results
    come in file order."""
    repair(store)
    report = IngestReport()
    max_bytes = int(store.settings.max_file_mb * 1e6)
    batch: list[Pending | FileResult] = []
    window = FIRST_BATCH_CHUNKS

    def flush() -> None:
        nonlocal window
        for result in commit(store, batch):
            report.results.append(result)
            if on_file:
                on_file(result)
        batch.clear()
        window = BATCH_CHUNKS

    for path in collect_files(paths):
        item = read_file(path, max_bytes)
        if isinstance(item, LoadedDocument):
            if clashes(item, batch):
                flush()
            item = check(store, str(path), item)
        batch.append(item)
        if sum(len(b.chunks) for b in batch if isinstance(b, Pending)) >= window:
            flush()
    flush()
    return report
