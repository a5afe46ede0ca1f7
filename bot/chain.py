"""The answering chain: question (+ history, filters) -> standalone question -> passages -> `Answer`.

It is a LangChain `Runnable`: `invoke` returns the `Answer`; `stream` yields text pieces as they
are ready and then the final `Answer`. The CLI, the Streamlit page and the HTTP API all call this
one chain, so they can never drift into answering differently. Nothing here stores or logs the
question.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from langchain_core.runnables import Runnable, RunnableConfig

from bot.answer import REFUSAL, Answer, GroundedAnswerer
from bot.answerability import Models, load_models
from bot.core.settings import Settings
from bot.core.store import Store
from bot.filters import Filters
from bot.question import is_follow_up, names_a_field, names_in, standalone, truecase
from bot.retrieve import Hit, HybridIndex


@dataclass(frozen=True)
class Ask:
    """One request: the question, earlier turns ({role, content}), filters, and whether to trace."""

    question: str
    history: tuple[dict[str, str], ...] = ()
    filters: Filters = field(default_factory=Filters)
    explain: bool = False

    @classmethod
    def of(cls, value: Ask | str | dict[str, Any]) -> Ask:
        if isinstance(value, Ask):
            return value
        if isinstance(value, str):
            return cls(value)
        filters = value.get("filters") or Filters()
        if isinstance(filters, dict):
            filters = Filters(
                tuple(filters.get("jurisdictions") or ()), tuple(filters.get("doc_types") or ())
            )
        return cls(value["question"], tuple(value.get("history") or ()), filters, value.get("explain", False))


FOLLOW_UP_PASSAGES = 4  # passages of the last answer's document a follow-up examines, at most
PER_DOC = 4  # passages of one document examined: the fact is often in its third-best passage


@dataclass(frozen=True)
class Prepared:
    """What `AnswerChain.prepare` found for one request."""

    question: str
    vector: list[float]
    hits: list[Hit]
    records: list[Hit]
    unknown: str | None


class AnswerChain(Runnable[Any, Answer]):
    """Retrieval-augmented answering over one store; grounded by default, LLM by configuration."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        chat_model: Any = None,
        models: Models | None = None,  # the fitted ones by default (`plainsight calibrate` passes unfitted)
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings)
        self.index = HybridIndex(self.store)
        self.grounded = GroundedAnswerer(
            self.store.embeddings, threshold=settings.refusal_threshold, models=models or load_models()
        )
        self.chat_model = chat_model
        if self.chat_model is None and settings.llm:
            from bot.llm import make_chat_model

            self.chat_model = make_chat_model(settings)

    def prepare(self, ask: Ask) -> Prepared:
        """The steps before answering: the standalone question, its vector (embedded once, for
        retrieval and for ranking units), the passages, the dataset records about what it names,
        and the names the documents never mention."""
        snapshot = self.index.snapshot()
        question = truecase(ask.question.strip(), snapshot.proper)
        if ask.history:
            if self.chat_model is not None:
                from bot.llm import condense

                question = condense(self.chat_model, question, ask.history)
            else:
                proper = snapshot.proper
                history = [{**t, "content": truecase(t.get("content") or "", proper)} for t in ask.history]
                question = standalone(question, history)
        unknown = [n for n in names_in(question) if len(n) > 2 and not self.index.knows(n, snapshot)]
        vector = self.store.embeddings.embed_query(question)
        hits = self.index.search(
            question, self.settings.k, ask.filters, per_doc=PER_DOC, vector=vector, snapshot=snapshot
        )
        said = next((t.get("content") for t in reversed(ask.history) if t.get("role") == "assistant"), "")
        if said and REFUSAL not in said and is_follow_up(ask.question, ask.history):
            hits = self._with_last_answers_document(said, vector, hits, ask.filters, snapshot)
        found = [h for h in hits if h.chunk.metadata.get("doc_type") == "dataset"]
        datasets = list(dict.fromkeys(h.chunk.metadata.get("doc_id", "") for h in found))
        # a dataset with a field the question asks for ("Where ...?": its "locations") comes first
        asked = {h.chunk.metadata.get("doc_id", "") for h in found if names_a_field(question, h.chunk.text)}
        datasets.sort(key=lambda d: d not in asked)
        records = self.index.records(question, vector, ask.filters, snapshot, within=datasets)
        return Prepared(question, vector, hits, records, ", ".join(unknown) if unknown else None)

    def _with_last_answers_document(
        self, said: str, vector: list[float], hits: list[Hit], filters: Filters, snapshot: Any
    ) -> list[Hit]:
        """A follow-up is most often about the document the last answer quoted ("Who signed it?"
        after an answer from a contract): its passages nearest the question join the weakest
        places of the retrieved ones."""
        quoted = self.index.search(said, 1, filters, per_doc=1, snapshot=snapshot)
        if not quoted or quoted[0].chunk.metadata.get("doc_type") == "dataset":
            return hits
        known = {h.chunk.id for h in hits}
        doc = {quoted[0].chunk.metadata.get("doc_id", "")}
        room = max(1, min(FOLLOW_UP_PASSAGES, len(hits) // 4))
        found = self.index.in_documents(vector, doc, room, filters, snapshot)
        extra = [h for h in found if h.chunk.id not in known]
        return [*hits[: max(1, len(hits) - len(extra))], *extra]

    def _refusal(self, question: str, unknown: str | None, grounded: Answer) -> Answer:
        if not unknown:
            return replace(grounded, mode="llm" if self.chat_model else "grounded")
        text = f"The documents I have don't mention {unknown}. {REFUSAL}"
        mode = "llm" if self.chat_model else "grounded"
        return Answer(question, text, True, mode=mode, trace=grounded.trace, status="refused_unknown_place")

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        final = None
        for piece in self.stream(input, config, **kwargs):
            if isinstance(piece, Answer):
                final = piece
        assert final is not None
        return final

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[str | Answer]:
        ask = Ask.of(input)
        step = self.prepare(ask)
        question, hits = step.question, step.hits
        vector = np.asarray(step.vector, np.float32)
        grounded = self.grounded.answer(question, hits, ask.explain, vector, step.records)
        if step.unknown or grounded.refused:
            refusal = self._refusal(question, step.unknown, grounded)
            yield refusal.text
            yield refusal
            return
        if self.chat_model is not None:
            from bot.llm import stream_checked

            for piece in stream_checked(self.chat_model, question, hits):
                yield piece
                if isinstance(piece, Answer):
                    return
        yield grounded.text
        yield grounded
