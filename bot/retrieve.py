"""Store -> ranked passages: dense (Chroma) and lexical (BM25) retrieval, fused.

Dense vectors find paraphrases ("tag readers" for "license plate readers"); BM25 finds exact names
and numbers ("Koskinas", "13.824") that a small embedding model blurs. Reciprocal-rank fusion
combines the two rankings without having to calibrate their scores against each other. Each
document contributes at most `per_doc` passages so one long report cannot crowd out the rest.

Only chunks that the registry vouches for (complete documents, current content hash) are ever
returned, so a deleted or half-written document is never cited. The BM25 index and the chunks'
vectors and sentences (`bot.index_parts`) follow the registry's fingerprint, whichever process changed it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bot.core.store import Chunk, Store, StoreChanging, embedding_text
from bot.core.text import stems
from bot.filters import STATES, Filters
from bot.index_parts import Part, Snapshot, SnapshotFiles, alive, sentence_entry
from bot.question import STOPWORDS as QUESTION_WORDS
from bot.question import names_in

log = logging.getLogger(__name__)

RRF_K = 60
REFERENCE_SECTIONS = frozenset({"sources", "references", "bibliography", "further reading"})
CANDIDATES = 40
RECORDS, RECORD_CANDIDATES = 12, 200  # dataset rows listed at most / examined
EXACT_ROWS = 20_000  # chunks up to which dense search is exact: about 5 ms, the cost of Chroma's HNSW
RARE_ROWS = 60  # a word in at most this many chunks names a place or an agency, not a topic
QUESTION_STEMS = frozenset(stems([" ".join(QUESTION_WORDS)])[0])  # "which", "have": picks out no record


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
Candidate = tuple[int, int, float]  # (part, row, score) in a snapshot


class HybridIndex:
    """Dense + BM25 search over one `Store`, safe to share between threads.

    The index follows the registry: a registry change never re-reads or re-tokenises unchanged
    documents. Deleted or replaced documents drop out through the snapshot's `alive` masks at
    once, new ones go into a side part, and everything is re-indexed from the parts' own tokens
    and vectors only when side parts and dropped chunks together pass `DELTA_SHARE` of the main
    one (so deleted text does not linger in memory and on disk). Every new snapshot is saved
    (`bot.index_parts.SnapshotFiles`), so the next process starts from it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.files = SnapshotFiles(
            store.settings.data_dir / "index" / store.settings.collection, store.collection_id
        )
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        """The index as of the registry now; one registry lookup (pass it on to avoid more)."""
        return self._current()

    def _current(self) -> Snapshot:
        fingerprint = self.store.fingerprint()
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self.files.load() or Snapshot()
            if fingerprint != self._snapshot.fingerprint:
                try:  # another process's writes can remove what a read is about to fetch: read again
                    self._snapshot = self._saved(self.store.reread(self._update, self._snapshot, fingerprint))
                except StoreChanging:  # still changing: answer from the last snapshot, update next time
                    log.warning("the store is changing; answering from the index as it was")
            return self._snapshot

    def _saved(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot saved for the next process, its new parts now mapped from their files;
        unchanged if it cannot be written (a read-only data folder, a full disk): saving only
        speeds up the next start, so it never costs an answer."""
        try:
            return self.files.save(snapshot)
        except Exception as exc:
            log.warning("could not save the search index in %s: %s", self.files.folder, exc)
            return snapshot

    def _new_chunks(
        self, vouched: dict[str, str], doc_ids: list[str]
    ) -> tuple[list[Chunk], np.ndarray, list]:
        """Chunks of these documents, current versions only (all chunks when asked for all),
        their vectors (read in the same pages, so each vector belongs to its chunk) and their
        stored sentences."""
        pages = [None] if len(doc_ids) == len(vouched) else [
            {"doc_id": {"$in": doc_ids[i : i + 500]}} for i in range(0, len(doc_ids), 500)
        ]  # fmt: skip
        chunks: list[Chunk] = []
        blocks: list[np.ndarray] = []
        sentences: list = []
        for where in pages:
            for page, vectors in self.store.chunk_pages(where):
                rows = [
                    i
                    for i, c in enumerate(page)
                    if vouched.get(c.metadata.get("doc_id")) == c.metadata.get("content_hash")
                ]
                current = [page[i] for i in rows]
                stored = self.store.sentence_vectors(current)
                chunks += current
                blocks.append(vectors[rows])
                sentences += [sentence_entry(stored.get(c.id)) for c in current]
        return chunks, np.concatenate(blocks) if blocks else np.empty((0, 0), np.float32), sentences

    def _update(self, old: Snapshot, fingerprint: str) -> Snapshot:
        vouched = {r.doc_id: r.content_hash for r in self.store.documents()}
        if vouched == old.vouched:  # a new generation, the same documents (`repair` announces)
            return replace(old, fingerprint=fingerprint)
        indexed = dict(v for p in old.parts for v in p.version.values)  # newest part wins
        changed = sorted(d for d, h in vouched.items() if indexed.get(d) != h)
        fresh, vectors, sentences = self._new_chunks(vouched, changed) if changed else ([], None, [])
        texts = [embedding_text(c.metadata, c.metadata.get("section", ""), c.text) for c in fresh]
        fresh_tokens = stems(texts) if texts else []
        current = alive(old.parts, vouched, changed)
        main = len(old.parts[0]) if old.parts else 0
        side = sum(len(p) for p in old.parts[1:]) + len(fresh)
        dead = sum(len(a) - int(a.sum()) for a in current)  # deleted or replaced, still indexed
        if main >= FULL_REBUILD_BELOW and side + dead <= DELTA_SHARE * main:
            parts = old.parts + ((Part.build(fresh, fresh_tokens, vectors, sentences),) if fresh else ())
        else:
            kept = [(p, np.flatnonzero(a)) for p, a in zip(old.parts, current)]
            chunks = [p.chunk(i) for p, rows in kept for i in rows] + fresh
            tokens = [p.tokens[i] for p, rows in kept for i in rows] + fresh_tokens
            blocks = [p.matrix[rows] for p, rows in kept] + ([vectors] if fresh else [])
            entries = [p.sentences.entry(i) for p, rows in kept for i in rows] + sentences
            parts = (Part.build(chunks, tokens, np.concatenate(blocks), entries),) if chunks else ()
        return Snapshot.of(fingerprint, vouched, parts)

    def knows(self, name: str, snapshot: Snapshot | None = None) -> bool:
        """Whether indexed passages contain a name's head word ("Haven" in "New Haven"), to spot
        places and organisations the documents never mention. "Golden State" counts as known."""
        snap = snapshot or self._current()  # "Norwalk PD" is known when Norwalk is, said with "PD" or not
        words = [w for w in re.findall(r"\w\w+", AGENCY.sub("", name.lower())) if w not in STOPWORDS]
        head = stems(words[-1:])
        if not words or not head[0] or head[0][0] in snap.vocabulary:
            return True
        code = STATE_CODES.get(name.strip().lower())  # "Texas" is known from a dataset's "state: TX"
        return code is not None and code in snap.vocabulary

    def jurisdictions(self) -> list[str]:
        """Every jurisdiction in the corpus, for filters."""
        return sorted({j for r in self.store.documents() if (j := r.jurisdiction)})

    def _lexical_hits(self, snap: Snapshot, question: str, filters: Filters) -> list[Candidate]:
        query = stems([question])[0]
        found = [
            (n, row, score)
            for n, (part, mask) in enumerate(zip(snap.parts, snap.allowed(*filters.fields)))
            for row, score in part.search(query, 2 * CANDIDATES, mask)
        ]
        return sorted(found, key=lambda h: -h[2])[:CANDIDATES]

    def _dense_hits(self, snap: Snapshot, vector: list[float], filters: Filters) -> list[Candidate]:
        """Nearest current chunks by cosine (vectors are unit length). Up to `EXACT_ROWS` chunks,
        and whenever filtered, the allowed rows of the parts' matrices are compared here: exact,
        so the same documents rank the same in every process and on every machine (an HNSW graph
        differs from build to build, and its tail from search to search), and Chroma's `where`
        scans metadata on every query (over 100 ms at 100k chunks). Past that, unfiltered,
        Chroma's HNSW index finds the ids, and the chunks and vectors come from memory."""
        query = np.asarray(vector, np.float32)
        if not filters.where() and sum(map(len, snap.parts)) > EXACT_ROWS:
            found = [
                (n, row, float(snap.parts[n].matrix[row] @ query))
                for n, row in snap.locate(self.store.nearest_ids(vector, CANDIDATES))
            ]
        else:
            found = [
                (n, row, score)
                for n, (part, mask) in enumerate(zip(snap.parts, snap.allowed(*filters.fields)))
                for row, score in part.nearest(query, CANDIDATES, mask)
            ]
        return sorted(found, key=lambda h: -h[2])[:CANDIDATES]

    def search(
        self,
        question: str,
        k: int,
        filters: Filters = Filters(),
        per_doc: int = 2,
        vector: list[float] | None = None,
        snapshot: Snapshot | None = None,
    ) -> list[Hit]:
        """The k best passages for `question` (embedded unless `vector` is given), fused from both
        rankings, diverse by document, with their stored sentences."""
        snap = snapshot or self._current()
        if vector is None:
            vector = self.store.embeddings.embed_query(question)
        fused: dict[tuple[int, int], dict[str, Any]] = {}
        for rank, (n, row, sim) in enumerate(self._dense_hits(snap, vector, filters)):
            fused[n, row] = {"dense": sim, "dense_rank": rank, "score": 1 / (RRF_K + rank)}
        query = np.asarray(vector, np.float32)
        for rank, (n, row, bm) in enumerate(self._lexical_hits(snap, question, filters)):
            entry = fused.setdefault((n, row), {"score": 0.0})
            entry.update(lexical=bm, lexical_rank=rank)
            entry["score"] += 1 / (RRF_K + rank)
            if "dense" not in entry:  # lexical-only hits still need a similarity for the answerer
                entry["dense"] = float(snap.parts[n].matrix[row] @ query)
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1]["score"], snap.parts[kv[0][0]].ids[kv[0][1]]))
        hits: list[Hit] = []
        per: dict[str, int] = {}
        for (n, row), e in ranked:
            part = snap.parts[n]
            doc_id = part.doc_id(row)
            if per.get(doc_id, 0) >= per_doc:
                continue
            chunk = part.chunk(row)
            if chunk.metadata.get("section", "").lower() in REFERENCE_SECTIONS:
                continue  # a bibliography matches every query's words but answers none
            per[doc_id] = per.get(doc_id, 0) + 1
            hits.append(
                Hit(
                    chunk,
                    e["score"],
                    e["dense"],
                    e.get("lexical", 0.0),
                    e.get("dense_rank"),
                    e.get("lexical_rank"),
                    part.sentences.get(row),
                )
            )
            if len(hits) == k:
                break
        return hits

    def in_documents(
        self,
        vector: list[float],
        doc_ids: set[str],
        k: int,
        filters: Filters = Filters(),
        snapshot: Snapshot | None = None,
    ) -> list[Hit]:
        """The k passages of these documents (that the filters allow) nearest the question: a
        follow-up's, in the document the last answer quoted, however far down the whole corpus's
        ranking they are."""
        snap = snapshot or self._current()
        q = np.asarray(vector, np.float32)
        found = []
        for n, (part, allowed) in enumerate(zip(snap.parts, snap.allowed(*filters.fields))):
            mask = allowed & part.version.mask(lambda v: v[0] in doc_ids)
            if mask.any():
                found += [(n, row, score) for row, score in part.nearest(q, k, mask)]
        return [
            Hit(part.chunk(row), score, score, 0.0, sentences=part.sentences.get(row))
            for n, row, score in sorted(found, key=lambda h: -h[2])[:k]
            if (part := snap.parts[n]) is not None
        ]

    def records(
        self,
        question: str,
        vector: list[float],
        filters: Filters = Filters(),
        snapshot: Snapshot | None = None,
        within: Sequence[str] = (),
    ) -> list[Hit]:
        """Every dataset record about what the question names ("Tiburon", "Idaho"), best first.

        A question about an agency or a town that a dataset covers ("What surveillance does the
        Tiburon police have?") is answered by all of that place's rows, not the one or two that
        retrieval keeps per document. `within`: the datasets retrieval found for the question
        ("Eugene's list of agencies it shares Flock data with"); their rows are the records when
        a question word picks some of them out ("Idaho" -> the rows of state ID), so another
        dataset's rows about the same place (the Atlas's Idaho agencies) do not answer instead.
        Otherwise the place is the question's rarest words over all datasets (few rows hold them;
        a state is also looked for by its postal code, as datasets write it), and the records are
        the rows that hold all of those the best row holds."""
        if filters.doc_types and "dataset" not in filters.doc_types:
            return []
        snap = snapshot or self._current()
        codes = [code for code, name in STATES.items() if name.lower() in question.lower()]
        query = stems([question + "".join(f" {code}" for code in codes)])[0]
        named = stems([" ".join([*names_in(question), *codes])])[0]  # places, agencies, states
        masks = snap.allowed(filters.jurisdictions, ("dataset",))
        group = (
            self._picked_out(snap, query, named, stems([" ".join(codes)])[0], masks, within) if within else []
        )
        if not group:
            found = [
                (n, row, score)
                for n, (part, mask) in enumerate(zip(snap.parts, masks))
                if mask.any()
                for row, score in part.search(query, RECORD_CANDIDATES, mask)
            ]
            rare = {w for w in set(query) if self._rows_with(snap, w) <= RARE_ROWS}
            holds = {(n, row): rare & set(snap.parts[n].tokens[row]) for n, row, _ in found}
            best = max(found, key=lambda h: (len(holds[h[0], h[1]]), h[2]), default=None)
            key = holds[best[0], best[1]] if best else set()
            if not key:
                return []
            group = sorted((h for h in found if holds[h[0], h[1]] >= key), key=lambda h: -h[2])[:RECORDS]
        group = _exact(snap, group, question)
        q = np.asarray(vector, np.float32)
        return [
            Hit(part.chunk(row), score, float(part.matrix[row] @ q), score, sentences=part.sentences.get(row))
            for n, row, score in group
            if (part := snap.parts[n]) is not None
        ]

    @staticmethod
    def _picked_out(
        snap: Snapshot,
        query: list[str],
        named: list[str],
        codes: list[str],
        masks: list[np.ndarray],
        within: Sequence[str],
    ) -> list[tuple[int, int, float]]:
        """The rows of the first of the `within` datasets (retrieval's order) in which a question
        word picks some out: the word held by fewest of its rows, and by at most half ("Eugene",
        in all of Eugene's rows, picks nothing out); the postal code of a state the question
        names first, as datasets write it (DeFlock's three RI rows, where "Rhode" is in one row's
        text only), then a word of a name it gives ("Minnesota" -> MN) before any other
        ("dropped"); never a word of the dataset's own name
        (Eugene's sharing list has a row for Eugene, but "Which private businesses share with
        Eugene?" asks for its private businesses). Best first."""
        for doc_id in within:
            own = set(stems([doc_id.replace("-", " ")])[0])
            asked = [w for w in dict.fromkeys(query) if w not in QUESTION_STEMS and w not in own]
            found, size = [], 0
            for n, (part, mask) in enumerate(zip(snap.parts, masks)):
                mask = mask & part.version.mask(lambda v, d=doc_id: v[0] == d)
                size += int(mask.sum())
                if mask.any():
                    found += [(n, row, score) for row, score in part.search(query, RECORD_CANDIDATES, mask)]
            held = {w: [h for h in found if w in snap.parts[h[0]].tokens[h[1]]] for w in asked}
            picking = {w: rows for w, rows in held.items() if 0 < len(rows) <= size / 2}
            if picking:
                words = (
                    [w for w in picking if w in codes] or [w for w in picking if w in named] or list(picking)
                )
                return sorted(min((picking[w] for w in words), key=len), key=lambda h: -h[2])[:RECORDS]
        return []

    @staticmethod
    def _rows_with(snap: Snapshot, word: str) -> int:
        """How many indexed chunks hold a word (its BM25 posting list's length)."""
        total = 0
        for part in snap.parts:
            ids = part.bm25.get_tokens_ids([word])
            if ids:
                indptr = part.bm25.scores["indptr"]
                total += int(indptr[ids[0] + 1] - indptr[ids[0]])
        return total


def _exact(
    snap: Snapshot, group: list[tuple[int, int, float]], question: str
) -> list[tuple[int, int, float]]:
    """The records one of whose fields is exactly a place the question names (or its agency's
    town), when some are: "St. Paul" is the rows of St. Paul ("City: St. Paul."), not those of
    South St. Paul, which hold its words too; "South St. Paul Police Department" is South St. Paul's."""
    names = [n.lower() for n in names_in(question) if not n.isupper()]
    fields = {f": {m}." for n in names for m in (n, AGENCY.sub("", n)) if m}
    exact = [h for h in group if any(f in snap.parts[h[0]].chunk(h[1]).text.lower() for f in fields)]
    return exact or group


STATE_CODES = {name.lower(): code.lower() for code, name in STATES.items()}
AGENCY = re.compile(r"\s+(police( department)?|pd|sheriff'?s?( office| department)?|so)$")


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
