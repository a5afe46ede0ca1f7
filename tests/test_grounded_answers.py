"""The default answerer (no LLM) on the real corpus: every sentence is quoted and cited, or it refuses."""

from __future__ import annotations

import json
import re

import pytest
from conftest import CORPUS, ingest_one, run_cli

from bot.answer import Answer
from bot.chain import AnswerChain, Ask
from bot.core.settings import Settings
from bot.core.store import Store
from bot.question import standalone
from ingest.pipeline import delete_document, ingest_document

MARKED_SENTENCE = re.compile(r"(.+?)((?:\s*\[\d+\])+)(?=\s|$)", re.S)
MARKER = re.compile(r"\[(\d+)\]")
ANSWERABLE = [
    "Does Norwalk share plate data with ICE?",
    "How long does Minnesota let police keep plate data?",
    "What did Westport's police chief say about the ACLU report?",
    "When did Somerville ban face surveillance?",
    "How many searches a month did ICE run on the Vigilant plate database?",
    "What is the name of California's law on license plate readers?",
    "Do Seattle police have to tell people when their body camera is recording?",
]
UNANSWERABLE = ["Who won the 2024 World Series?", "What is the weather in Hartford tomorrow?"]
HISTORY = (
    {"role": "user", "content": "Does Norwalk share plate data with ICE?"},
    {"role": "assistant", "content": "Norwalk officials denied having any agreement with ICE. [1]"},
)
QUILLFIELD_DOC = b"""---
doc_id: quillfield-drones
title: "Quillfield police drone program"
publisher: Quillfield Gazette
published: 2025-03-02
jurisdiction: "Quillfield, CT"
doc_type: news
---

# Quillfield police drone program

The Quillfield Police Department began flying two camera drones in 2024 to help officers at crash \
scenes and in searches for missing people. Quillfield police said the drones are launched only for \
search-and-rescue calls and serious crashes, never for routine patrol. Drone video recorded in \
Quillfield is kept for 45 days unless it becomes evidence in a criminal case.
"""


def normalise(text: str) -> str:
    return " ".join(text.split())


def marked_sentences(answer: Answer) -> list[tuple[str, list[int]]]:
    """(sentence without markers, its marker numbers) for every sentence of an answer."""
    return [
        (m.group(1).strip(), [int(n) for n in MARKER.findall(m.group(2))])
        for m in MARKED_SENTENCE.finditer(answer.text)
    ]


@pytest.fixture(scope="module")
def chain(corpus_store: Store) -> AnswerChain:
    return AnswerChain(Settings(data_dir=corpus_store.settings.data_dir, llm=""), corpus_store)


@pytest.mark.parametrize("question", ANSWERABLE)
def test_every_answer_sentence_is_quoted_verbatim_from_the_passage_it_cites(
    chain: AnswerChain, corpus_store: Store, question: str
):
    answer = chain.invoke(question)

    assert answer.mode == "grounded"
    assert not answer.refused, answer.text
    assert answer.citations
    by_number = {c.n: c for c in answer.citations}
    assert sorted(by_number) == list(range(1, len(answer.citations) + 1))
    assert {int(n) for n in MARKER.findall(answer.text)} == set(by_number)

    sentences = marked_sentences(answer)
    assert sentences
    rebuilt = " ".join(f"{s} " + " ".join(f"[{n}]" for n in ns) for s, ns in sentences)
    assert normalise(rebuilt) == normalise(answer.text), "answer text has words outside cited sentences"
    for sentence, numbers in sentences:
        for n in numbers:
            chunk = normalise(corpus_store.chunk_text(by_number[n].chunk_id))
            assert normalise(sentence) in chunk, f"[{n}] does not contain: {sentence}"
    for citation in answer.citations:
        assert citation.quote and citation.quote in corpus_store.chunk_text(citation.chunk_id)
        assert citation.doc_id and citation.title


def test_same_question_twice_gives_the_identical_answer(chain: AnswerChain):
    first = chain.invoke("How long does Minnesota let police keep plate data?")
    second = chain.invoke("How long does Minnesota let police keep plate data?")

    assert first.text == second.text
    assert first.citations == second.citations


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_question_the_documents_do_not_answer_is_refused_with_a_public_records_suggestion(
    chain: AnswerChain, question: str
):
    answer = chain.invoke(question)

    assert answer.refused
    assert answer.citations == ()
    assert not MARKER.search(answer.text)
    assert "public-records" in answer.text.lower()


def test_a_place_the_documents_never_mention_is_refused_every_time_it_is_asked(chain: AnswerChain):
    # asking must not teach the index a word: the second ask once answered from unrelated passages
    for _ in range(2):
        answer = chain.invoke("Does Springfield, Illinois use Flock cameras?")
        assert answer.refused and not answer.citations
        assert "Springfield" in answer.text


def test_disputed_claim_shows_both_the_aclu_claim_and_the_norwalk_denial(chain: AnswerChain):
    answer = chain.invoke("Does Norwalk share plate data with ICE?")

    assert not answer.refused
    documents = {c.doc_id for c in answer.citations}
    text = answer.text.lower()
    both_sides = "aclu" in text and re.search(r"\b(denied|misleading|not true|no agreement)\b", text)
    assert len(documents) >= 2 or both_sides, answer.text


def test_follow_up_without_llm_carries_the_earlier_question_to_the_new_place(chain: AnswerChain):
    rewritten = standalone("What about Westport?", HISTORY)
    assert rewritten == "Does Westport share plate data with ICE?"

    answer = chain.invoke(Ask("What about Westport?", HISTORY))

    assert answer.question == rewritten
    assert not answer.refused
    assert "Westport" in answer.text


def test_deleted_document_is_never_cited_again_and_its_town_becomes_unknown(make_store):
    store = make_store()
    for name in ("drones.md", "alpr-basics.md"):
        assert ingest_one(store, CORPUS / name).status == "added"
    assert ingest_document(store, "quillfield.md", QUILLFIELD_DOC).status == "added"
    chain = AnswerChain(Settings(data_dir=store.settings.data_dir, llm=""), store)
    question = "Does Quillfield use police drones?"

    before = chain.invoke(question)
    assert not before.refused, before.text
    assert "quillfield-drones" in {c.doc_id for c in before.citations}

    assert delete_document(store, "quillfield-drones")
    after = chain.invoke(question)

    assert "quillfield-drones" not in {c.doc_id for c in after.citations}
    assert after.refused
    assert "Quillfield" in after.text
    assert AnswerChain(Settings(data_dir=store.settings.data_dir, llm=""), store).invoke(question).refused


CITATION_KEYS = {
    "n", "doc_id", "chunk_id", "title", "source_url", "publisher", "published", "doc_type",
    "jurisdiction", "page", "section", "quote", "score", "kind",
}  # fmt: skip


def test_cli_ask_json_prints_the_answer_schema(corpus_store: Store):
    question = "How long does Minnesota let police keep plate data?"
    done = run_cli(corpus_store.settings.data_dir, "ask", question, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)

    assert set(data) == {
        "question", "text", "refused", "status", "status_text", "citations", "sides", "unanswered", "mode",
    }  # fmt: skip
    assert data["question"] == question
    assert data["refused"] is False and data["mode"] == "grounded"
    assert isinstance(data["text"], str) and data["citations"]
    for citation in data["citations"]:
        assert set(citation) == CITATION_KEYS
        assert isinstance(citation["n"], int) and isinstance(citation["score"], float)
        assert citation["page"] is None or isinstance(citation["page"], int)
        assert all(isinstance(citation[k], str) for k in CITATION_KEYS - {"n", "page", "score"})
        assert citation["quote"] in corpus_store.chunk_text(citation["chunk_id"])


def test_cli_ask_json_refusal_has_no_citations(corpus_store: Store):
    done = run_cli(corpus_store.settings.data_dir, "ask", "Who won the 2024 World Series?", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)

    assert set(data) == {
        "question", "text", "refused", "status", "status_text", "citations", "sides", "unanswered", "mode",
    }  # fmt: skip
    assert data["refused"] is True and data["citations"] == []
