"""Hybrid search over the starter corpus: paraphrases find the right explainer, filters hold."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml
from conftest import CORPUS, run_cli

from bot.filters import Filters
from bot.retrieve import HybridIndex
from ingest.loaders import FRONT_MATTER


def corpus_front_matter() -> dict[str, dict]:
    found = {}
    for path in sorted(CORPUS.glob("*.md")):
        meta = yaml.safe_load(FRONT_MATTER.match(path.read_text(encoding="utf-8")).group(1))
        found[meta["doc_id"]] = meta
    return found


FRONT = corpus_front_matter()
ABOUT_ICE = {doc_id for doc_id, meta in FRONT.items() if "ice" in meta["topics"]}


@pytest.fixture(scope="module")
def index(corpus_store):
    return HybridIndex(corpus_store)


def doc_ids(hits) -> list[str]:
    return [h.chunk.metadata["doc_id"] for h in hits]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Are flying cameras used by cops?", {"drones"}),
        ("Can the city identify me from my face on camera?", {"face-recognition"}),
        ("Who watches the watchers? Can residents vote on new spy gear?", {"ccops-ordinances"}),
        ("Can immigration agents see where my car has been?", ABOUT_ICE),
    ],
)
def test_question_without_shared_keywords_finds_the_right_explainer(index, question, expected):
    top3 = index.search(question, 3)

    assert expected & set(doc_ids(top3)), doc_ids(top3)


def test_immigration_question_is_answered_by_a_passage_about_ice(index):
    hits = index.search("Can immigration agents see where my car has been?", 3)

    assert ABOUT_ICE >= set(doc_ids(hits[:1])), doc_ids(hits)
    assert any("ICE" in h.chunk.text for h in hits), [h.chunk.text[:80] for h in hits]


@pytest.mark.parametrize("jurisdiction", ["Connecticut", "Norwalk, CT", "Seattle, WA"])
def test_jurisdiction_filter_returns_only_that_jurisdiction(index, jurisdiction):
    hits = index.search("Who can see license plate reader data?", 6, Filters(jurisdictions=(jurisdiction,)))

    assert hits
    assert {h.chunk.metadata["jurisdiction"] for h in hits} == {jurisdiction}
    expected_docs = {d for d, meta in FRONT.items() if meta["jurisdiction"] == jurisdiction}
    assert set(doc_ids(hits)) <= expected_docs


def test_doc_type_filter_returns_only_that_type(index):
    hits = index.search("How do I ask for records?", 6, Filters(doc_types=("faq",)))

    assert hits and {h.chunk.metadata["doc_type"] for h in hits} == {"faq"}


@pytest.mark.parametrize(
    "question",
    [
        "How long do police keep plate data?",
        "What did the ACLU of Connecticut find about ICE?",
        "What does Minnesota law say about license plate readers?",
    ],
)
def test_no_document_holds_more_than_two_of_the_top_six(index, question):
    hits = index.search(question, 6)

    assert len(hits) == 6
    assert max(Counter(doc_ids(hits)).values()) <= 2, doc_ids(hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_cli_search_json_has_the_documented_schema(corpus_store):
    question = "Are flying cameras used by cops?"

    done = run_cli(corpus_store.settings.data_dir, "search", question, "-k", "4", "--json")

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"query", "results"}
    assert out["query"] == question
    assert [r["rank"] for r in out["results"]] == [1, 2, 3, 4]
    keys = {"rank", "score", "similarity", "chunk_id", "doc_id", "title", "source_url", "page", "section"}
    for r in out["results"]:
        assert set(r) == keys | {"text"}
        assert isinstance(r["score"], float) and isinstance(r["similarity"], float)
        assert r["chunk_id"].startswith(r["doc_id"] + "#")
        assert r["title"] == FRONT[r["doc_id"]]["title"]
        assert r["page"] is None  # Markdown has no pages
        assert r["text"].strip()
    assert "drones" in [r["doc_id"] for r in out["results"]]


def test_cli_search_town_option_filters_by_jurisdiction(corpus_store):
    done = run_cli(
        corpus_store.settings.data_dir,
        "search",
        "Does the city share data?",
        "--town",
        "Norwalk, CT",
        "--json",
    )

    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert results and {r["doc_id"] for r in results} == {"norwalk-faq"}


def test_dense_search_is_exact_below_the_hnsw_size(index, corpus_store, monkeypatch):
    # the same ranking in every process: rb-012/rb-021 of tests/eval/realdocs.jsonl ranked
    # differently from rank 13 on under two PYTHONHASHSEEDs while Chroma's HNSW answered
    import numpy as np

    def approximate(*args: object) -> None:
        raise AssertionError("Chroma's HNSW index was asked")

    monkeypatch.setattr(index.store, "nearest_ids", approximate)
    snap = index.snapshot()
    vector = corpus_store.embeddings.embed_query("Who can see the drone footage?")
    found = index._dense_hits(snap, vector, Filters())
    part = snap.parts[0] if len(snap.parts) == 1 else None
    assert part is not None
    scores = part.matrix @ np.asarray(vector, np.float32)
    scores[~snap.allowed((), ())[0]] = -np.inf
    best = np.argsort(-scores, kind="stable")[: len(found)]
    assert [row for _, row, _ in found] == best.tolist()
