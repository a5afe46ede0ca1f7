"""A folder is embedded several files at a time; each file still gets the result it would alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import chunks_of, snapshot

from ingest.pipeline import ingest_document, ingest_paths

TOWNS = ["Ashford", "Belmere", "Corwick", "Dunstow"]


def town_text(town: str) -> str:
    return (
        f"---\ntitle: {town} surveillance report\n---\n"
        f"{town} police use license plate readers at {len(town)} intersections. "
        f"The {town} council reviews the retention policy every year.\n"
    )


def test_a_batch_gives_every_file_its_own_result_in_order(tmp_path, make_store):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a-ashford.md").write_text(town_text("Ashford"))
    (docs / "b-belmere.md").write_text(town_text("Belmere"))
    (docs / "c-copy-of-belmere.md").write_text(town_text("Belmere"))  # same bytes, another name
    (docs / "d-corrupt.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (docs / "e-corwick.md").write_text(town_text("Corwick"))
    (docs / "f-same-id.md").write_text("---\ndoc_id: a-ashford\n---\nDunstow flies drones.\n")
    store = make_store()

    seen = []
    report = ingest_paths(store, [docs], on_file=seen.append)

    assert seen == report.results
    assert [(Path(r.path).name, r.status) for r in report.results] == [
        ("a-ashford.md", "added"),
        ("b-belmere.md", "added"),
        ("c-copy-of-belmere.md", "failed"),
        ("d-corrupt.pdf", "failed"),
        ("e-corwick.md", "added"),
        ("f-same-id.md", "failed"),
    ]
    assert "same content as 'b-belmere'" in report.results[2].reason
    assert "already used by 'a-ashford.md'" in report.results[5].reason
    assert [r.doc_id for r in store.documents()] == ["a-ashford", "b-belmere", "e-corwick"]
    for result in report.results:
        if result.status == "added":
            assert len(chunks_of(store, result.doc_id)) == result.chunks > 0
    assert ingest_paths(store, [docs]).count("unchanged") == 3


def test_a_batch_stores_exactly_what_files_one_by_one_store(tmp_path, make_store):
    docs = tmp_path / "docs"
    docs.mkdir()
    for town in TOWNS:
        (docs / f"{town.lower()}.md").write_text(town_text(town))
    batched, single = make_store("batched"), make_store("single")

    ingest_paths(batched, [docs])
    for path in sorted(docs.iterdir()):
        assert ingest_document(single, path.name, path.read_bytes()).status == "added"

    assert snapshot(batched) == snapshot(single)
    ids = sorted(c.id for c in single.iter_chunks())
    vectors = [
        np.asarray(s._chunks.get(ids=ids, include=["embeddings"])["embeddings"]) for s in (batched, single)
    ]
    assert np.allclose(*vectors, atol=1e-5)  # padding changes nothing
    assert len(batched.sentence_vectors(list(batched.iter_chunks()))) == len(TOWNS)
