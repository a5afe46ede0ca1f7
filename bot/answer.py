"""Passages -> an `Answer`: grounded in quoted sentences, or an honest refusal.

An answer has exactly two outcomes. Either it is *grounded*: every sentence is copied verbatim
from a retrieved passage and carries the citation [n] of that passage, so every fact can be
checked character for character; or it is a *refusal*: the documents do not support an answer, the
bot says so, suggests a next step and cites nothing. There is no code path that emits answer text
without accepted passages, which is why the default needs no LLM and cannot invent anything.

Sentences are chosen by meaning (cosine similarity of each candidate sentence to the question;
the vectors are computed at ingest, see `bot.core.encoder`) plus the question's rare words they
contain, so the sentence that answers is picked rather than the first of a passage.
Near-duplicates are dropped. When a retrieved sentence disputes or denies (a police chief
answering an advocacy report), the strongest such sentence is included next to the claim, so
both sides are shown, each attributed.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from itertools import islice
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.answerability import GENERIC, UNIT_FEATURES, VENDOR, Models, asked_types, load_models, supplies
from bot.core.text import stems
from bot.core.units import answer_units, display, kind_of
from bot.filters import STATES
from bot.question import STOPWORDS, asked_fields, names_a_field, names_in
from bot.retrieve import Hit
from bot.source_kinds import source_kind, source_label

# The ranker's scores are probabilities, so how far below the best unit another may be and still
# be quoted is a share of the best one's: the fitted `Models.floor` for the units of a plain
# answer, REACH for what `select` can use at all (the other side of a dispute).
REACH = 0.3
SENTENCE_HITS = 16  # only the best passages are split into candidate sentences
PER_PASSAGE = 3  # sentences quoted from one passage at most
MIN_CHARS, MAX_CHARS = 25, 600
MIN_FACT_CHARS = 8  # "Cameras: 13"
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
CONTESTED = re.compile(  # a question that asks whether a claim holds, or what each side says
    r"\b(true|really|actually|claims?|claimed|lie|lied|lying|accus\w*|den(y|ies|ied)|disputes?|"
    r"respond\w*|react\w*|for and against|both sides|legal|worth|back up|profiling)\b",
    re.I,
)
LISTS = re.compile(  # a question whose answer is a set of records
    r"\b(which|what (kinds?|types?|sorts?) of|list|any|all|where|what \w+ (technolog\w*|agencies|cities|"
    r"towns|departments|companies))\b",
    re.I,
)
SECOND_ASK = re.compile(r"(?:,\s*|;\s*|\s)and\s+(?=(?:how|what|who|when|where|which|whom)\b)", re.I)
MAX_RECORDS, PER_RECORD = 12, 2  # records listed, units quoted from a long one (its two best fields)
RECORD_CHARS = 320  # a record up to this long is quoted whole
# a record's leading id ("AOSNUMBER: AOS2895. ", "id: warren-ri-2025-12. "), not shown in a listing
CODE_FIELD = re.compile(r"(?i)(?:\w+ )?(?:id|\w*number|no|code): (?=\S*\d)[^\s.]+\. (?=\S)")
CONTEXT = ("title", "jurisdiction", "section", "doc_id")  # what says whose a unit is, besides its text
RECORD_KEY = re.compile(r"^[a-z][a-z_]{0,30}: (?=[A-Z])")  # a dataset's lower-case field name ("info: ")
CLOSERS = "\"'”’)]"  # may follow a sentence's final stop
PRONOUN_START = re.compile(r"^(he|she|they|it|this|that|these|those|his|her|their)\b", re.I)
ARTICLE = frozenset("the a an this that these those its his her their".split())
CONTINUATION_GAP = 0.1  # a sentence that carries on from a good one scores at most this much less
WORD = re.compile(r"[a-z0-9][a-z0-9'.-]*[a-z0-9]|[a-z0-9]", re.I)
SUFFIX = re.compile(r"(ing|ed|es|s)$")
TOKEN, LETTERS = re.compile(r"\w+"), re.compile(r"[A-Za-z]{2,}")
STATE_NAMES = frozenset(name.lower() for name in STATES.values())
TYPED = {  # asked kinds of answer only a number, a date or a person's name gives, as a refusal names them
    "amount": "the amount", "duration": "the length of time", "count": "the number", "date": "the date",
    "person": "the name of the person", "company": "the company", "outcome": "the outcome",
}  # fmt: skip
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
    kind: str  # what kind of source it is (`bot.source_kinds`): official, audit, news, explainer...


STATUSES = {  # an answer's outcome, and how every interface says it in words
    "answered": "Answered from the documents",
    "partial": "Partly answered: the documents cover only part of the question",
    "refused_no_evidence": "Not answered: the documents don't say",
    "refused_unknown_place": "Not answered: the documents don't mention that place",
    "refused_off_topic": "Not answered: outside what these documents cover",
}
MARK = re.compile(r"\[(\d+)\]")
YEAR = re.compile(r"\b(?:19|20)\d\d\b")  # "in 2020": a count for 2018 does not answer it


@dataclass(frozen=True)
class Side:
    """One side of a disagreement: who says it, what kind of source that is, and its citations."""

    label: str
    kind: str
    citations: tuple[int, ...]
    text: str


@dataclass(frozen=True)
class Answer:
    """The one answer object every interface shows: text with [n] markers, or a refusal.

    Its invariants are checked where it is made, so no interface can show an unsourced answer:
    an answer that is not refused cites at least one source and every [n] in its text names one of
    its citations; a refusal cites nothing."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    mode: str = "grounded"
    trace: tuple[dict[str, Any], ...] = field(default=(), compare=False)
    status: str = ""
    sides: tuple[Side, ...] = ()
    unanswered: str = ""  # for a partial answer: the part of the question the documents don't answer

    def __post_init__(self) -> None:
        status = self.status or ("refused_no_evidence" if self.refused else "answered")
        object.__setattr__(self, "status", status)
        if status not in STATUSES or self.refused != status.startswith("refused"):
            raise ValueError(f"answer status {status!r} does not match refused={self.refused}")
        numbers = {c.n for c in self.citations}
        if self.refused and (self.citations or self.sides):
            raise ValueError("a refusal cites nothing")
        if not self.refused and (not numbers or any(int(n) not in numbers for n in MARK.findall(self.text))):
            raise ValueError("an answer must cite its sources, and every [n] must be one of them")
        if any(n not in numbers for side in self.sides for n in side.citations):
            raise ValueError("a side cites a source the answer does not")

    @property
    def status_text(self) -> str:
        return STATUSES[self.status]

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) for c in self.citations]
        data["sides"] = [asdict(s) for s in self.sides]
        data["status_text"] = self.status_text
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
    similarity: float = field(default=0.0, compare=False)  # cosine to the question

    def scored(self, score: float, similarity: float | None = None) -> Sentence:
        sim = self.similarity if similarity is None else similarity
        return Sentence(self.hit_index, self.start, self.end, self.text, self.vector, score, self.words, sim)


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def content_words(text: str) -> set[str]:
    # ASCII text lowered once: the same words as `words` (`WORD` ignores case)
    found = WORD.findall(text.lower()) if text.isascii() else words(text)
    return {w for w in found if w not in STOPWORDS and len(w) > 1}


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return SUFFIX.sub("", word) if len(word) > 4 else word


STATE_CODE = re.compile(r"(?<=[:,] )([A-Z]{2})\b(?=[.,;]|$)")  # "state: CT.", "Eugene, OR,"


def said_with_context(hits: list[Hit], units: list[Sentence]) -> str:
    """The units' text with what says whose they are (their documents' title, place, section and
    file name), lowercased."""
    meta = [hits[u.hit_index].chunk.metadata for u in units]
    said = [u.text for u in units] + [str(m.get(k, "")) for m in meta for k in CONTEXT]
    # a state as datasets write it names it ("state: CT." is Connecticut's row)
    states = [STATES[code] for u in units for code in STATE_CODE.findall(u.text) if code in STATES]
    return " ".join(said + states).replace("-", " ").lower()


def place_words(question: str) -> set[str]:
    """The words of the places and agencies a question names ("Buena Park PD" -> buena, park),
    without the words every agency's name has."""
    return {w for n in names_in(question) if not n.isupper() for w in words(n)} - GENERIC


def named_share(name: str, said: set[str]) -> float:
    """How much of a name the words `said` hold: its own words, not the ones every agency's name
    has ("Orange County Sheriff's Department" is named by "Orange County Sheriff's Office")."""
    own = set(words(re.sub(r"['’]s\b", "", name))) - GENERIC
    return len(own & said) / len(own) if own else 1.0


def _bigrams(text: str) -> set[tuple[str, str]]:
    """Pairs of neighbouring content words, stemmed ("reasonable suspicion", "hot list")."""
    found = [_stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]
    return set(zip(found, found[1:]))


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


def _is_answerable(unit: str) -> bool:
    """A unit that states something: a whole sentence (not a heading, a title, a link list, or a
    fragment that a page break or a chunk boundary cut out of a longer sentence), or a label with
    its value, a "Label: value" line or a list item that carries words or a number. (Tried on some
    30 units per question, so the cheap tests come first.)"""
    kind = kind_of(unit)
    if kind != "sentence":
        return _is_fact(_clean(unit), kind)
    text = RECORD_KEY.sub("", _clean(unit), count=1)  # "info: Eugene PD terminated ...": its sentence
    if not MIN_CHARS <= len(text) <= MAX_CHARS or text[0].islower() or not _complete(text):
        return False
    if text.startswith(("#", "- [", "See ")) or text.count("|") > 2 or _navigation(text):
        return False
    if text.count(": ") > 2 and ". " in text:  # a whole record ("City: X. State: Y. ..."), not a sentence
        return False
    return sum(1 for _ in islice(LETTERS.finditer(text), 4)) == 4


def _is_fact(text: str, kind: str) -> bool:
    """A non-sentence unit worth quoting: its value has a number or a few words, and it is not
    navigation. A list item must be long enough to say something on its own."""
    if not MIN_FACT_CHARS <= len(text) <= MAX_CHARS + 100 or _navigation(text):
        return False
    value = text.split(":", 1)[1] if kind in ("pair", "field") and ":" in text else text
    if kind == "item":
        return len(text) >= MIN_CHARS and sum(1 for _ in islice(LETTERS.finditer(value), 4)) >= 4
    return any(c.isdigit() for c in value) or sum(1 for _ in islice(LETTERS.finditer(value), 2)) == 2


def _bare_field(text: str) -> bool:
    """A record's field that only names a value ("Agency: Tiburon Police Department.", "Link 1
    Source: MuckRock."): it says something only beside the rest of its record, so it is quoted in
    a listing of records, never as an answer of its own."""
    label, sep, value = text.partition(": ")
    return bool(sep) and len(label.split()) <= 4 and len(value.split()) <= 6


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
    """The best-first units down to `REACH` of the first one's score: all that `select` can use."""
    kept: list[Sentence] = []
    for s in ranked:
        if kept and s.score < kept[0].score * REACH:
            break
        kept.append(s)
    return kept


@dataclass
class GroundedAnswerer:
    """Composes a short cited answer from retrieved passages, or refuses."""

    embeddings: Embeddings
    threshold: float | None = None  # probability below which to refuse; None = the fitted cut-off
    models: Models = field(default_factory=load_models, repr=False)
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

    def _sentences(self, hits: list[Hit], first: int = 0) -> list[Sentence]:
        """Answerable units of the best passages (and of every passage from `first` on: the
        dataset records), with their vectors (stored, else embedded)."""
        found, todo = [], []
        for i, hit in enumerate(hits):
            if SENTENCE_HITS <= i < first:
                continue
            spans, vectors = hit.sentences or (answer_units(hit.chunk.text), None)
            record = hit.chunk.metadata.get("doc_type") == "dataset"
            for j, (start, end) in enumerate(spans):
                text = hit.chunk.text[start:end]
                if _is_answerable(text) and not (record and _bare_field(text)):
                    vector = None if vectors is None else vectors[j]
                    found.append(Sentence(i, start, end, text, vector, words=frozenset(content_words(text))))
                    if vectors is None:
                        todo.append(len(found) - 1)
        if todo:
            for index, vector in zip(todo, self._embed([_clean(found[t].text) for t in todo])):
                found[index] = replace(found[index], vector=vector)
        return found

    def unit_features(
        self, question: str, hits: list[Hit], found: list[Sentence], sims: np.ndarray
    ) -> np.ndarray:
        """`bot.answerability.UNIT_FEATURES` of every candidate unit, one row each."""
        q_words = {_stem(w) for w in content_words(question)}
        wanted = [shape for _, shape in asked_types(question)]
        bags = [{_stem(w) for w in s.words} for s in found]
        # a question word that most candidates share ("Norwalk" in every Norwalk passage) says
        # little; a rare one ("mayor") points at the unit that answers: weight by local IDF
        idf = {w: math.log(1 + len(found) / (1 + sum(w in b for b in bags))) for w in q_words}
        q_weight = sum(idf.values()) or 1.0
        rare = set(sorted(q_words, key=lambda w: (-idf[w], w))[:2])
        place = place_words(question)
        contexts = [
            set(words(" ".join(str(h.chunk.metadata.get(k, "")) for k in CONTEXT).replace("-", " ")))
            for h in hits
        ]
        lexicals = [sum(idf[w] for w in q_words & b) / q_weight for b in bags]
        best_sim, best_lexical = float(max(sims)), max(lexicals)
        pairs = _bigrams(question)
        rows = []
        for s, sim, s_words, lexical in zip(found, sims, bags, lexicals):
            hit, lower = hits[s.hit_index], s.text.lower()
            rows.append((
                float(sim),
                lexical,
                len(rare & s_words) / len(rare) if rare else 0.0,
                hit.dense,
                1 / (1 + s.hit_index),
                len(place & (own := set(words(lower)))) / len(place) if place else 1.0,
                len(place & (own | contexts[s.hit_index])) / len(place) if place else 1.0,
                sum(supplies(shape, s.text, question) for shape in wanted) / len(wanted) if wanted else 1.0,
                float(bool(PRONOUN_START.match(s.text))),
                float(kind_of(s.text) != "sentence"),
                float(hit.chunk.metadata.get("doc_type") == "dataset"),
                float(any(c.isdigit() for c in s.text)),
                min(len(s.text) / 300, 2.0),
                float(sim) - best_sim,
                lexical - best_lexical,
                len(pairs & _bigrams(s.text)) / len(pairs) if pairs else 0.0,
            ))  # fmt: skip
        return np.array(rows, dtype=np.float64).reshape(len(found), len(UNIT_FEATURES))

    def candidates(
        self, question: str, hits: list[Hit], q_vec: np.ndarray | None = None, first_record: int | None = None
    ) -> list[Sentence]:
        """Every quotable unit of the best passages (and of the records, from `first_record` on),
        scored by the fitted ranker (the probability that it states what the question asks)."""
        found = self._sentences(hits, len(hits) if first_record is None else first_record)
        if not found:
            return []
        if q_vec is None:
            q_vec = np.asarray(self.embeddings.embed_query(question), dtype=np.float32)
        sims = np.stack([s.vector for s in found]) @ q_vec
        scores = self.models.ranker.probabilities(self.unit_features(question, hits, found, sims))
        scored = [s.scored(float(p), float(sim)) for s, p, sim in zip(found, scores, sims)]
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
        # much of their (late-chunked) vectors, without repeating each other; a listed record
        # whole has no vector of its own (`listed`)
        others = [c.vector for c in chosen if c.hit_index != s.hit_index and c.vector.size]
        return bool(others) and s.vector.size > 0 and bool((np.stack(others) @ s.vector).max() > SAME_MEANING)

    def select(self, question: str, ranked: list[Sentence], kinds: Sequence[str] = ()) -> list[Sentence]:
        """Best units, no near-duplicates, a few per passage, both sides if disputed. `kinds`: the
        kind of source of each passage (`bot.source_kinds`)."""
        if not ranked:
            return []
        floor, most = ranked[0].score * self.models.floor, self.models.max_units
        chosen: list[Sentence] = []
        per_hit: dict[int, int] = {}
        for s in ranked:
            if s.score < floor or len(chosen) >= most:
                break
            if per_hit.get(s.hit_index, 0) >= PER_PASSAGE or self._duplicate(s, chosen):
                continue
            chosen.append(s)
            per_hit[s.hit_index] = per_hit.get(s.hit_index, 0) + 1
        if len(chosen) < 2:  # a short answer still deserves a second supporting sentence
            for s in ranked[1:]:
                if s.score >= floor and s not in chosen and not self._duplicate(s, chosen):
                    chosen.append(s)
                    break
        # a state that qualifies a town ("Fairfield, Connecticut") need not be in a denial of it
        named = [n.lower() for n in names_in(question) if not n.isupper()]
        names = [n for n in named if n not in STATE_NAMES] or named

        def disputes(text: str) -> bool:
            return bool(CONTRAST.search(text)) and all(n in text.lower() for n in names)

        def make_room() -> None:
            """Drop the last unit that neither disputes nor is its kind of source's only one."""
            if len(chosen) < most:
                return
            if kinds:
                count = Counter(kinds[c.hit_index] for c in chosen)
                spare = [c for c in chosen if count[kinds[c.hit_index]] > 1 and not disputes(c.text)]
            else:
                spare = [c for c in chosen if not disputes(c.text)]
            chosen.remove(spare[-1] if spare else chosen[-1])

        if chosen and not any(disputes(c.text) for c in chosen):
            disputed = [
                s for s in ranked
                if s.score >= ranked[0].score * REACH and disputes(s.text) and s not in chosen
                and not self._duplicate(s, chosen)
            ]  # fmt: skip
            if disputed:
                make_room()
                chosen.append(disputed[0])
        if kinds and chosen and contested(question, ranked):
            have = {kinds[c.hit_index] for c in chosen}
            other = [
                s for s in ranked
                if kinds[s.hit_index] not in have and s.score >= ranked[0].score * REACH
                and not self._duplicate(s, chosen)
            ]  # fmt: skip
            if other:  # the other kind of source's best word on it: a denial of what was asked first
                make_room()
                denials = [o for o in other if disputes(o.text)] or [
                    o for o in other if CONTRAST.search(o.text)
                ]
                chosen.append((denials or other)[0])
        return chosen

    @staticmethod
    def _gives_typed(
        question: str, hits: list[Hit], unit: Sentence, asked: list[tuple[str, re.Pattern[str]]]
    ) -> bool:
        """Whether the unit gives the number or name asked for (an amount, a duration, a count, a
        date, a person's name), for the year the question names, if any (its document's title and
        section count). A year named in a question asking "when" is where to look from ("before the
        2017 ordinance"), not the answer's."""
        said = said_by(question, hits, unit)
        if not all(supplies(shape, said, question) for _, shape in asked):
            return False
        if any(kind == "company" for kind, _ in asked) and not _of_the_places(question, hits, unit):
            return False  # Stamford's camera vendor is no answer to "Which brand does Fairfield use?"
        if any(kind == "date" for kind, _ in asked):
            return True
        context = said_with_context(hits, [unit])
        return all(year in context for year in YEAR.findall(question))

    @staticmethod
    def _names_place(question: str, hits: list[Hit], chosen: list[Sentence]) -> bool:
        """Whether the chosen units (or their documents' names) name the place asked about."""
        return place_words(question) <= set(words(said_with_context(hits, chosen)))

    def features(
        self, question: str, hits: list[Hit], ranked: list[Sentence], chosen: list[Sentence]
    ) -> dict:
        """What `bot.answerability` judges: how much of *this* question the chosen units answer."""
        q_words = {_stem(w) for w in content_words(question)}
        bags = [{_stem(w) for w in s.words} for s in ranked]
        idf = {w: math.log(1 + len(bags) / (1 + sum(w in b for b in bags))) for w in q_words}
        said = set().union(*({_stem(w) for w in c.words} for c in chosen)) if chosen else set()
        names = [n for n in names_in(question) if not n.isupper()]
        name_words = {_stem(w) for n in names for w in content_words(n)}

        def covered(wanted: set[str]) -> float:
            total = sum(idf[w] for w in wanted)
            return sum(idf[w] for w in wanted & said) / total if total else 1.0

        rare = set(sorted(q_words, key=lambda w: (-idf[w], w))[:2])
        context = said_with_context(hits, chosen)
        context_words = set(words(context))
        asked = asked_types(question)
        says = [said_by(question, hits, c) for c in chosen]
        attribute = q_words - name_words
        years = set(YEAR.findall(question))

        def focus(c: Sentence, said: str, with_words: bool) -> float:
            """One unit that names the place, supplies the asked type and (optionally) the
            asked attribute's words: an answer rather than a related sentence."""
            where = set(words(said_with_context(hits, [c])))
            named = sum(named_share(n, where) for n in names) / len(names) if names else 1.0
            typed = float(all(supplies(t, said, question) for _, t in asked))
            total = sum(idf[w] for w in attribute)
            own = {_stem(w) for w in c.words}
            attributed = sum(idf[w] for w in attribute & own) / total if total and with_words else 1.0
            return named * typed * attributed

        return {
            "focus": max((focus(c, said, True) for c, said in zip(chosen, says)), default=0.0),
            "typed_focus": max((focus(c, said, False) for c, said in zip(chosen, says)), default=0.0),
            "unit_probability": max((c.score for c in chosen), default=0.0),
            "unit_similarity": max((c.similarity for c in chosen), default=0.0),
            "passage_similarity": self.support(hits),
            "coverage": covered(q_words),
            "rare_coverage": covered(rare),
            "attribute_coverage": covered(q_words - name_words),
            "type_missing": float(any(not any(supplies(t, s, question) for s in says) for _, t in asked)),
            "names_missing": 1 - sum(named_share(n, context_words) for n in names) / len(names)
            if names
            else 0.0,
            "years_missing": sum(y not in context for y in years) / len(years) if years else 0.0,
            "sources": float(min(3, len({hits[c.hit_index].chunk.metadata.get("doc_id") for c in chosen}))),
        }

    def answer(
        self,
        question: str,
        hits: list[Hit],
        explain: bool = False,
        q_vec: np.ndarray | None = None,
        records: Sequence[Hit] = (),
    ) -> Answer:
        """`records`: every dataset row about what the question names (`HybridIndex.records`);
        they compete with the passages unit by unit, and when one wins a question that asks for a
        set ("Which ...", "What kind of ..."), all of them are listed."""
        known = {h.chunk.id for h in hits}
        first_record = len(hits)
        hits = [*hits, *(r for r in records if r.chunk.id not in known)]
        support = self.support(hits[:first_record])
        trace = tuple(
            {"chunk_id": h.chunk.id, "fused": round(h.score, 5), "similarity": round(h.dense, 4),
             "lexical": round(h.lexical, 3)}
            for h in hits
        ) if explain else ()  # fmt: skip
        if support < self.models.off_topic:  # nothing in the documents is even about this
            return Answer(question, REFUSAL, True, trace=trace, status="refused_off_topic")
        ranked = self.candidates(question, hits, q_vec, first_record)
        if ranked and SOURCES_SILENT.search(ranked[0].text):  # the documents say they don't know
            return Answer(question, REFUSAL, True, trace=trace)
        usable = _within_reach(s for s in ranked if not SOURCES_SILENT.search(s.text))
        chosen = self.select(question, usable, [source_kind(h.chunk.metadata) for h in hits])
        rows = {i for i, h in enumerate(hits) if h.chunk.id in {r.chunk.id for r in records}}
        listing = {hits[i].chunk.metadata.get("doc_id") for i in rows}
        if (
            rows
            and LISTS.search(question)
            and (
                any(c.hit_index in rows for c in chosen)
                or not self._names_place(question, hits, chosen)
                or hits[0].chunk.metadata.get("doc_id") in listing  # retrieval's best source is that dataset
                or any(names_a_field(question, hits[i].chunk.text) for i in rows)  # "where": "locations: ..."
            )
        ):
            chosen = listed(question, hits, ranked, chosen, rows)
        else:
            rows = set()  # not a listing: no record's fields are added
        if not chosen:
            return Answer(question, REFUSAL, True, trace=trace)
        answered, missing = parts_answered(question, chosen)
        asked = [(kind, shape) for kind, shape in asked_types(answered) if kind in TYPED]
        if asked and not any(self._gives_typed(answered, hits, c, asked) for c in chosen):
            # "How much did X spend?" quoted with what X does is a guess, however close in meaning
            # (so is "Which deputy ...?" quoted without a name): lead with a unit that gives it, or
            # say the documents don't give it
            typed = next((s for s in usable if self._gives_typed(answered, hits, s, asked)), None)
            if typed is None:
                text = f"The documents I have don't give {TYPED[asked[0][0]]} you asked about. {REFUSAL}"
                return Answer(question, text, True, trace=trace)
            chosen = [typed, *(c for c in chosen if c != typed and not self._duplicate(c, [typed]))]
            chosen = chosen[: self.models.max_units]
        features = self.features(answered, hits, ranked, chosen)
        probability = self.models.answerable.probability(features)
        cutoff = self.models.cutoff if self.threshold is None else self.threshold
        if explain:
            trace += ({"answerability": {k: round(v, 4) for k, v in features.items()},
                       "probability": round(probability, 4), "cutoff": cutoff},)  # fmt: skip
        if probability < cutoff:
            return Answer(question, REFUSAL, True, trace=trace)
        rows |= {c.hit_index for c in chosen if hits[c.hit_index].chunk.metadata.get("doc_type") == "dataset"}
        answer = compose(question, hits, with_asked_fields(question, hits, chosen, rows), trace)
        if not missing:
            return answer
        text = f"{answer.text} The documents I have don't answer this part: {missing.rstrip('?. ')}?"
        return replace(answer, text=text, status="partial", unanswered=missing)


def parts_answered(question: str, chosen: list[Sentence]) -> tuple[str, str]:
    """(the part of the question to judge, the part no chosen unit answers). For a question of
    two asks ("How long is it kept, and who can see it?") where the chosen units answer one and
    not the other, the answered one and the other; else (the question, ''). An ask is judged by
    the kind of answer it wants (a duration, an amount, a count, a date, a name)."""
    parts = [p.strip(" ,;?") for p in SECOND_ASK.split(question) if p and p.strip(" ,;?")]
    if len(parts) != 2:
        return question, ""
    answered = []
    for part in parts:
        asked = asked_types(part)
        if not asked:
            return question, ""  # an ask without a kind of answer cannot be judged unanswered
        answered.append(all(any(supplies(t, c.text, question) for c in chosen) for _, t in asked))
    if answered.count(True) != 1:
        return question, ""
    return parts[answered.index(True)] + "?", parts[answered.index(False)]


def listed(
    question: str, hits: list[Hit], ranked: list[Sentence], chosen: list[Sentence], rows: set[int]
) -> list[Sentence]:
    """The answer as a list of records (passages `rows`, in the order retrieval found them): each
    whole when it is short, else its two best units; then what else was chosen from documents
    that names the place asked about (other rows of a dataset do not)."""
    best: dict[int, list[Sentence]] = {}
    for s in ranked:
        if s.hit_index in rows and len(kept := best.setdefault(s.hit_index, [])) < PER_RECORD:
            kept.append(s)
    listing: list[Sentence] = []
    for i in sorted(rows)[:MAX_RECORDS]:
        text, units = hits[i].chunk.text, best.get(i, [])
        if len(text) <= RECORD_CHARS or not units:
            vector = units[0].vector if units else np.zeros(0, np.float32)
            score = max((u.score for u in units), default=0.0)
            start = code.end() if (code := CODE_FIELD.match(text)) else 0  # "id: warren-ri-2025-12. "
            shown = text[start:]
            listing.append(
                Sentence(
                    i, start, len(text), shown, vector, score, frozenset(content_words(shown)), hits[i].dense
                )
            )
        else:
            listing += units
    place = place_words(question)
    documents = [
        c for c in chosen
        if hits[c.hit_index].chunk.metadata.get("doc_type") != "dataset"
        and place <= set(words(said_with_context(hits, [c])))
    ]  # fmt: skip
    return [*listing, *documents]


def with_asked_fields(
    question: str, hits: list[Hit], listing: list[Sentence], rows: set[int]
) -> list[Sentence]:
    """A listing as it is shown: after the units of a long record, its fields whose label the
    question names ("Technology: Drones." for "what technologies ..."), the row's answer that
    its best units (a summary) may not give. Shown only: whether to answer is judged on the units."""
    shown: list[Sentence] = []
    for n, unit in enumerate(listing):
        shown.append(unit)
        i = unit.hit_index
        if i not in rows or (n + 1 < len(listing) and listing[n + 1].hit_index == i):
            continue  # not a record, or its last unit is yet to come
        hit = hits[i]
        vectors = hit.sentences[1] if hit.sentences else None
        for j, (start, end) in _fields_asked(question, hit):
            text = hit.chunk.text[start:end]
            vector = vectors[j] if vectors is not None else np.zeros(0, np.float32)
            if not any(u.hit_index == i and u.start <= start and end <= u.end for u in [*listing, *shown]):
                words_of = frozenset(content_words(text))
                shown.append(Sentence(i, start, end, text, vector, 0.0, words_of, hit.dense))
    return shown


def _of_the_places(question: str, hits: list[Hit], unit: Sentence) -> bool:
    """Whether a unit, with its document's title and name, names each place the question names
    (by one of its own words: not a state's, which the town stands for, nor a vendor's)."""
    where = set(words(said_with_context(hits, [unit])))
    for name in names_in(question):
        own = set(words(re.sub(r"['’]s\b", "", name))) - GENERIC - STATE_NAMES
        own = {w for w in own if len(w) > 2 and not VENDOR.fullmatch(w)}
        if own and not own & where:
            return False
    return True


def said_by(question: str, hits: list[Hit], unit: Sentence) -> str:
    """What a unit says: a record's unit also says what its fields the question names say
    ("Who makes ...?" is answered by a row's summary with its "Vendor: PIPS")."""
    hit = hits[unit.hit_index]
    return " ".join([unit.text, *(hit.chunk.text[a:b] for _, (a, b) in _fields_asked(question, hit))])


def _fields_asked(question: str, hit: Hit) -> list[tuple[int, tuple[int, int]]]:
    """A record's fields whose label the question names, as (unit index, span); none for prose."""
    if hit.chunk.metadata.get("doc_type") != "dataset":
        return []
    asked = asked_fields(question)
    spans = hit.sentences[0] if hit.sentences else answer_units(hit.chunk.text)
    return [
        (j, (start, end))
        for j, (start, end) in enumerate(spans)
        if _bare_field(text := hit.chunk.text[start:end]) and asked & set(stems([text.partition(": ")[0]])[0])
    ]


def contested(question: str, ranked: Sequence[Sentence]) -> bool:
    """Whether both sides are wanted: the question asks if a claim holds, or one of the best
    units disputes another."""
    return bool(CONTESTED.search(question)) or any(CONTRAST.search(s.text) for s in ranked[:3])


def sides_of(hits: list[Hit], chosen: list[Sentence], numbers: dict[int, int]) -> tuple[Side, ...]:
    """The chosen units grouped by kind of source, when there are two kinds or more and one of
    them disputes: each side with who says it and its citations."""
    kinds = {s.hit_index: source_kind(hits[s.hit_index].chunk.metadata) for s in chosen}
    if len(set(kinds.values())) < 2 or not any(CONTRAST.search(s.text) for s in chosen):
        return ()
    sides = []
    for kind in dict.fromkeys(kinds[s.hit_index] for s in chosen):
        units = [s for s in chosen if kinds[s.hit_index] == kind]
        cited = tuple(dict.fromkeys(numbers[s.hit_index] for s in units))
        label = source_label(hits[units[0].hit_index].chunk.metadata)
        sides.append(Side(label, kind, cited, " ".join(display(s.text) for s in units)))
    return tuple(sides)


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
        kind=source_kind(meta),
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
        parts.append(f"{display(s.text)} [{n}]")
    citations = []
    for hit_index, n in numbers.items():
        used = spans[hit_index]
        text = hits[hit_index].chunk.text
        start, end = min(s.start for s in used), max(s.end for s in used)
        quote = text[start:end] if end - start <= 1200 else used[0].text
        citations.append(citation_for(n, hits[hit_index], quote))
    sides = sides_of(hits, chosen, numbers)
    return Answer(question, " ".join(parts), False, tuple(citations), trace=trace, sides=sides)
