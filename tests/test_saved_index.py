"""The search index is saved beside the store, so a new process starts from it instead of
re-reading every chunk, and it never answers from a saved index that the store has moved past."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bot.core.settings import Settings
from bot.core.store import Store
from bot.filters import Filters
from bot.index_parts import STALE_SECONDS
from bot.retrieve import HybridIndex
from ingest.pipeline import delete_document, ingest_document

QUESTION = "Which towns keep plate data and for how long?"


def doc(doc_id: str, body: str, jurisdiction: str = "Springfield, IL") -> bytes:
    return f"---\ntitle: {doc_id}\ndoc_id: {doc_id}\njurisdiction: {jurisdiction}\n---\n{body}\n".encode()


ELMIRA = doc("elmira", "Elmira police keep plate data for a year.", "Elmira, CT")


def towns(make_store) -> Store:
    store = make_store()
    for n, town in enumerate(("Ashford", "Bexley", "Corwin", "Dunmore")):
        body = f"{town} police keep license plate reader data for {30 * (n + 1)} days. " * 3
        ingest_document(store, f"{town}.md", doc(town.lower(), body, f"{town}, CT"))
    return store


def reopened(store: Store) -> Store:
    """The same store opened again, as a new process would (the model is reused: it is slow to load)."""
    return Store(store.settings, embeddings=store.embeddings)


def results(index: HybridIndex, filters: Filters = Filters()) -> list[tuple[str, float, float]]:
    return [(h.chunk.id, round(h.dense, 5), round(h.lexical, 5)) for h in index.search(QUESTION, 6, filters)]


def saved_folder(store: Store) -> Path:
    return store.settings.data_dir / "index" / store.settings.collection


def test_a_new_process_answers_from_the_saved_index(make_store):
    store = towns(make_store)
    first = HybridIndex(store)
    expected = results(first)
    filtered = results(first, Filters(jurisdictions=("Bexley, CT",)))
    saved = json.loads((saved_folder(store) / "snapshot.json").read_text())
    assert saved["fingerprint"] == store.fingerprint() and len(saved["parts"]) == 1

    again = HybridIndex(reopened(store))
    snap = again.snapshot()
    assert [p.key for p in snap.parts] == saved["parts"] and all(p.mapped for p in snap.parts)
    assert results(again) == expected
    assert results(again, Filters(jurisdictions=("Bexley, CT",))) == filtered
    hit = again.search(QUESTION, 1)[0]
    assert hit.sentences is not None and len(hit.sentences[0]) == len(hit.sentences[1]) == 3
    assert hit.chunk.text in {c.text for c in store.iter_chunks()}


def test_a_document_deleted_after_the_index_was_saved_is_never_cited(make_store):
    store = towns(make_store)
    HybridIndex(store).snapshot()  # built and saved
    delete_document(store, "bexley")
    ingest_document(store, "Elmira.md", ELMIRA)

    again = HybridIndex(reopened(store))
    found = {h.chunk.metadata["doc_id"] for h in again.search(QUESTION, 10)}
    assert "bexley" not in found and "elmira" in found
    assert again.search("Bexley license plate reader data", 10, Filters(jurisdictions=("Bexley, CT",))) == []


def test_a_damaged_saved_index_is_rebuilt_from_the_store(make_store):
    store = towns(make_store)
    expected = results(HybridIndex(store))
    folder = saved_folder(store)
    (part,) = json.loads((folder / "snapshot.json").read_text())["parts"]
    (folder / "parts" / part / "matrix.npy").write_bytes(b"not an array")

    again = HybridIndex(reopened(store))
    assert results(again) == expected
    (fresh,) = json.loads((folder / "snapshot.json").read_text())["parts"]
    assert fresh != part  # saved anew


def test_the_saved_index_of_a_reset_store_is_ignored(make_store):
    store = towns(make_store)
    HybridIndex(store).snapshot()
    for name in (store._chunks.name, store._registry.name, store._sentences.name):
        store._client.delete_collection(name)
    store = Store(Settings(data_dir=store.settings.data_dir), embeddings=store.embeddings)
    ingest_document(store, "Elmira.md", ELMIRA)

    found = {h.chunk.metadata["doc_id"] for h in HybridIndex(store).search(QUESTION, 10)}
    assert found == {"elmira"}


def test_answers_go_on_when_the_index_cannot_be_saved(make_store):
    store = make_store()
    (store.settings.data_dir / "index").write_text("a file where the index folder would go")
    ingest_document(store, "a.md", doc("a", "Ashford police keep license plate reader data for 30 days."))
    assert [h.chunk.metadata["doc_id"] for h in HybridIndex(store).search(QUESTION, 3)] == ["a"]


def test_parts_no_snapshot_names_are_removed_once_stale(make_store):
    store = towns(make_store)
    index = HybridIndex(store)
    index.snapshot()
    folder = saved_folder(store) / "parts"
    (old,) = os.listdir(folder)
    delete_document(store, "ashford")  # a small store is re-indexed whole: a new part
    index.snapshot()
    assert old in os.listdir(folder)  # another process may still be about to name it
    stale = time.time() - STALE_SECONDS - 10
    os.utime(folder / old, (stale, stale))
    delete_document(store, "bexley")
    index.snapshot()
    assert old not in os.listdir(folder) and len(os.listdir(folder)) == 2
