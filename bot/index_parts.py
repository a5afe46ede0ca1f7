"""The search index held by each process: parts of the corpus, snapshots of them, and their files.

A `Part` is some chunks indexed once and never changed: BM25 postings (bm25s), the chunks' vectors
as one matrix (filtered dense search and lexical-only hits need no store round trip), their
sentences' spans and int8 vectors (the answerer's input, without a store read per question) and
their filterable fields as integer codes (a filter is one array lookup, not a loop over chunks).
A `Snapshot` is the index as of one registry version: parts, and which of their chunks are current.

Why files: building a part means reading its chunks from Chroma and tokenising them, about 50 s
at 100k chunks, and every new process (a restarted server, a CLI call) paid that before its first
answer. So each part is saved once, when it is built, under `<data_dir>/index/<collection>/`, and
a process maps it from disk instead (numpy memory maps; chunks are a JSON-lines file read only for
the passages a question returns): well under a second, and memory holds only what questions touch.
The snapshot file names the registry generation and the document versions it was built from; a
process that loads it catches up with the registry like after any other change (only changed
documents are read). Files of another collection (the store was reset), or any that cannot be read,
are ignored and the index is rebuilt from the store, which stays the only source of truth.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from bot.core.store import Chunk
from bot.core.vectors import int8, unit

FORMAT = 2  # bump when the files' layout changes: older files are then ignored
COLUMNS = ("jurisdiction", "doc_type", "version")
STALE_SECONDS = 120  # an unreferenced part or temporary folder older than this is deleted
log = logging.getLogger(__name__)

Sentences = tuple[list[tuple[int, int]], np.ndarray]  # spans, unit vectors (one row per span)


@dataclass(frozen=True)
class Column:
    """One metadata field of a part's chunks as integer codes: a test runs once per distinct
    value and reaches every chunk through one array lookup, not a Python loop over chunks."""

    values: tuple[Any, ...]
    codes: np.ndarray

    @classmethod
    def of(cls, items: Iterable[Hashable]) -> Column:
        index: dict[Hashable, int] = {}
        codes = np.fromiter((index.setdefault(v, len(index)) for v in items), np.int32)
        return cls(tuple(index), codes)

    def mask(self, keep: Callable[[Any], bool]) -> np.ndarray:
        return np.fromiter(map(keep, self.values), bool, len(self.values))[self.codes]


@dataclass(frozen=True)
class SentenceTable:
    """Each chunk's sentences in flat arrays: chunk r's are rows `offsets[r]:offsets[r + 1]`.
    `stored[r]` is False where the store holds none (built through a remote embeddings server):
    the answerer then embeds that chunk's sentences itself."""

    offsets: np.ndarray  # int64, one more than chunks
    stored: np.ndarray  # bool, per chunk
    spans: np.ndarray  # int32 (start, end) pairs
    vectors: np.ndarray  # int8, one row per sentence

    @classmethod
    def of(cls, entries: list[tuple[np.ndarray, np.ndarray] | None], dim: int) -> SentenceTable:
        """From per-chunk (int32 spans, int8 vectors) or None."""
        spans = [e[0] for e in entries if e is not None]
        vectors = [e[1] for e in entries if e is not None]
        sizes = [0 if e is None else len(e[0]) for e in entries]
        return cls(
            np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64),
            np.array([e is not None for e in entries], bool),
            np.concatenate(spans).astype(np.int32) if spans else np.zeros((0, 2), np.int32),
            np.concatenate(vectors) if vectors else np.zeros((0, dim), np.int8),
        )

    def entry(self, row: int) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.stored[row]:
            return None
        a, b = self.offsets[row], self.offsets[row + 1]
        return np.asarray(self.spans[a:b]), np.asarray(self.vectors[a:b])

    def get(self, row: int) -> Sentences | None:
        """A chunk's sentence spans and unit vectors, as the answerer takes them."""
        found = self.entry(row)
        if found is None:
            return None
        spans, vectors = found
        return list(map(tuple, spans.tolist())), unit(vectors.astype(np.float32))


def sentence_entry(stored: Sentences | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The store's form (unit vectors) in the table's (int32 spans, int8 vectors)."""
    if stored is None:
        return None
    spans, vectors = stored
    return np.asarray(spans, np.int32).reshape(-1, 2), int8(vectors)


@dataclass(frozen=True)
class Part:
    """Some chunks, indexed once (see the module docstring). Snapshots share parts and say which
    of their chunks are current. `chunks` is a list, or a file read line by line when mapped."""

    key: str
    ids: list[str]
    chunks: Sequence[Any]
    tokens: Sequence[list[str]]
    matrix: np.ndarray
    bm25: bm25s.BM25
    sentences: SentenceTable
    jurisdiction: Column
    doc_type: Column
    version: Column  # (doc_id, content_hash)
    rows: dict[str, int] = field(repr=False)  # chunk id -> row
    cased: dict[str, list[int]] = field(repr=False)  # word -> [mid-sentence capitalised, lower-case]
    mapped: bool = False  # read from files (else built in memory and not yet saved)

    @classmethod
    def build(
        cls,
        chunks: list[Chunk],
        tokens: list[list[str]],
        matrix: np.ndarray,
        sentences: list[tuple[np.ndarray, np.ndarray] | None],
    ) -> Part:
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        metas = [c.metadata for c in chunks]
        ids = [c.id for c in chunks]
        return cls(
            uuid.uuid4().hex,
            ids,
            chunks,
            tokens,
            matrix,
            bm25,
            SentenceTable.of(sentences, matrix.shape[1] if matrix.ndim == 2 else 0),
            Column.of(m.get("jurisdiction") for m in metas),
            Column.of(m.get("doc_type") for m in metas),
            Column.of((m.get("doc_id"), m.get("content_hash")) for m in metas),
            {cid: row for row, cid in enumerate(ids)},
            case_counts(c.text for c in chunks if c.metadata.get("doc_type") != "dataset"),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def chunk(self, row: int) -> Chunk:
        got = self.chunks[int(row)]
        return got if isinstance(got, Chunk) else Chunk(self.ids[row], got["text"], got["metadata"])

    def doc_id(self, row: int) -> str:
        return self.version.values[self.version.codes[row]][0] or ""

    def allowed(self, jurisdictions: tuple[str, ...], doc_types: tuple[str, ...]) -> np.ndarray:
        """Which chunks the filters allow (the same test as Chroma's `where`; empty: any)."""
        mask = np.ones(len(self), bool)
        for column, wanted in ((self.jurisdiction, jurisdictions), (self.doc_type, doc_types)):
            if wanted:
                mask &= column.mask(wanted.__contains__)
        return mask

    def search(self, query: list[str], n: int, mask: np.ndarray) -> list[tuple[int, float]]:
        """Rows of the n best BM25 matches allowed by `mask`, with their scores, unordered.

        Each query word's postings are added with `np.add.at` straight from the (mapped) score
        matrix, as bm25s does, but without its per-query set-up; one `argpartition` over all
        rows then finds the best, which is cheaper than first listing the rows that matched."""
        scores = self.bm25.scores
        ids = np.asarray(self.bm25.get_tokens_ids(query), np.int64)
        if not len(ids):
            return []
        total = np.zeros(len(self), np.float32)
        for start, end in zip(scores["indptr"][ids], scores["indptr"][ids + 1]):
            np.add.at(total, scores["indices"][start:end], scores["data"][start:end])
        np.multiply(total, mask, out=total)
        top = np.argpartition(total, len(total) - n)[-n:] if len(total) > n else np.arange(len(total))
        return [(int(row), float(total[row])) for row in top if total[row] > 0]

    def nearest(self, query: np.ndarray, n: int, mask: np.ndarray) -> list[tuple[int, float]]:
        """Rows of the n chunks allowed by `mask` with the highest dot product: exact, like
        Chroma's `where` search, and a town's few thousand rows take about a millisecond. `einsum`,
        not `@`: multi-threaded BLAS takes 10 ms instead of 0.1 when other processes hold the CPUs."""
        rows = np.flatnonzero(mask)
        return self._best(rows, np.einsum("ij,j->i", self.matrix[rows], query), n)

    @staticmethod
    def _best(rows: np.ndarray, scores: np.ndarray, n: int) -> list[tuple[int, float]]:
        top = np.argpartition(-scores, n)[:n] if len(rows) > n else np.arange(len(rows))
        return [(int(rows[i]), float(scores[i])) for i in top]

    # --- files ------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write this part into `folder` (which must not exist yet)."""
        folder.mkdir(parents=True)
        corpus = ({"text": c.text, "metadata": c.metadata} for c in map(self.chunk, range(len(self))))
        self.bm25.save(folder / "bm25", corpus=corpus, show_progress=False, raise_on_serialization_error=True)
        vocab = self.bm25.vocab_dict
        token_ids = [np.fromiter((vocab[t] for t in row), np.int32, len(row)) for row in self.tokens]
        arrays = {
            "matrix": self.matrix,
            "token_ids": np.concatenate(token_ids) if token_ids else np.zeros(0, np.int32),
            "token_offsets": np.concatenate([[0], np.cumsum([len(t) for t in token_ids], dtype=np.int64)]),
            "sentence_offsets": self.sentences.offsets,
            "sentence_stored": self.sentences.stored,
            "sentence_spans": self.sentences.spans,
            "sentence_vectors": self.sentences.vectors,
            **{
                f"{name}_codes": getattr(self, name).codes for name in ("jurisdiction", "doc_type", "version")
            },
        }
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array))
        columns = {name: getattr(self, name).values for name in COLUMNS}
        meta = {"ids": self.ids, "columns": columns, "cased": self.cased}
        (folder / "part.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> Part:
        """A part from `save`'s files, memory-mapped."""
        meta = json.loads((folder / "part.json").read_text())
        bm25 = bm25s.BM25.load(folder / "bm25", load_corpus=True, mmap=True, show_progress=False)
        bm25.scores = {k: np.asarray(v) for k, v in bm25.scores.items()}  # plain views slice faster

        def array(name: str) -> np.ndarray:
            return np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r"))

        columns = {
            name: Column(tuple(map(tuple, v)) if name == "version" else tuple(v), array(f"{name}_codes"))
            for name, v in meta["columns"].items()
        }
        ids = meta["ids"]
        sentences = SentenceTable(
            *(array(f"sentence_{n}") for n in ("offsets", "stored", "spans", "vectors"))
        )
        words = [""] * len(bm25.vocab_dict)
        for word, number in bm25.vocab_dict.items():
            words[number] = word
        tokens = _TokenFile(array("token_ids"), array("token_offsets"), words)
        return cls(
            folder.name,
            ids,
            bm25.corpus,
            tokens,
            array("matrix"),
            bm25,
            sentences,
            columns["jurisdiction"],
            columns["doc_type"],
            columns["version"],
            {cid: row for row, cid in enumerate(ids)},
            meta["cased"],
            mapped=True,
        )


MID_SENTENCE_CAPITAL = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+\b")
LOWER_WORD = re.compile(r"(?<![\w./@-])[a-z]+(?![\w/@]|[.-]\w)")  # not in an address or an id
PROPER_SEEN, PROPER_SHARE = 5, 0.95  # a word is a name when seen capitalised this often, nearly always


def case_counts(texts: Iterable[str]) -> dict[str, list[int]]:
    """How often each word is written capitalised in mid-sentence, and in lower case: what tells
    a name ("Okaloosa", "Newport") from a word (two regex passes per text, in C)."""
    capital: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in texts:
        capital.update(w.lower() for w in MID_SENTENCE_CAPITAL.findall(text))
        lower.update(LOWER_WORD.findall(text))
    return {w: [n, lower[w]] for w, n in capital.items()}


def proper_words(parts: Iterable[Part]) -> frozenset[str]:
    """Words the corpus nearly always capitalises: the names a resident types in lower case."""
    capital: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for part in parts:
        for word, (n, m) in part.cased.items():
            capital[word] += n
            lower[word] += m
    return frozenset(w for w, n in capital.items() if n >= PROPER_SEEN and n >= PROPER_SHARE * (n + lower[w]))


@dataclass(frozen=True)
class _TokenFile(Sequence):
    """A mapped part's tokens, decoded only when the part is re-indexed with others."""

    ids: np.ndarray
    offsets: np.ndarray
    vocabulary: list[str]  # word by id

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> list[str]:  # type: ignore[override]
        return [self.vocabulary[i] for i in self.ids[self.offsets[row] : self.offsets[row + 1]]]


def alive(
    parts: tuple[Part, ...], vouched: dict[str, str], superseded: Iterable[str] = ()
) -> list[np.ndarray]:
    """Per part, which chunks are current: their document's vouched version, and only in the
    newest part holding that document (one reverted to an older version is indexed anew)."""
    claimed = set(superseded)
    masks = []
    for part in reversed(parts):
        masks.append(part.version.mask(lambda v: vouched.get(v[0]) == v[1] and v[0] not in claimed))
        claimed.update(doc_id for doc_id, _ in part.version.values)
    return masks[::-1]


@dataclass(frozen=True)
class Snapshot:
    """The index as of one registry version: a main part plus small side parts of documents
    added since it was built, and which of their chunks are current."""

    fingerprint: str = ""
    vouched: dict[str, str] = field(default_factory=dict)
    parts: tuple[Part, ...] = ()
    alive: tuple[np.ndarray, ...] = ()
    vocabulary: frozenset[str] = frozenset()  # indexed stems; querying never adds to it
    proper: frozenset[str] = frozenset()  # lower-cased words the documents write as names

    @classmethod
    def of(cls, fingerprint: str, vouched: dict[str, str], parts: tuple[Part, ...]) -> Snapshot:
        vocabulary = frozenset(w for p in parts for w in p.bm25.vocab_dict)
        alive_rows = tuple(alive(parts, vouched))
        return cls(fingerprint, vouched, parts, alive_rows, vocabulary, proper_words(parts))

    def allowed(
        self, jurisdictions: tuple[str, ...] = (), doc_types: tuple[str, ...] = ()
    ) -> list[np.ndarray]:
        """Per part, its current chunks that the filters allow."""
        if not jurisdictions and not doc_types:
            return list(self.alive)
        return [p.allowed(jurisdictions, doc_types) & a for p, a in zip(self.parts, self.alive)]

    def locate(self, chunk_ids: Iterable[str]) -> list[tuple[int, int]]:
        """(part, row) of the current chunks among these ids."""
        return [
            (n, row)
            for cid in chunk_ids
            for n, (part, live) in enumerate(zip(self.parts, self.alive))
            if (row := part.rows.get(cid)) is not None and live[row]
        ]


class SnapshotFiles:
    """A collection's saved snapshot: `snapshot.json` naming its parts, each in `parts/<key>/`.

    Parts are written once into a temporary folder and renamed into place; the snapshot file is
    replaced atomically after its parts exist, so a reader sees a complete snapshot or none.
    Several processes may share the folder: the last to save names its parts, and a part nobody
    names is deleted once it is a few minutes old (a process that mapped it keeps its open files).
    """

    def __init__(self, folder: Path, collection_id: str) -> None:
        self.folder = folder
        self.collection_id = collection_id

    def load(self) -> Snapshot | None:
        """The saved snapshot, or None when there is none for this collection or it is unreadable."""
        try:
            saved = json.loads((self.folder / "snapshot.json").read_text())
            if saved.get("format") != FORMAT or saved.get("collection") != self.collection_id:
                return None
            parts = tuple(Part.load(self.folder / "parts" / key) for key in saved["parts"])
            self._clean(set(saved["parts"]))
            return Snapshot.of(saved["fingerprint"], saved["vouched"], parts)
        except FileNotFoundError:
            return None
        except Exception as exc:  # a damaged file must never stop answers: rebuild from the store
            log.warning("ignoring the saved search index in %s (%s); rebuilding it", self.folder, exc)
            return None

    def save(self, snapshot: Snapshot) -> Snapshot:
        """Save the snapshot's parts that are not on disk yet and name them; returns the snapshot
        with those parts mapped from their files (the in-memory copies can then be freed)."""
        parts = self.folder / "parts"
        mapped = []
        for part in snapshot.parts:
            if not part.mapped:
                temporary = parts / f".tmp-{uuid.uuid4().hex}"
                part.save(temporary)
                temporary.rename(parts / part.key)
                part = Part.load(parts / part.key)
            mapped.append(part)
        record = {
            "format": FORMAT,
            "collection": self.collection_id,
            "fingerprint": snapshot.fingerprint,
            "vouched": snapshot.vouched,
            "parts": [p.key for p in mapped],
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".snapshot-{uuid.uuid4().hex}.json"
        temporary.write_text(json.dumps(record))
        os.replace(temporary, self.folder / "snapshot.json")
        self._clean({p.key for p in mapped})
        return replace(snapshot, parts=tuple(mapped))

    def _clean(self, keep: set[str]) -> None:
        cutoff = time.time() - STALE_SECONDS
        parts = self.folder / "parts"
        for path in parts.iterdir() if parts.exists() else ():
            if path.name not in keep and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
