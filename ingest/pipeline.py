"""Files -> chunks -> store, idempotently and safely.

* A document's content hash covers its text and metadata: an unchanged file is skipped before any
  embedding work, a changed one replaces all of its chunks.
* Write order makes crashes harmless: chunks are written (ids `doc_id#n`, tagged with the new
  hash), stale chunks of the document are deleted, and only then does the registry vouch for the
  new hash. Deleting unregisters first. `repair` removes whatever a crash left half-done, and every
  ingest run starts with it, so the next run restores exactly the right state.
* One bad file is a `FileResult` with a reason; the batch goes on.
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
    """Delete chunks the registry does not vouch for (left by a crash). Returns how many."""
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
    return removed


def ingest_document(
    store: Store, name: str, data: bytes, meta: dict[str, Any] | None = None, replace: bool = False
) -> FileResult:
    """Ingest one file's bytes. `replace` allows a doc_id that another source file holds."""
    try:
        doc = load_bytes(name, data, meta)
    except IngestError as exc:
        return FileResult(name, "failed", reason=str(exc))
    doc_id, digest = doc.meta["doc_id"], content_hash(doc)
    existing = store.document(doc_id)
    if existing and existing.content_hash == digest:
        return FileResult(name, "unchanged", doc_id, existing.chunks)
    if existing and existing.source != Path(name).name and not replace:
        return FileResult(
            name,
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
        return FileResult(name, "failed", doc_id, reason=f"same content as '{twins[0]}', already indexed")
    chunks = build_chunks(
        doc, digest, Path(name).name, store.settings.chunk_size, store.settings.chunk_overlap
    )
    vectors, sentence_data = embed_chunks(store, chunks)
    store.write_chunks(chunks, vectors, sentence_data)
    store.delete_chunks({"$and": [{"doc_id": doc_id}, {"content_hash": {"$ne": digest}}]})
    record = {
        k: doc.meta.get(k, "")
        for k in ("title", "doc_type", "jurisdiction", "publisher", "published", "source_url")
    }
    store.register(
        doc_id,
        {
            **record,
            "content_hash": digest,
            "text_hash": text_digest,
            "chunks": len(chunks),
            "source": Path(name).name,
            "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return FileResult(name, "updated" if existing else "added", doc_id, len(chunks))


def ingest_file(store: Store, path: Path, max_bytes: int) -> FileResult:
    """Read one file from disk (with its sidecar metadata) and ingest it."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"file is {size / 1e6:.3g} MB, over the {max_bytes / 1e6:g} MB limit")
        meta = read_sidecar(path)
        data = path.read_bytes()
    except IngestError as exc:
        return FileResult(str(path), "failed", reason=str(exc))
    except OSError as exc:
        return FileResult(str(path), "failed", reason=f"cannot read file ({exc.strerror})")
    result = ingest_document(store, path.name, data, meta)
    return FileResult(str(path), result.status, result.doc_id, result.chunks, result.reason)


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


def ingest_paths(
    store: Store, paths: Iterable[Path], on_file: Callable[[FileResult], None] | None = None
) -> IngestReport:
    """Repair the store, then ingest every file; a failure is recorded and the batch goes on."""
    repair(store)
    report = IngestReport()
    max_bytes = int(store.settings.max_file_mb * 1e6)
    for path in collect_files(paths):
        if not path.exists():
            result = FileResult(str(path), "failed", reason="no such file or folder")
        else:
            result = ingest_file(store, path, max_bytes)
        report.results.append(result)
        if on_file:
            on_file(result)
    return report
