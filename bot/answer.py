"""Passages -> an `Answer`: grounded in quoted sentences, or an honest refusal.

An answer has exactly two outcomes. Either it is *grounded*: every sentence is copied verbatim
from a retrieved passage and carries the citation [n] of that passage, so every fact can be
checked character for character; or it is a *refusal*: the documents do not support an answer, the
bot says so, suggests a next step and cites nothing. There is no code path that emits answer text
without accepted passages, which is why the default needs no LLM and cannot invent anything.

Sentences are chosen by meaning (cosine similarity of each candidate sentence to the question;
the vectors are computed at ingest, see `bot.encoder`) plus the question's rare words they
contain, so the sentence that answers is picked rather than the first of a passage.
Near-duplicates are dropped. When a retrieved sentence disputes or denies (a police chief
answering an advocacy report), the strongest such sentence is included next to the claim, so
both sides are shown, each attributed.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from itertools import islice
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.question import names_in
from bot.retrieve import Hit
from bot.sentences import sentence_spans

MAX_SENTENCES = 5
# Sentence score weights: meaning (cosine to the question), the question's words, the passage's
# own similarity, names the question mentions, the expected kind of answer; tuned on the starter set.
W_MEANING, W_WORDS, W_PASSAGE, W_NAMES, W_TYPE, W_PRONOUN = 0.55, 0.3, 0.15, 0.15, 0.12, 0.05
FLOOR_GAP = 0.2
REACH = 0.3  # `select` never quotes a sentence scoring further than this below the best one
SENTENCE_HITS = 8  # only the best passages are split into candidate sentences
PER_PASSAGE = 3  # sentences quoted from one passage at most
MIN_CHARS, MAX_CHARS = 25, 600
DUPLICATE_OVERLAP = 0.6
SAME_MEANING = 0.9
CONTRAST = re.compile(
    r"\b(not true|denied|denies|deny|disputed?|misleading|pushed? back|rejected|contrary|"
    r"do(?:es)? not|did not|never|refrain|however|but)\b",
    re.I,
)
NAVIGATION = re.compile(
    r"\b(see|read) (the )?(plainsight )?[\"'“]?\w*\s*(page|section|explainer)\b|^For (more|each)\b|https?://",
    re.I,
)
SOURCES_SILENT = re.compile(
    r"\b(sources?|documents?|records?)\b.{0,60}\b(do|does|did) not (say|describe|state|give|"
    r"include|cover|show|answer|mention|name|identify)\b",
    re.I,
)
ANSWER_TYPES = (  # what kind of sentence answers a question of each kind
    (re.compile(r"^\s*who\b", re.I), re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b")),
    (re.compile(r"\bhow (long|often|soon)\b", re.I),
     re.compile(r"\b(\d+|one|two|three|five|six|ten)[- ](days?|weeks?|months?|years?|hours?)\b", re.I)),
    (re.compile(r"\bhow (many|much)\b|\bwhat (share|percent|number)\b", re.I), re.compile(r"\d")),
    (re.compile(r"^\s*when\b|\bwhat year\b", re.I),
     re.compile(r"\b(19|20)\d\d\b|\b(January|February|March|April|May|June|July|August|September|"
                r"October|November|December)\b")),
    (re.compile(r"^\s*(which|what) (\w+ ){0,3}(departments|agencies|cities|towns|counties|states|"
                r"companies|vendors|places)\b", re.I),
     re.compile(r"(\b[A-Z][\w.'-]*(?: [A-Z][\w.'-]*)*, ){2,}")),  # a list of names
    (re.compile(r"\b(say|said|respond|responded|response|react)\b", re.I),
     re.compile(r"\b(said|says|told|stated|statement|responded|added)\b|[\"“]", re.I)),
)  # fmt: skip
CLOSERS = "\"'”’)]"  # may follow a sentence's final stop
PRONOUN_START = re.compile(r"^(he|she|they|it|this|that|these|those|his|her|their)\b", re.I)
ARTICLE = frozenset("the a an this that these those its his her their".split())
CONTINUATION_GAP = 0.1  # a sentence that carries on from a good one scores at most this much less
WORD = re.compile(r"[a-z0-9][a-z0-9'.-]*[a-z0-9]|[a-z0-9]", re.I)
SUFFIX = re.compile(r"(ing|ed|es|s)$")
TOKEN, LETTERS = re.compile(r"\w+"), re.compile(r"[A-Za-z]{2,}")
STOPWORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have how i if in is "
    "it its me my of on or our so than that the their them then there these they this to was we "
    "were what when where which who why will with would you your about any anyone much many long "
    "keep kept use used using get tell know".split()
)
REFUSAL = (
    "The documents I have don't answer that. Try rephrasing your question, or ask the agency "
    "directly: a public-records (FOIA) request to the police department or city clerk is the way "
    "to get its policies, contracts and data-sharing records."
)


@dataclass(frozen=True)
class Citation:
    """A numbered source behind an answer; `quote` is a verbatim substring of the stored chunk."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    source_url: str
    publisher: str
    published: str
    doc_type: str
    jurisdiction: str
    page: int | None
    section: str
    quote: str
    score: float


@dataclass(frozen=True)
class Answer:
    """The one answer object every interface shows: text with [n] markers, or a refusal."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    mode: str = "grounded"
    trace: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) for c in self.citations]
        if not explain:
            data.pop("trace")
        return data


@dataclass(frozen=True)
class Sentence:
    hit_index: int
    start: int
    end: int
    text: str
    vector: np.ndarray = field(compare=False, repr=False)
    score: float = 0.0
    words: frozenset[str] = field(default=frozenset(), compare=False, repr=False)  # content words

    def scored(self, score: float) -> Sentence:
        return Sentence(self.hit_index, self.start, self.end, self.text, self.vector, score, self.words)


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def content_words(text: str) -> set[str]:
    # ASCII text lowered once: the same words as `words` (`WORD` ignores case)
    found = WORD.findall(text.lower()) if text.isascii() else words(text)
    return {w for w in found if w not in STOPWORDS and len(w) > 1}


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return SUFFIX.sub("", word) if len(word) > 4 else word


def continues(before: Sentence | None, after: Sentence) -> bool:
    """Whether `after` carries on from the sentence just before it in the same passage ("McGuire
    obtained his records." -> "McGuire said the records showed ..."): same subject, or a pronoun."""
    if before is None or before.hit_index != after.hit_index or after.start - before.end > 3:
        return False
    if PRONOUN_START.match(after.text):
        return True
    head = [w for m in islice(WORD.finditer(after.text), 3) if (w := m.group()).lower() not in ARTICLE][:1]
    named = bool(head) and head[0][0].isupper() and head[0].lower() not in STOPWORDS
    return named and head[0] in TOKEN.findall(before.text)


def _clean(sentence: str) -> str:
    """Whitespace runs as one space, trimmed (`str.split` knows the same whitespace as `\\s`)."""
    return " ".join(sentence.split())


def _is_answerable(sentence: str) -> bool:
    """A whole sentence that states something: not a heading, a title, a link list, or a fragment
    that a page break or a chunk boundary cut out of a longer sentence. (Tried on some 30
    sentences per question, so the cheap tests come first.)"""
    text = _clean(sentence)
    if not MIN_CHARS <= len(text) <= MAX_CHARS or text[0].islower() or not _complete(text):
        return False
    if text.startswith(("#", "- [", "See ")) or text.count("|") > 2 or _navigation(text):
        return False
    return sum(1 for _ in islice(LETTERS.finditer(text), 4)) == 4


def _complete(text: str) -> bool:
    """Ends like a sentence (titles and cut-off text do not), or a long one leads into a list."""
    body = text.rstrip(CLOSERS)
    return (bool(body) and body[-1] in ".!?") or (len(text) > 80 and text[-1] == ":")


def _navigation(text: str) -> bool:
    """`NAVIGATION.search(text)`, tried only where its literal words occur (ASCII text: under
    `re.I`, a few other letters match ASCII ones, e.g. "ſ" matches "s")."""
    if text.isascii():
        lower = text.lower()
        if not lower.startswith("for ") and not any(word in lower for word in ("see ", "read ", "http")):
            return False
    return bool(NAVIGATION.search(text))


def _within_reach(ranked: Iterable[Sentence]) -> list[Sentence]:
    """The best-first sentences down to `REACH` below the first: all that `select` can use."""
    kept: list[Sentence] = []
    for s in ranked:
        if kept and s.score < kept[0].score - REACH:
            break
        kept.append(s)
    return kept


@dataclass
class GroundedAnswerer:
    """Composes a short cited answer from retrieved passages, or refuses."""

    embeddings: Embeddings
    threshold: float = 0.42
    max_sentences: int = MAX_SENTENCES
    _vectors: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of sentences that were stored without any (a remote embeddings server), cached."""
        with self._lock:  # the API answers from several threads; the cache evicts
            todo = [t for t in dict.fromkeys(texts) if t not in self._vectors]
            fresh = dict(zip(todo, self.embeddings.embed_documents(todo))) if todo else {}
            vectors = [
                np.asarray(fresh[t], dtype=np.float32) if t in fresh else self._vectors[t] for t in texts
            ]
            self._vectors.update((t, v) for t, v in zip(texts, vectors))
            while len(self._vectors) > 20000:  # bounded cache of sentence vectors
                self._vectors.pop(next(iter(self._vectors)))
        return np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)

    def support(self, hits: list[Hit]) -> float:
        """How well the best passage matches the question (cosine similarity)."""
        return max((h.dense for h in hits), default=0.0)

    def _sentences(self, hits: list[Hit]) -> list[Sentence]:
        """Answerable sentences of the best passages, with their vectors (stored, else embedded)."""
        found, todo = [], []
        for i, hit in enumerate(hits[:SENTENCE_HITS]):
            spans, vectors = hit.sentences or (sentence_spans(hit.chunk.text), None)
            for j, (start, end) in enumerate(spans):
                text = hit.chunk.text[start:end]
                if _is_answerable(text):
                    vector = None if vectors is None else vectors[j]
                    found.append(Sentence(i, start, end, text, vector, words=frozenset(content_words(text))))
                    if vectors is None:
                        todo.append(len(found) - 1)
        if todo:
            for index, vector in zip(todo, self._embed([_clean(found[t].text) for t in todo])):
                found[index] = replace(found[index], vector=vector)
        return found

    def candidates(self, question: str, hits: list[Hit], q_vec: np.ndarray | None = None) -> list[Sentence]:
        q_words = {_stem(w) for w in content_words(question)}
        names = [n.lower() for n in names_in(question) if not n.isupper()]
        wanted = [shape for cue, shape in ANSWER_TYPES if cue.search(question)]
        found = self._sentences(hits)
        if not found:
            return []
        if q_vec is None:
            q_vec = np.asarray(self.embeddings.embed_query(question), dtype=np.float32)
        sims = np.stack([s.vector for s in found]) @ q_vec
        bags = [{_stem(w) for w in s.words} for s in found]
        # a question word that most candidates share ("Norwalk" in every Norwalk passage) says
        # little; a rare one ("mayor") points at the sentence that answers: weight by local IDF
        idf = {w: math.log(1 + len(found) / (1 + sum(w in b for b in bags))) for w in q_words}
        q_weight = sum(idf.values()) or 1.0
        scored = []
        for s, sim, s_words in zip(found, sims, bags):
            lexical = sum(idf[w] for w in q_words & s_words) / q_weight
            score = W_MEANING * float(sim) + W_WORDS * lexical + W_PASSAGE * hits[s.hit_index].dense
            if PRONOUN_START.match(s.text):
                score -= W_PRONOUN
            if names:
                lower = s.text.lower()
                score += W_NAMES * sum(n in lower for n in names) / len(names)
            if wanted:
                score += W_TYPE * sum(bool(shape.search(s.text)) for shape in wanted) / len(wanted)
            scored.append(s.scored(score))
        scored = [
            t.scored(max(t.score, p.score - CONTINUATION_GAP)) if continues(p, t) else t
            for p, t in zip([None, *scored], scored)
        ]
        return sorted(scored, key=lambda s: (-s.score, s.hit_index, s.start))

    def _duplicate(self, s: Sentence, chosen: list[Sentence]) -> bool:
        """Mostly words already said, or the same meaning in other words."""
        if not chosen:
            return False
        if any(len(s.words & c.words) > DUPLICATE_OVERLAP * len(s.words) for c in chosen):
            return True
        # by meaning only across passages: sentences of one passage share its context, and so
        # much of their (late-chunked) vectors, without repeating each other
        others = [c.vector for c in chosen if c.hit_index != s.hit_index]
        return bool(others) and bool((np.stack(others) @ s.vector).max() > SAME_MEANING)

    def select(self, question: str, ranked: list[Sentence]) -> list[Sentence]:
        """Best sentences, no near-duplicates, a few per passage, both sides if disputed."""
        if not ranked:
            return []
        floor = max(ranked[0].score - FLOOR_GAP, 0.3)
        chosen: list[Sentence] = []
        per_hit: dict[int, int] = {}
        for s in ranked:
            if s.score < floor or len(chosen) >= self.max_sentences:
                break
            if per_hit.get(s.hit_index, 0) >= PER_PASSAGE or self._duplicate(s, chosen):
                continue
            chosen.append(s)
            per_hit[s.hit_index] = per_hit.get(s.hit_index, 0) + 1
        if len(chosen) < 2:  # a short answer still deserves a second supporting sentence
            for s in ranked[1:]:
                if s.score >= ranked[0].score - 0.2 and s not in chosen and not self._duplicate(s, chosen):
                    chosen.append(s)
                    break
        names = [n.lower() for n in names_in(question) if not n.isupper()]

        def disputes(text: str) -> bool:
            return bool(CONTRAST.search(text)) and all(n in text.lower() for n in names)

        if chosen and not any(disputes(c.text) for c in chosen):
            disputed = [
                s for s in ranked
                if s.score >= ranked[0].score - REACH and disputes(s.text) and s not in chosen
                and not self._duplicate(s, chosen)
            ]  # fmt: skip
            if disputed:
                if len(chosen) >= self.max_sentences:
                    chosen.pop()
                chosen.append(disputed[0])
        return chosen

    def answer(
        self, question: str, hits: list[Hit], explain: bool = False, q_vec: np.ndarray | None = None
    ) -> Answer:
        support = self.support(hits)
        trace = tuple(
            {"chunk_id": h.chunk.id, "fused": round(h.score, 5), "similarity": round(h.dense, 4),
             "lexical": round(h.lexical, 3)}
            for h in hits
        ) if explain else ()  # fmt: skip
        if support < self.threshold:
            return Answer(question, REFUSAL, True, trace=trace)
        ranked = self.candidates(question, hits, q_vec)
        if ranked and SOURCES_SILENT.search(ranked[0].text):  # the documents say they don't know
            return Answer(question, REFUSAL, True, trace=trace)
        chosen = self.select(question, _within_reach(s for s in ranked if not SOURCES_SILENT.search(s.text)))
        if not chosen:
            return Answer(question, REFUSAL, True, trace=trace)
        return compose(question, hits, chosen, trace)


def citation_for(n: int, hit: Hit, quote: str) -> Citation:
    meta = hit.chunk.metadata
    page = meta.get("page")
    return Citation(
        n=n,
        doc_id=meta.get("doc_id", ""),
        chunk_id=hit.chunk.id,
        title=meta.get("title", ""),
        source_url=meta.get("source_url", ""),
        publisher=meta.get("publisher", ""),
        published=meta.get("published", ""),
        doc_type=meta.get("doc_type", ""),
        jurisdiction=meta.get("jurisdiction", ""),
        page=int(page) if page is not None else None,
        section=meta.get("section", ""),
        quote=quote,
        score=round(hit.dense, 4),
    )


def compose(question: str, hits: list[Hit], chosen: list[Sentence], trace: tuple = ()) -> Answer:
    """Number passages in order of first use; each sentence ends with its passage's [n].

    Sentences of one passage stay together and in their reading order, so a sentence that refers
    back ("the system also does not record ...") follows the one it refers to."""
    order: dict[int, int] = {}
    for s in chosen:
        order.setdefault(s.hit_index, len(order))
    chosen = sorted(chosen, key=lambda s: (order[s.hit_index], s.start))
    numbers: dict[int, int] = {}
    spans: dict[int, list[Sentence]] = {}
    parts = []
    for s in chosen:
        n = numbers.setdefault(s.hit_index, len(numbers) + 1)
        spans.setdefault(s.hit_index, []).append(s)
        parts.append(f"{_clean(s.text)} [{n}]")
    citations = []
    for hit_index, n in numbers.items():
        used = spans[hit_index]
        text = hits[hit_index].chunk.text
        start, end = min(s.start for s in used), max(s.end for s in used)
        quote = text[start:end] if end - start <= 1200 else used[0].text
        citations.append(citation_for(n, hits[hit_index], quote))
    return Answer(question, " ".join(parts), False, tuple(citations), trace=trace)
