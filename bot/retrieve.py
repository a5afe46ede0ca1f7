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
from dataclasses import dataclass, field
from typing import Any

import bm25s
import Stemmer
from bm25s.tokenization import Tokenizer
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
    """A retrieved passage with its scores: `dense` is cosine similarity, `lexical` BM25."""

    chunk: Chunk
    score: float
    dense: float
    lexical: float
    dense_rank: int | None = None
    lexical_rank: int | None = None


@dataclass
class _Lexical:
    fingerprint: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    tokenizer: Tokenizer | None = None
    bm25: bm25s.BM25 | None = None
    vouched: dict[str, str] = field(default_factory=dict)
    vocabulary: frozenset[str] = frozenset()  # indexed words, frozen: querying must not add to it


STOPWORDS = frozenset("of the and in on at for to a an".split())


def _tokenizer() -> Tokenizer:
    return Tokenizer(stemmer=Stemmer.Stemmer("english"), stopwords="en")


class HybridIndex:
    """Dense + BM25 search over one `Store`, safe to share between threads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lexical = _Lexical()
        self._lock = threading.Lock()

    def _current(self) -> _Lexical:
        fingerprint = self.store.fingerprint()
        with self._lock:
            if fingerprint != self._lexical.fingerprint:
                self._lexical = self._build(fingerprint)
            return self._lexical

    def _build(self, fingerprint: str) -> _Lexical:
        vouched = {r.doc_id: r.content_hash for r in self.store.documents()}
        chunks = [
            c
            for c in self.store.iter_chunks()
            if vouched.get(c.metadata.get("doc_id")) == c.metadata.get("content_hash")
        ]
        lexical = _Lexical(fingerprint, chunks, _tokenizer(), None, vouched)
        if chunks:
            texts = [embedding_text(c.metadata, c.metadata.get("section", ""), c.text) for c in chunks]
            ids = lexical.tokenizer.tokenize(texts, return_as="ids", show_progress=False)
            lexical.bm25 = bm25s.BM25()
            lexical.bm25.index(ids, show_progress=False)
            lexical.vocabulary = frozenset(lexical.tokenizer.word_to_stem)
        return lexical

    def knows(self, name: str) -> bool:
        """Whether indexed passages contain a name's head word ("Haven" in "New Haven"), to spot
        places and organisations the documents never mention. "Golden State" counts as known."""
        lex = self._current()
        words = [w for w in re.findall(r"\w\w+", name.lower()) if w not in STOPWORDS]
        return not words or words[-1] in lex.vocabulary

    def jurisdictions(self) -> list[str]:
        """Every jurisdiction in the corpus, for filters."""
        return sorted({j for r in self.store.documents() if (j := r.jurisdiction)})

    def _lexical_hits(self, lex: _Lexical, question: str, filters: Filters) -> list[tuple[Chunk, float]]:
        if lex.bm25 is None:
            return []
        query = lex.tokenizer.tokenize([question], update_vocab=False, return_as="ids", show_progress=False)
        n = min(len(lex.chunks), CANDIDATES * (8 if filters.where() else 1))
        found, scores = lex.bm25.retrieve(query, k=n, show_progress=False)
        hits = [(lex.chunks[i], float(s)) for i, s in zip(found[0], scores[0]) if s > 0]
        return [(c, s) for c, s in hits if filters.allows(c.metadata)][:CANDIDATES]

    def search(self, question: str, k: int, filters: Filters = Filters(), per_doc: int = 2) -> list[Hit]:
        """The k best passages for `question`, fused from both rankings, diverse by document."""
        lex = self._current()
        vector = self.store.embeddings.embed_query(question)
        dense = [
            (c, s)
            for c, s in self.store.query(vector, CANDIDATES, filters.where())
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
            vectors = self.store.chunks.get(ids=[e["chunk"].id for e in missing], include=["embeddings"])
            by_id = dict(zip(vectors["ids"], vectors["embeddings"]))
            for e in missing:
                e["dense"] = float(sum(a * b for a, b in zip(vector, by_id[e["chunk"].id])))
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
        return hits


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
