"""Files -> chunks -> store, idempotently and safely.

* A document's content hash covers its text and metadata: an unchanged file is skipped before any
  embedding work, a changed one replaces all of its chunks.
* Write order makes crashes harmless: chunks are written (ids `doc_id#n`, tagged with the new
  hash), stale chunks of the document are deleted, and only then does the registry vouch for the
  new hash. Deleting unregisters first. `repair` removes whatever a crash left half-done, and every
  ingest run starts with it, so the next run restores exactly the right state.
* One bad file is a `FileResult` with a reason; the batch goes on. That holds for anything one
  file can cause: a reader's exception, crash or runaway (files are read in their own process,
  `ingest.reader`), an error while chunking it, or while embedding and writing it (a window that
  fails is retried file by file, so only the file that fails is lost). Files a folder walk passes
  over (unsupported types, broken links, symlink loops) are named in the report with the reason,
  and a parser's warnings come back tagged with their file.
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
* The exact file each document was read from is kept by its SHA-256 (`bot.core.originals`),
  written just before the registry vouches for the document and removed once no registered
  document was read from it (delete, replace, or `repair` after a crash). The hash is not part of
  the content hash: a store indexed before files were kept does not see every document as changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from dataclasses import replace as evolve
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.encoder import LocalEmbeddings
from bot.core.store import Chunk, Store, embedding_text
from bot.core.units import answer_units
from bot.core.vectors import pack
from ingest.chunking import split_document
from ingest.limits import Limits, file_too_large, max_file_bytes
from ingest.loaders import SUPPORTED, IngestError, LoadedDocument, read_sidecar
from ingest.reader import read_document

BATCH_CHUNKS = 4096  # chunks embedded together: full model batches, sorted by length over a wide window
FIRST_BATCH_CHUNKS = 128  # the first window: the first files are vouched for within seconds
log = logging.getLogger("plainsight.ingest")
Progress = Callable[[str, int, int], None]  # (file, pages done, pages to do) while OCR runs


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: added, updated, unchanged or failed (with a reason)."""

    path: str
    status: str
    doc_id: str = ""
    chunks: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Skipped:
    """A path a folder walk passed over, and why (not a document, a broken link, a loop)."""

    path: str
    reason: str


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)  # {path, message}: a parser's warnings

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def all_failed(self) -> bool:
        return bool(self.results) and self.count("failed") == len(self.results)

    def to_json(self) -> dict[str, Any]:
        counts = {s: self.count(s) for s in ("added", "updated", "unchanged", "failed")}
        return {
            **counts,
            "files": [asdict(r) for r in self.results],
            "skipped": [asdict(s) for s in self.skipped],
            "warnings": self.warnings,
        }


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
        if piece.ocr_confidence is not None:
            meta["ocr"], meta["ocr_confidence"] = True, piece.ocr_confidence
        chunks.append(Chunk(f"{doc.meta['doc_id']}#{n}", piece.text, meta))
    return chunks


def embed_chunks(store: Store, chunks: list[Chunk]) -> tuple[Any, list[dict[str, str]] | None]:
    """Chunk vectors, plus sentence spans and vectors from the same pass when the model can
    (the local model can; a remote embeddings server cannot, and the answerer embeds later)."""
    texts = [embedding_text(c.metadata, c.metadata["section"], c.text) for c in chunks]
    if not isinstance(store.embeddings, LocalEmbeddings):
        return store.embeddings.embed_documents(texts), None
    spans = [answer_units(c.text) for c in chunks]
    shift = [len(t) - len(c.text) for t, c in zip(texts, chunks)]  # the title/heading prefix
    vectors, per_chunk = store.embeddings.embed_passages(
        texts, [[(s + d, e + d) for s, e in sp] for sp, d in zip(spans, shift)]
    )
    return vectors, [pack(sp, v) for sp, v in zip(spans, per_chunk)]


def delete_document(store: Store, doc_id: str) -> bool:
    """Remove a document and every chunk of it. Returns False (and changes nothing, so readers
    rebuild nothing) if it was not indexed."""
    with store.writing():
        record = store.document(doc_id)
        if record is None:
            return False
        store.unregister(doc_id)
        store.delete_chunks({"doc_id": doc_id})
        release(store, {record.file_sha256})
        return True


def release(store: Store, hashes: Iterable[str]) -> None:
    """Remove the kept files with these hashes that no registered document was read from."""
    for sha256 in hashes:
        if sha256 and not store.documents_with_file(sha256):
            store.originals.remove(sha256)


def repair(store: Store) -> int:
    """Delete chunks the registry does not vouch for (left by a crash), and announce the registry
    as it is to every reader. Returns how many chunks were deleted.

    Safe beside other writers (a Chroma server): a chunk another writer is still writing (its
    lease is alive) is left alone, and so is a document it is replacing; a chunk is deleted by id
    and only while it still holds the crashed writer's stamp and version, so a chunk rewritten
    meanwhile under the same id is kept. On the embedded store the caller holds the lock, so every
    other writer's chunks are a crash's."""
    with store.writing():
        live = store.live_writers()
        vouched = {r.doc_id: r for r in store.documents()}
        stale: dict[tuple[str, str], list[str]] = {}  # (writer, content hash) -> chunk ids
        counts: dict[str, int] = {}
        in_flight: set[str] = set()
        for chunk in store.iter_chunks(include_text=False):
            meta = chunk.metadata
            doc_id, digest = meta.get("doc_id", ""), meta.get("content_hash", "")
            writer = meta.get("writer", "")
            record = vouched.get(doc_id)
            if record is not None and digest == record.content_hash:
                counts[doc_id] = counts.get(doc_id, 0) + 1
            elif writer in live:
                in_flight.add(doc_id)
            else:
                stale.setdefault((writer, digest), []).append(chunk.id)
        removed = 0
        for (writer, digest), ids in sorted(stale.items()):
            clauses = [{k: v} for k, v in (("writer", writer), ("content_hash", digest)) if v]
            where = {"$and": clauses} if len(clauses) > 1 else (clauses[0] if clauses else None)
            for start in range(0, len(ids), 1000):
                store.delete_chunks(where, ids=ids[start : start + 1000])
            removed += len(ids)
        for doc_id, record in vouched.items():
            if counts.get(doc_id, 0) != record.chunks and doc_id not in in_flight:
                now = store.document(doc_id)  # registered but chunks missing: re-ingest, unless it
                if now is not None and now.content_hash == record.content_hash:  # changed meanwhile
                    store.unregister(doc_id)
        store.forget_expired_leases()
        # files a crash left unregistered; a live writer's is younger than its lease
        store.originals.sweep({r.file_sha256 for r in vouched.values()}, store.settings.writer_lease_seconds)
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
    replaces: str = ""  # the SHA-256 of the file the document was read from before this one
    data: bytes | None = None  # the file's bytes when they are not on disk at `path` (an upload)

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
    same_text = store.documents_with_text(text_digest)
    twins = [t for t in same_text if t != doc_id]
    if twins:
        return FileResult(path, "failed", doc_id, reason=f"same content as '{twins[0]}', already indexed")
    chunks = build_chunks(doc, digest, name, store.settings.chunk_size, store.settings.chunk_overlap)
    previous = existing.file_sha256 if existing else ""
    return Pending(path, doc, digest, text_digest, existing is not None, chunks, previous)


def commit(store: Store, batch: list[Pending | FileResult]) -> list[FileResult]:
    """Embed the pending files' chunks in one pass (full, length-sorted model batches rather than
    one small batch per file), write them, delete the files' stale chunks, and only then register
    the files: the registry still vouches for a document only once its chunks are complete."""
    pending = [item for item in batch if isinstance(item, Pending)]
    chunks = [c for item in pending for c in item.chunks]
    with store.writing():  # one writer on the embedded store; a lease on a Chroma server
        if chunks:
            store.write_chunks(chunks, *embed_chunks(store, chunks))
        if pending:
            # a chunk's content hash names its document (the hash covers the doc_id), so this is each
            # file's "its doc_id, another hash" in one call
            ids, digests = [item.doc_id for item in pending], [item.digest for item in pending]
            store.delete_chunks({"$and": [{"doc_id": {"$in": ids}}, {"content_hash": {"$nin": digests}}]})
            for item in pending:  # just before vouching: a registered document always has its file
                if item.doc.file_sha256:
                    source = item.data if item.data is not None else Path(item.path)
                    store.originals.put(item.doc.file_sha256, item.path, source)
            store.register_all({item.doc_id: registry_record(item) for item in pending})
            release(store, {item.replaces for item in pending} - {item.doc.file_sha256 for item in pending})
    return [item.result() if isinstance(item, Pending) else item for item in batch]


def registry_record(item: Pending) -> dict[str, Any]:
    fields = ("title", "doc_type", "jurisdiction", "publisher", "published", "source_url")
    return {
        **{k: item.doc.meta.get(k, "") for k in fields},
        "content_hash": item.digest,
        "text_hash": item.text_digest,
        "file_sha256": item.doc.file_sha256,
        "chunks": len(item.chunks),
        "source": Path(item.path).name,
        "indexed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **({"ocr": True, "ocr_confidence": item.doc.ocr_confidence} if item.doc.ocr_pages else {}),
    }


def ingest_document(
    store: Store, name: str, data: bytes, meta: dict[str, Any] | None = None, replace: bool = False
) -> FileResult:
    """Ingest one file's bytes. `replace` allows a doc_id that another source file holds."""
    doc = read_bytes(store.settings, name, data, meta)
    if isinstance(doc, FileResult):
        return doc
    with store.writing():  # `StoreBusy` (another writer holds the store) reaches the caller
        item = guarded(name, doc, check, store, name, doc, replace)
        if isinstance(item, Pending):
            item = evolve(item, data=data)
        return commit_guarded(store, [item])[0]


def failure(path: str, doc: LoadedDocument | None, step: str, exc: BaseException) -> FileResult:
    """The failure of one file at a step after reading it: ours to fix, so it says to report it."""
    log.debug("%s: %s failed", path, step, exc_info=exc)
    doc_id = doc.meta.get("doc_id", "") if doc is not None else ""
    return FileResult(
        path, "failed", doc_id, reason=f"could not {step}: {exc.__class__.__name__} — please report this"
    )


def guarded(
    path: str, doc: LoadedDocument, step: Callable[..., Pending | FileResult], *args: Any
) -> Pending | FileResult:
    """`step(*args)` (`check`, which cuts the document into chunks) with any exception as the
    file's failure."""
    try:
        return step(*args)
    except Exception as exc:  # noqa: BLE001 - one file's problem never aborts the batch
        return failure(path, doc, "split it into passages", exc)


def commit_guarded(store: Store, batch: list[Pending | FileResult]) -> list[FileResult]:
    """`commit`, and if embedding or writing the window fails, each file alone: only the files
    that fail by themselves become failures (with the reason), the others are stored."""
    try:
        return commit(store, batch)
    except Exception as exc:  # noqa: BLE001 - one file's problem never aborts the batch
        if sum(isinstance(item, Pending) for item in batch) > 1:
            return [result for item in batch for result in commit_guarded(store, [item])]
        release(store, {i.doc.file_sha256 for i in batch if isinstance(i, Pending)})
        return [
            failure(i.path, i.doc, "embed and store it", exc) if isinstance(i, Pending) else i for i in batch
        ]


def read_bytes(
    settings: Any, name: str, data: bytes, meta: dict[str, Any] | None, progress: Progress | None = None,
    warnings: list[dict[str, str]] | None = None, path: str = "",
) -> LoadedDocument | FileResult:  # fmt: skip
    """Parse one file's bytes within the settings' limits (in the reading process unless
    `read_isolated` is off); a failure of any kind is a `FileResult` with the reason."""
    limits = Limits.from_settings(settings)
    path = path or name
    tell = (lambda done, total: progress(path, done, total)) if progress else None
    result, found = read_document(name, data, meta, limits, settings.read_isolated, tell)
    for message in found:
        log.warning("%s: %s", path, message)
        if warnings is not None:
            warnings.append({"path": path, "message": message})
    if isinstance(result, str):
        return FileResult(path, "failed", reason=result)
    result.file_sha256 = hashlib.sha256(data).hexdigest()
    return result


def read_file(
    path: Path, max_bytes: int, settings: Any = None, progress: Progress | None = None,
    warnings: list[dict[str, str]] | None = None,
) -> LoadedDocument | FileResult:  # fmt: skip
    """Read and parse one file from disk, with its sidecar metadata."""
    if settings is None:
        from bot.core.settings import get_settings

        settings = get_settings()
    if not path.exists():
        return FileResult(str(path), "failed", reason="no such file or folder")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(file_too_large(size, max_bytes))
        meta, data = read_sidecar(path), path.read_bytes()
    except IngestError as exc:
        return FileResult(str(path), "failed", reason=str(exc))
    except OSError as exc:
        return FileResult(str(path), "failed", reason=f"cannot read file ({exc.strerror or exc})")
    return read_bytes(settings, path.name, data, meta, progress, warnings, str(path))


def _walk(folder: Path, files: list[Path], skipped: list[Skipped], seen: set[tuple[int, int]]) -> None:
    """Supported files under `folder`, in name order, following symbolic links to folders but
    never into one already walked (a loop); what is passed over is named with the reason."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        skipped.append(Skipped(str(folder), f"cannot list the folder ({exc.strerror or exc})"))
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith(".") or entry.name.endswith(".meta.yaml"):
            continue  # hidden files, and sidecars (read with the file they describe)
        try:
            info = path.stat()
        except OSError as exc:
            if path.is_symlink():
                why = "symbolic link loop" if exc.errno == 40 else "broken symbolic link"
                skipped.append(Skipped(str(path), f"{why}: not followed"))
            else:
                skipped.append(Skipped(str(path), f"cannot read ({exc.strerror or exc})"))
            continue
        if entry.is_dir():
            key = (info.st_dev, info.st_ino)
            if key in seen:
                skipped.append(Skipped(str(path), "symbolic link loop: this folder is already being read"))
                continue
            seen.add(key)
            _walk(path, files, skipped, seen)
        elif not entry.is_file():
            skipped.append(Skipped(str(path), "not a regular file"))
        elif path.suffix.lower() not in SUPPORTED:
            skipped.append(Skipped(str(path), f"unsupported file type '{path.suffix.lower() or 'none'}'"))
        else:
            files.append(path)


def collect(paths: Iterable[Path]) -> tuple[list[Path], list[Skipped]]:
    """Files named directly, plus supported files found recursively in folders; and what the walk
    passed over. A file reached twice (through a link) is read once."""
    files: list[Path] = []
    skipped: list[Skipped] = []
    for path in paths:
        if path.is_dir():
            found: list[Path] = []
            _walk(path, found, skipped, {(path.stat().st_dev, path.stat().st_ino)})
            files.extend(found)
        else:
            files.append(path)
    unique, seen = [], {}
    for path in files:
        try:
            key = (path.stat().st_dev, path.stat().st_ino)
        except OSError:
            unique.append(path)  # reported by read_file
            continue
        if key in seen:
            skipped.append(Skipped(str(path), f"same file as {seen[key]}: read once"))
            continue
        seen[key] = path
        unique.append(path)
    return unique, skipped


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """The files `collect` finds."""
    return collect(paths)[0]


def clashes(doc: LoadedDocument, batch: list[Pending | FileResult]) -> bool:
    """Whether a waiting file has this doc_id or text: it must be registered before `check` can
    judge this one (unchanged, doc_id clash or duplicate), exactly as if files went one by one."""
    digest = text_hash(doc)
    return any(
        isinstance(item, Pending) and (item.doc_id == doc.meta["doc_id"] or item.text_digest == digest)
        for item in batch
    )


def ingest_paths(
    store: Store,
    paths: Iterable[Path],
    on_file: Callable[[FileResult], None] | None = None,
    on_progress: Progress | None = None,
) -> IngestReport:
    """Repair the store, then ingest every file, embedding about `BATCH_CHUNKS` chunks at a time
    (`FIRST_BATCH_CHUNKS` the first time); a failure is recorded and the batch goes on. Results
    come in file order; `on_progress` hears about a long file's OCR, page by page."""
    repair(store)
    report = IngestReport()
    max_bytes = max_file_bytes(store.settings)
    batch: list[Pending | FileResult] = []
    window = FIRST_BATCH_CHUNKS

    def flush() -> None:
        nonlocal window
        for result in commit_guarded(store, batch):
            report.results.append(result)
            if on_file:
                on_file(result)
        batch.clear()
        window = BATCH_CHUNKS

    files, report.skipped = collect(paths)
    # doc_id -> the run's first file with it: another file of the same name in another folder
    # (two SOURCES.md) would otherwise pass for an update of the first and replace it
    first_with: dict[str, Path] = {}
    for path in files:
        item = read_file(path, max_bytes, store.settings, on_progress, report.warnings)
        if (
            isinstance(item, LoadedDocument)
            and (other := first_with.setdefault(item.meta["doc_id"], path)) != path
            and other.name == path.name
        ):
            item = FileResult(
                str(path),
                "failed",
                item.meta["doc_id"],
                reason=(
                    f"doc_id '{item.meta['doc_id']}' is already used by '{other}' in this run; give this "
                    "file its own doc_id (front matter or NAME.meta.yaml)"
                ),
            )
        if isinstance(item, LoadedDocument):
            if clashes(item, batch):
                flush()
            doc = item
            item = guarded(str(path), doc, check, store, str(path), doc)
        batch.append(item)
        if sum(len(b.chunks) for b in batch if isinstance(b, Pending)) >= window:
            flush()
    flush()
    return report
