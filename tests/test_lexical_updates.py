"""The BM25 side follows the registry without re-reading or re-tokenising unchanged documents."""

from __future__ import annotations

from pathlib import Path

import bm25s
import pytest
import Stemmer

import bot.retrieve as retrieve
from bot.core.store import Chunk, Store
from bot.core.text import stems
from bot.filters import Filters
from bot.retrieve import HybridIndex
from ingest.pipeline import delete_document, ingest_document


def doc(doc_id: str, body: str, jurisdiction: str = "Springfield, IL") -> bytes:
    return f"---\ntitle: {doc_id}\ndoc_id: {doc_id}\njurisdiction: {jurisdiction}\n---\n{body}\n".encode()


@pytest.fixture
def small_thresholds(monkeypatch):
    """Make a two-document store count as 'large', so additions go to side indexes."""
    monkeypatch.setattr(retrieve, "FULL_REBUILD_BELOW", 1)
    monkeypatch.setattr(retrieve, "DELTA_SHARE", 10.0)


def lexical(index: HybridIndex, question: str, filters: Filters = Filters()) -> list[tuple[Chunk, float]]:
    snap = index._current()
    return [(snap.parts[n].chunk(row), s) for n, row, s in index._lexical_hits(snap, question, filters)]


def lexical_ids(index: HybridIndex, question: str, filters: Filters = Filters()) -> list[str]:
    return [c.metadata["doc_id"] for c, _ in lexical(index, question, filters)]


def dense(index: HybridIndex, vector: list[float], filters: Filters) -> list[tuple[str, float]]:
    snap = index._current()
    return [(snap.parts[n].ids[row], round(s, 4)) for n, row, s in index._dense_hits(snap, vector, filters)]


def two_documents(make_store) -> tuple[Store, HybridIndex]:
    store = make_store()
    ingest_document(store, "a.md", doc("a", "Zanzibar police bought quadcopters in 2021."))
    ingest_document(store, "b.md", doc("b", "Ruritania keeps plate data for ninety days."))
    return store, HybridIndex(store)


def test_additions_go_to_a_side_index_and_are_found_at_once(make_store, small_thresholds):
    store, index = two_documents(make_store)
    assert lexical_ids(index, "Zanzibar quadcopters") == ["a"]
    main = index._current().parts[0]

    ingest_document(store, "c.md", doc("c", "Freedonia signed a Flock contract with Vigilant."))
    assert lexical_ids(index, "Freedonia Flock contract")[0] == "c"
    parts = index._current().parts
    assert parts[0] is main and len(parts) == 2  # the main index was not rebuilt
    assert index.knows("Freedonia")


def test_a_deleted_or_replaced_document_drops_out_at_once(make_store, small_thresholds):
    store, index = two_documents(make_store)
    assert lexical_ids(index, "Ruritania ninety days") == ["b"]

    delete_document(store, "b")
    assert lexical_ids(index, "Ruritania ninety days") == []
    ingest_document(store, "a.md", doc("a", "Zanzibar police sold their quadcopters in 2024."))
    assert [c.text for c, _ in lexical(index, "Zanzibar quadcopters")] == [
        "Zanzibar police sold their quadcopters in 2024."
    ]


def test_side_indexes_are_folded_into_the_main_one_when_they_grow(make_store, monkeypatch):
    monkeypatch.setattr(retrieve, "FULL_REBUILD_BELOW", 1)
    monkeypatch.setattr(retrieve, "DELTA_SHARE", 0.5)
    store, index = two_documents(make_store)
    index._current()
    ingest_document(store, "c.md", doc("c", "Freedonia signed a Flock contract."))
    assert len(index._current().parts) == 2
    ingest_document(store, "d.md", doc("d", "Sylvania bans face recognition."))
    parts = index._current().parts
    assert len(parts) == 1 and len(parts[0].chunks) == 4
    assert lexical_ids(index, "Sylvania face recognition")[0] == "d"


def test_deleted_chunks_are_dropped_from_the_main_index_when_they_add_up(make_store, monkeypatch):
    monkeypatch.setattr(retrieve, "FULL_REBUILD_BELOW", 1)
    monkeypatch.setattr(retrieve, "DELTA_SHARE", 0.3)
    store, index = two_documents(make_store)
    for name in "cd":
        ingest_document(store, f"{name}.md", doc(name, f"Town {name} bought a drone."))
    main = index._current().parts[0]
    assert len(main) == 4
    delete_document(store, "a")  # one dead chunk of four: kept, masked out
    assert index._current().parts == (main,) and "a" not in lexical_ids(index, "Zanzibar drone")
    delete_document(store, "b")  # two of four: re-indexed without them
    (part,) = index._current().parts
    assert part is not main and sorted(part.ids) == ["c#0", "d#0"]


def test_a_jurisdiction_filter_is_applied_inside_bm25(make_store):
    store = make_store()
    for n in range(30):  # many matching passages elsewhere, one in the wanted town
        ingest_document(store, f"x{n}.md", doc(f"x{n}", f"Plate readers in town {n}.", f"Town {n}, CT"))
    ingest_document(store, "w.md", doc("w", "Plate readers in Westport.", "Westport, CT"))
    index = HybridIndex(store)
    assert lexical_ids(index, "plate readers", Filters(jurisdictions=("Westport, CT",))) == ["w"]


def test_filtered_dense_search_matches_chromas_where(make_store):
    store = make_store()
    for n in range(12):
        town = "Westport, CT" if n % 3 == 0 else f"Town {n}, CT"
        ingest_document(store, f"x{n}.md", doc(f"x{n}", f"Plate readers and drones, note {n}.", town))
    index = HybridIndex(store)
    filters = Filters(jurisdictions=("Westport, CT",))
    vector = store.embeddings.embed_query("drones over Westport")
    ours = dense(index, vector, filters)
    assert ours == chroma_where(store, vector, filters) and len(ours) == 4
    delete_document(store, "x0")
    assert dense(index, vector, filters) == chroma_where(store, vector, filters)


def chroma_where(store, vector: list[float], filters: Filters) -> list[tuple[str, float]]:
    """Chroma's own filtered search: (chunk id, cosine similarity), best first."""
    got = store._chunks.query(
        query_embeddings=[vector], n_results=40, where=filters.where(), include=["distances"]
    )
    return [(cid, round(1.0 - d, 4)) for cid, d in zip(got["ids"][0], got["distances"][0])]


def test_a_document_changed_back_to_an_earlier_version_is_found_once(make_store, small_thresholds):
    store, index = two_documents(make_store)
    first = doc("a", "Zanzibar police bought quadcopters in 2021.")
    index._current()
    ingest_document(store, "a.md", doc("a", "Zanzibar police sold their quadcopters in 2024."))
    index._current()
    ingest_document(store, "a.md", first)  # the main index still holds this version's chunks
    assert len(index._current().parts) == 3
    assert lexical_ids(index, "Zanzibar quadcopters") == ["a"]
    hits = index.search("Zanzibar quadcopters", 5)
    assert [h.chunk.text for h in hits if h.chunk.metadata["doc_id"] == "a"] == [
        "Zanzibar police bought quadcopters in 2021."
    ]


def test_tokens_are_the_ones_bm25s_makes():
    """`stems` is bm25s's tokenizer without its per-call set-up: same words, stop words, stems."""
    corpus = Path(__file__).resolve().parent.parent / "corpus"
    texts = [p.read_text() for p in sorted(corpus.glob("*.md"))]
    texts += [line for text in texts for line in text.splitlines()] + ["", "Don't — naïve café's 13.824"]
    stemmer = Stemmer.Stemmer("english")
    assert stems(texts) == bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False)
