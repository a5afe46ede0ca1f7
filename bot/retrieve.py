"""Store -> ranked passages: dense (Chroma) and lexical (BM25) retrieval, fused.

Dense vectors find paraphrases ("tag readers" for "license plate readers"); BM25 finds exact names
and numbers ("Koskinas", "13.824") that a small embedding model blurs. Reciprocal-rank fusion
combines the two rankings without having to calibrate their scores against each other. Each
document contributes at most `per_doc` passages so one long report cannot crowd out the rest.

Only chunks that the registry vouches for (complete documents, current content hash) are ever
returned, so a deleted or half-written document is never cited. The BM25 index and the chunks'
vectors, held in memory, follow the registry's fingerprint, whichever process changed it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import bm25s
import numpy as np
import Stemmer
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bot.store import Chunk, Store, embedding_text

RRF_K = 60
REFERENCE_SECTIONS = frozenset({"sources", "references", "bibliography", "further reading"})
CANDIDATES = 40


@dataclass(frozen=True)
class Filters:
    """Optional restrictions; empty means everything."""

    jurisdictions: tuple[str, ...] = ()
    doc_types: tuple[str, ...] = ()

    def where(self) -> dict[str, Any] | None:
        clauses = [
            {key: {"$in": list(values)}}
            for key, values in (("jurisdiction", self.jurisdictions), ("doc_type", self.doc_types))
            if values
        ]
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip


def town_filter(town: str, known: list[str]) -> Filters:
    """A resident's town -> its own documents, its state's, and national ones."""
    wanted = town.strip().lower()
    matches = {j for j in known if wanted in (j.lower(), j.lower().split(",")[0].strip())}
    chosen = (matches or {town.strip()}) | {"United States"}
    for j in matches:
        if "," in j:
            state = j.rsplit(",", 1)[1].strip().upper()
            chosen.add(STATES.get(state, state))
    return Filters(jurisdictions=tuple(sorted(chosen)))


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its scores (`dense` is cosine similarity, `lexical` BM25) and,
    when stored, its sentences' spans and vectors for the answerer."""

    chunk: Chunk
    score: float
    dense: float
    lexical: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    sentences: tuple[list[tuple[int, int]], np.ndarray] | None = field(
        default=None, compare=False, repr=False
    )


STOPWORDS = frozenset("of the and in on at for to a an".split())
FULL_REBUILD_BELOW = 20_000  # chunks; under this, re-indexing everything takes a second or two
DELTA_SHARE = 0.1  # new chunks, as a share of the main index, kept in side indexes before re-indexing


def stems(texts: list[str]) -> list[list[str]]:
    """BM25 tokens: lower-cased words, English stop words removed, Snowball-stemmed."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@dataclass(frozen=True)
class _Column:
    """One metadata field of a part's chunks as integer codes: a test runs once per distinct
    value and reaches every chunk through one array lookup, not a Python loop over chunks."""

    values: tuple[Any, ...]
    codes: np.ndarray

    @classmethod
    def of(cls, items: Iterable[Hashable]) -> _Column:
        index: dict[Hashable, int] = {}
        codes = np.fromiter((index.setdefault(v, len(index)) for v in items), np.int32)
        return cls(tuple(index), codes)

    def mask(self, keep: Callable[[Any], bool]) -> np.ndarray:
        return np.fromiter(map(keep, self.values), bool, len(self.values))[self.codes]


@dataclass(frozen=True)
class _Part:
    """Some chunks, indexed once: BM25, their vectors as one matrix (filtered dense search and
    lexical-only hits need no store round trip) and their filterable fields as codes.

    A part never changes; snapshots share it, and say which of its chunks are current.
    """

    chunks: list[Chunk]
    tokens: list[list[str]]
    matrix: np.ndarray
    bm25: bm25s.BM25
    rows: dict[str, int]  # chunk id -> row
    jurisdiction: _Column
    doc_type: _Column
    version: _Column  # (doc_id, content_hash)

    @classmethod
    def build(cls, chunks: list[Chunk], tokens: list[list[str]], matrix: np.ndarray) -> _Part:
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        metas = [c.metadata for c in chunks]
        return cls(
            chunks,
            tokens,
            matrix,
            bm25,
            {c.id: row for row, c in enumerate(chunks)},
            _Column.of(m.get("jurisdiction") for m in metas),
            _Column.of(m.get("doc_type") for m in metas),
            _Column.of((m.get("doc_id"), m.get("content_hash")) for m in metas),
        )

    def allowed(self, filters: Filters) -> np.ndarray:
        """Which chunks `filters` allow (the same test as Chroma's `where`)."""
        mask = np.ones(len(self.chunks), bool)
        for column, wanted in (
            (self.jurisdiction, filters.jurisdictions),
            (self.doc_type, filters.doc_types),
        ):
            if wanted:
                mask &= column.mask(wanted.__contains__)
        return mask

    def search(self, query: list[str], n: int, mask: np.ndarray) -> list[tuple[Chunk, float]]:
        """The n best BM25 matches allowed by `mask`. Only chunks holding a query word score above
        zero, so only those are ranked (not the whole part, as `bm25.retrieve` would)."""
        scores = self.bm25.get_scores_from_ids(self.bm25.get_tokens_ids(query), weight_mask=mask)
        rows = np.flatnonzero(scores > 0)
        return self._best(rows, scores[rows], n)

    def nearest(self, query: np.ndarray, n: int, mask: np.ndarray) -> list[tuple[Chunk, float]]:
        """The n chunks allowed by `mask` with the highest dot product: exact, like Chroma's
        `where` search, and a town's few thousand rows take about a millisecond. `einsum`, not
        `@`: multi-threaded BLAS takes 10 ms instead of 0.1 when other processes hold the CPUs."""
        rows = np.flatnonzero(mask)
        return self._best(rows, np.einsum("ij,j->i", self.matrix[rows], query), n)

    def _best(self, rows: np.ndarray, scores: np.ndarray, n: int) -> list[tuple[Chunk, float]]:
        """The chunks at `rows` with the n highest `scores` (one per row), unordered."""
        top = np.argpartition(-scores, n)[:n] if len(rows) > n else np.arange(len(rows))
        return [(self.chunks[rows[i]], float(scores[i])) for i in top]


def _alive(
    parts: tuple[_Part, ...], vouched: dict[str, str], superseded: Iterable[str] = ()
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
class _Snapshot:
    """The index as of one registry version: a main part plus small side parts of documents
    added since it was built, and which of their chunks are current.

    A registry change never re-reads or re-tokenises unchanged documents: deleted or replaced
    documents drop out through `alive` at once, new ones go into a side part, and everything is
    re-indexed from the cached tokens and vectors only when side parts grow past `DELTA_SHARE` of
    the main.
    """

    fingerprint: str = ""
    vouched: dict[str, str] = field(default_factory=dict)
    parts: tuple[_Part, ...] = ()
    alive: tuple[np.ndarray, ...] = ()
    vocabulary: frozenset[str] = frozenset()  # indexed stems; querying never adds to it

    def allowed(self, filters: Filters) -> list[np.ndarray]:
        """Per part, its current chunks that `filters` allow."""
        if not filters.where():
            return list(self.alive)
        return [part.allowed(filters) & alive for part, alive in zip(self.parts, self.alive)]

    def find(self, chunk_ids: list[str]) -> list[tuple[Chunk, np.ndarray]]:
        """The current chunks among these ids, with their vectors, from the parts' memory."""
        return [
            (part.chunks[row], part.matrix[row])
            for part, alive in zip(self.parts, self.alive)
            for cid in chunk_ids
            if (row := part.rows.get(cid)) is not None and alive[row]
        ]


def _vocabulary(parts: tuple[_Part, ...]) -> frozenset[str]:
    return frozenset(w for p in parts for w in p.bm25.vocab_dict)


class HybridIndex:
    """Dense + BM25 search over one `Store`, safe to share between threads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshot = _Snapshot()
        self._lock = threading.Lock()

    def snapshot(self) -> _Snapshot:
        """The index as of the registry now; one registry lookup (pass it on to avoid more)."""
        return self._current()

    def _current(self) -> _Snapshot:
        fingerprint = self.store.fingerprint()
        with self._lock:
            if fingerprint != self._snapshot.fingerprint:
                self._snapshot = self._update(self._snapshot, fingerprint)
            return self._snapshot

    def _new_chunks(self, vouched: dict[str, str], doc_ids: list[str]) -> tuple[list[Chunk], np.ndarray]:
        """Chunks of these documents, current versions only (all chunks when asked for all), and
        their vectors, read in the same pages so that each vector belongs to its chunk."""
        pages = [None] if len(doc_ids) == len(vouched) else [
            {"doc_id": {"$in": doc_ids[i : i + 500]}} for i in range(0, len(doc_ids), 500)
        ]  # fmt: skip
        chunks: list[Chunk] = []
        blocks: list[np.ndarray] = []
        for where in pages:
            for page, vectors in self.store.chunk_pages(where):
                rows = [
                    i
                    for i, c in enumerate(page)
                    if vouched.get(c.metadata.get("doc_id")) == c.metadata.get("content_hash")
                ]
                chunks += [page[i] for i in rows]
                blocks.append(vectors[rows])
        return chunks, np.concatenate(blocks) if blocks else np.empty((0, 0), np.float32)

    def _update(self, old: _Snapshot, fingerprint: str) -> _Snapshot:
        vouched = {r.doc_id: r.content_hash for r in self.store.documents()}
        indexed = dict(v for p in old.parts for v in p.version.values)  # newest part wins
        changed = sorted(d for d, h in vouched.items() if indexed.get(d) != h)
        fresh, vectors = self._new_chunks(vouched, changed) if changed else ([], None)
        texts = [embedding_text(c.metadata, c.metadata.get("section", ""), c.text) for c in fresh]
        fresh_tokens = stems(texts) if texts else []
        main = len(old.parts[0].chunks) if old.parts else 0
        side = sum(len(p.chunks) for p in old.parts[1:]) + len(fresh)
        if main >= FULL_REBUILD_BELOW and side <= DELTA_SHARE * main:
            parts = old.parts + ((_Part.build(fresh, fresh_tokens, vectors),) if fresh else ())
        else:
            kept = [(p, np.flatnonzero(a)) for p, a in zip(old.parts, _alive(old.parts, vouched, changed))]
            chunks = [p.chunks[i] for p, rows in kept for i in rows] + fresh
            tokens = [p.tokens[i] for p, rows in kept for i in rows] + fresh_tokens
            blocks = [p.matrix[rows] for p, rows in kept] + ([vectors] if fresh else [])
            parts = (_Part.build(chunks, tokens, np.concatenate(blocks)),) if chunks else ()
        return _Snapshot(fingerprint, vouched, parts, tuple(_alive(parts, vouched)), _vocabulary(parts))

    def knows(self, name: str, snapshot: _Snapshot | None = None) -> bool:
        """Whether indexed passages contain a name's head word ("Haven" in "New Haven"), to spot
        places and organisations the documents never mention. "Golden State" counts as known."""
        snap = snapshot or self._current()
        words = [w for w in re.findall(r"\w\w+", name.lower()) if w not in STOPWORDS]
        head = stems(words[-1:])
        return not words or not head[0] or head[0][0] in snap.vocabulary

    def jurisdictions(self) -> list[str]:
        """Every jurisdiction in the corpus, for filters."""
        return sorted({j for r in self.store.documents() if (j := r.jurisdiction)})

    def _lexical_hits(self, snap: _Snapshot, question: str, filters: Filters) -> list[tuple[Chunk, float]]:
        query = stems([question])[0]
        found = [
            hit
            for part, mask in zip(snap.parts, snap.allowed(filters))
            for hit in part.search(query, 2 * CANDIDATES, mask)
        ]
        return sorted(found, key=lambda h: -h[1])[:CANDIDATES]

    def _dense_hits(
        self, snap: _Snapshot, vector: list[float], filters: Filters
    ) -> list[tuple[Chunk, float]]:
        """Nearest current chunks by cosine (vectors are unit length). Unfiltered: Chroma's HNSW
        index finds the ids, and the chunks and vectors come from memory (Chroma takes longer to
        read 40 chunks' text and metadata than to search). Filtered: Chroma's `where` scans
        metadata on every query (over 100 ms at 100k chunks), so the allowed rows of the parts'
        matrices are compared here."""
        query = np.asarray(vector, np.float32)
        if not filters.where():
            found = [(c, float(v @ query)) for c, v in snap.find(self.store.nearest_ids(vector, CANDIDATES))]
        else:
            found = [
                hit
                for part, mask in zip(snap.parts, snap.allowed(filters))
                for hit in part.nearest(query, CANDIDATES, mask)
            ]
        return sorted(found, key=lambda h: -h[1])[:CANDIDATES]

    def search(
        self,
        question: str,
        k: int,
        filters: Filters = Filters(),
        per_doc: int = 2,
        vector: list[float] | None = None,
        snapshot: _Snapshot | None = None,
    ) -> list[Hit]:
        """The k best passages for `question` (embedded unless `vector` is given), fused from both
        rankings, diverse by document, with their stored sentences."""
        snap = snapshot or self._current()
        if vector is None:
            vector = self.store.embeddings.embed_query(question)
        dense = self._dense_hits(snap, vector, filters)
        lexical = self._lexical_hits(snap, question, filters)
        fused: dict[str, dict[str, Any]] = {}
        for rank, (chunk, sim) in enumerate(dense):
            fused[chunk.id] = {"chunk": chunk, "dense": sim, "dense_rank": rank, "score": 1 / (RRF_K + rank)}
        for rank, (chunk, bm) in enumerate(lexical):
            entry = fused.setdefault(chunk.id, {"chunk": chunk, "dense": None, "score": 0.0})
            entry.update(lexical=bm, lexical_rank=rank)
            entry["score"] += 1 / (RRF_K + rank)
        missing = [e for e in fused.values() if e["dense"] is None]
        if missing:  # lexical-only hits still need a comparable similarity for the answerer
            query = np.asarray(vector, np.float32)
            for chunk, vec in snap.find([e["chunk"].id for e in missing]):
                fused[chunk.id]["dense"] = float(vec @ query)
        ranked = sorted(fused.values(), key=lambda e: (-e["score"], e["chunk"].id))
        hits: list[Hit] = []
        per: dict[str, int] = {}
        for e in ranked:
            doc_id = e["chunk"].metadata.get("doc_id", "")
            if e["chunk"].metadata.get("section", "").lower() in REFERENCE_SECTIONS:
                continue  # a bibliography matches every query's words but answers none
            if per.get(doc_id, 0) >= per_doc:
                continue
            per[doc_id] = per.get(doc_id, 0) + 1
            hits.append(
                Hit(
                    e["chunk"],
                    e["score"],
                    e["dense"],
                    e.get("lexical", 0.0),
                    e.get("dense_rank"),
                    e.get("lexical_rank"),
                )
            )
            if len(hits) == k:
                break
        stored = self.store.sentence_vectors([h.chunk for h in hits])
        return [replace(h, sentences=stored.get(h.chunk.id)) for h in hits]


def search_results(hits: list[Hit]) -> list[dict[str, Any]]:
    """Hits in the `search --json` / `GET /v1/search` shape (shared by the CLI and the API)."""
    return [
        {
            "rank": n,
            "score": round(h.score, 6),
            "similarity": round(h.dense, 4),
            "chunk_id": h.chunk.id,
            "doc_id": h.chunk.metadata.get("doc_id", ""),
            "title": h.chunk.metadata.get("title", ""),
            "source_url": h.chunk.metadata.get("source_url", ""),
            "page": h.chunk.metadata.get("page"),
            "section": h.chunk.metadata.get("section", ""),
            "text": h.chunk.text,
        }
        for n, h in enumerate(hits, 1)
    ]


class PlainsightRetriever(BaseRetriever):
    """The hybrid index as a LangChain retriever (scores in each Document's metadata)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: HybridIndex
    k: int = 6
    filters: Filters = Filters()

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(
                page_content=h.chunk.text,
                id=h.chunk.id,
                metadata={**h.chunk.metadata, "score": h.score, "similarity": h.dense},
            )
            for h in self.index.search(query, self.k, self.filters)
        ]
