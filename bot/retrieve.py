"""Store -> ranked passages: dense (Chroma) and lexical (BM25) retrieval, fused.

Dense vectors find paraphrases ("tag readers" for "license plate readers"); BM25 finds exact names
and numbers ("Koskinas", "13.824") that a small embedding model blurs. Reciprocal-rank fusion
combines the two rankings without having to calibrate their scores against each other. Each
document contributes at most `per_doc` passages so one long report cannot crowd out the rest.

Only chunks that the registry vouches for (complete documents, current content hash) are ever
returned, so a deleted or half-written document is never cited. The BM25 index is rebuilt when the
registry's fingerprint changes, whichever process changed it.
"""

from __future__ import annotations

import re
import threading
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

    def allows(self, meta: dict[str, Any]) -> bool:
        return (not self.jurisdictions or meta.get("jurisdiction") in self.jurisdictions) and (
            not self.doc_types or meta.get("doc_type") in self.doc_types
        )


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
FILTER_CACHE = 8  # filters whose chunk vectors are kept in memory


def stems(texts: list[str]) -> list[list[str]]:
    """BM25 tokens: lower-cased words, English stop words removed, Snowball-stemmed."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@dataclass
class _Part:
    """One BM25 index over some chunks, with per-filter masks built on first use."""

    chunks: list[Chunk]
    tokens: list[list[str]]
    bm25: bm25s.BM25
    masks: dict[Filters, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, chunks: list[Chunk], tokens: list[list[str]]) -> _Part:
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        return cls(chunks, tokens, bm25)

    def search(self, query: list[str], n: int, filters: Filters) -> list[tuple[Chunk, float]]:
        mask = None
        if filters.where():
            if filters not in self.masks:
                self.masks[filters] = np.array([filters.allows(c.metadata) for c in self.chunks], np.float32)
            mask = self.masks[filters]
        found, scores = self.bm25.retrieve(
            [query], k=min(n, len(self.chunks)), weight_mask=mask, show_progress=False
        )
        return [(self.chunks[i], float(s)) for i, s in zip(found[0], scores[0]) if s > 0]


@dataclass
class _Lexical:
    """The BM25 side: a main index plus small side indexes of documents added since it was built.

    A registry change never re-reads or re-tokenises unchanged documents: deleted or replaced
    documents drop out through `vouched` at once, new ones go into a side index, and everything is
    re-indexed from the cached tokens only when side indexes grow past `DELTA_SHARE` of the main.
    """

    fingerprint: str = ""
    vouched: dict[str, str] = field(default_factory=dict)
    parts: tuple[_Part, ...] = ()
    vocabulary: frozenset[str] = frozenset()  # indexed stems; querying never adds to it
    filtered: dict[Filters, tuple[list[Chunk], np.ndarray]] = field(default_factory=dict)

    def live(self) -> tuple[list[Chunk], list[list[str]]]:
        pairs = [
            (c, t)
            for p in self.parts
            for c, t in zip(p.chunks, p.tokens)
            if self.vouched.get(c.metadata.get("doc_id")) == c.metadata.get("content_hash")
        ]
        return [c for c, _ in pairs], [t for _, t in pairs]


def _chunks(parts: tuple[_Part, ...]):
    return (c for p in parts for c in p.chunks)


def _vocabulary(parts: tuple[_Part, ...]) -> frozenset[str]:
    return frozenset(w for p in parts for w in p.bm25.vocab_dict)


class HybridIndex:
    """Dense + BM25 search over one `Store`, safe to share between threads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lexical = _Lexical()
        self._lock = threading.Lock()

    def snapshot(self) -> _Lexical:
        """The index as of the registry now; one registry lookup (pass it on to avoid more)."""
        return self._current()

    def _current(self) -> _Lexical:
        fingerprint = self.store.fingerprint()
        with self._lock:
            if fingerprint != self._lexical.fingerprint:
                self._lexical = self._update(self._lexical, fingerprint)
            return self._lexical

    def _new_chunks(self, vouched: dict[str, str], doc_ids: list[str]) -> list[Chunk]:
        """Chunks of these documents, current versions only (all chunks when asked for all)."""
        pages = [None] if len(doc_ids) == len(vouched) else [
            {"doc_id": {"$in": doc_ids[i : i + 500]}} for i in range(0, len(doc_ids), 500)
        ]  # fmt: skip
        return [
            c
            for where in pages
            for c in self.store.iter_chunks(where=where)
            if vouched.get(c.metadata.get("doc_id")) == c.metadata.get("content_hash")
        ]

    def _update(self, old: _Lexical, fingerprint: str) -> _Lexical:
        vouched = {r.doc_id: r.content_hash for r in self.store.documents()}
        indexed = {c.metadata.get("doc_id"): c.metadata.get("content_hash") for c in _chunks(old.parts)}
        changed = sorted(d for d, h in vouched.items() if indexed.get(d) != h)
        fresh = self._new_chunks(vouched, changed) if changed else []
        texts = [embedding_text(c.metadata, c.metadata.get("section", ""), c.text) for c in fresh]
        fresh_tokens = stems(texts) if texts else []
        kept = replace(old, vouched=vouched)
        main = len(old.parts[0].chunks) if old.parts else 0
        side = sum(len(p.chunks) for p in old.parts[1:]) + len(fresh)
        if main >= FULL_REBUILD_BELOW and side <= DELTA_SHARE * main:
            parts = old.parts + ((_Part.build(fresh, fresh_tokens),) if fresh else ())
        else:
            chunks, tokens = kept.live()
            chunks, tokens = chunks + fresh, tokens + fresh_tokens
            parts = (_Part.build(chunks, tokens),) if chunks else ()
        return _Lexical(fingerprint, vouched, parts, _vocabulary(parts))

    def knows(self, name: str, snapshot: _Lexical | None = None) -> bool:
        """Whether indexed passages contain a name's head word ("Haven" in "New Haven"), to spot
        places and organisations the documents never mention. "Golden State" counts as known."""
        lex = snapshot or self._current()
        words = [w for w in re.findall(r"\w\w+", name.lower()) if w not in STOPWORDS]
        head = stems(words[-1:])
        return not words or not head[0] or head[0][0] in lex.vocabulary

    def jurisdictions(self) -> list[str]:
        """Every jurisdiction in the corpus, for filters."""
        return sorted({j for r in self.store.documents() if (j := r.jurisdiction)})

    def _lexical_hits(self, lex: _Lexical, question: str, filters: Filters) -> list[tuple[Chunk, float]]:
        query = stems([question])[0]
        found = [hit for part in lex.parts for hit in part.search(query, 2 * CANDIDATES, filters)]
        live = [
            (c, s)
            for c, s in sorted(found, key=lambda h: -h[1])
            if lex.vouched.get(c.metadata.get("doc_id")) == c.metadata.get("content_hash")
        ]
        return live[:CANDIDATES]

    def _dense_hits(self, lex: _Lexical, vector: list[float], filters: Filters) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine. Unfiltered: Chroma's HNSW index. Filtered: Chroma's `where`
        scans metadata on every query (over 100 ms at 100k chunks), so the chunks a filter allows
        and their vectors are fetched once per index version and compared here by dot product."""
        if not filters.where():
            return self.store.query(vector, CANDIDATES)
        with self._lock:
            if filters not in lex.filtered:
                while len(lex.filtered) >= FILTER_CACHE:  # a deployment uses a handful of filters
                    lex.filtered.pop(next(iter(lex.filtered)))
                chunks = [c for c in lex.live()[0] if filters.allows(c.metadata)]
                lex.filtered[filters] = (chunks, self.store.vectors([c.id for c in chunks]))
            chunks, matrix = lex.filtered[filters]
        if not chunks:
            return []
        sims = matrix @ np.asarray(vector, np.float32)
        top = np.argsort(-sims, kind="stable")[:CANDIDATES]
        return [(chunks[i], float(sims[i])) for i in top]

    def search(
        self,
        question: str,
        k: int,
        filters: Filters = Filters(),
        per_doc: int = 2,
        vector: list[float] | None = None,
        snapshot: _Lexical | None = None,
    ) -> list[Hit]:
        """The k best passages for `question` (embedded unless `vector` is given), fused from both
        rankings, diverse by document, with their stored sentences."""
        lex = snapshot or self._current()
        if vector is None:
            vector = self.store.embeddings.embed_query(question)
        dense = [
            (c, s)
            for c, s in self._dense_hits(lex, vector, filters)
            if lex.vouched.get(c.metadata.get("doc_id")) == c.metadata.get("content_hash")
        ]
        lexical = self._lexical_hits(lex, question, filters)
        fused: dict[str, dict[str, Any]] = {}
        for rank, (chunk, sim) in enumerate(dense):
            fused[chunk.id] = {"chunk": chunk, "dense": sim, "dense_rank": rank, "score": 1 / (RRF_K + rank)}
        for rank, (chunk, bm) in enumerate(lexical):
            entry = fused.setdefault(chunk.id, {"chunk": chunk, "dense": None, "score": 0.0})
            entry.update(lexical=bm, lexical_rank=rank)
            entry["score"] += 1 / (RRF_K + rank)
        missing = [e for e in fused.values() if e["dense"] is None]
        if missing:  # lexical-only hits still need a comparable similarity for the answerer
            sims = self.store.vectors([e["chunk"].id for e in missing]) @ np.asarray(vector, np.float32)
            for e, sim in zip(missing, sims):
                e["dense"] = float(sim)
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
