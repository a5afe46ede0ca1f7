"""Re-ingesting is a no-op, a change replaces a document completely, a delete removes it for good."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import CORPUS, chunks_of, ingest_one, run_cli, snapshot

from bot.retrieve import HybridIndex
from ingest.pipeline import delete_document, ingest_paths

SMALL_CHUNKS = {"chunk_size": 200, "chunk_overlap": 20}

HARBOR = (
    "Harbor patrol sonar buoys\n\n"
    "The harbor patrol anchored eight sonar buoys at the marina entrance in 2023. The buoys listen for "
    "boat engines and send an alert to the patrol office when a vessel enters after midnight.\n"
)


def long_policy(version: str, paragraphs: int) -> str:
    body = "\n\n".join(
        f"Section {n} of the {version} policy. Plate reads collected under rule {n} are kept for "
        f"{n * 10} days, then deleted unless an investigator flags them as evidence in a case."
        for n in range(1, paragraphs + 1)
    )
    return f"Springfield plate reader policy, {version} edition\n\n{body}\n"


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.txt").write_text(long_policy("first", 12), encoding="utf-8")
    (folder / "harbor.txt").write_text(HARBOR, encoding="utf-8")
    (folder / "drones.md").write_text(
        "---\ntitle: Springfield drone program\njurisdiction: Springfield, IL\ndoc_type: report\n---\n"
        "The police department flies two drones over parades and searches for missing people.\n",
        encoding="utf-8",
    )
    return folder


def test_reingesting_unchanged_files_changes_nothing(docs, make_store):
    store = make_store(**SMALL_CHUNKS)
    first = ingest_paths(store, [docs])
    before = snapshot(store)

    second = ingest_paths(store, [docs])

    assert first.count("added") == 3
    assert [r.status for r in second.results] == ["unchanged"] * 3
    assert [r.chunks for r in second.results] == [r.chunks for r in first.results]
    assert snapshot(store) == before


def test_changed_document_replaces_all_its_chunks_with_contiguous_ids(docs, make_store):
    store = make_store(**SMALL_CHUNKS)
    ingest_paths(store, [docs])
    old = store.document("policy")
    others_before = {k: v for k, v in snapshot(store)["chunks"].items() if not k.startswith("policy#")}
    assert old.chunks >= 8

    (docs / "policy.txt").write_text(long_policy("second", 3), encoding="utf-8")  # shorter
    result = ingest_one(store, docs / "policy.txt")

    assert result.status == "updated"
    new = store.document("policy")
    assert new.content_hash != old.content_hash
    assert 0 < new.chunks < old.chunks
    chunks = chunks_of(store, "policy")
    assert [c.id for c in chunks] == [f"policy#{n}" for n in range(new.chunks)]
    assert [c.metadata["chunk"] for c in chunks] == list(range(new.chunks))
    assert all(c.metadata["content_hash"] == new.content_hash for c in chunks)
    assert not list(store.iter_chunks(where={"content_hash": old.content_hash}))
    assert not any("first" in c.text for c in chunks)
    assert result.chunks == new.chunks == len(chunks)
    others_after = {k: v for k, v in snapshot(store)["chunks"].items() if not k.startswith("policy#")}
    assert others_after == others_before
    assert store.chunk_count() == new.chunks + len(others_before)


def test_changing_only_front_matter_updates_the_document(docs, make_store):
    store = make_store(**SMALL_CHUNKS)
    ingest_paths(store, [docs])
    old = store.document("drones")
    path = docs / "drones.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Springfield drone program", "Drones over Springfield"),
        encoding="utf-8",
    )

    result = ingest_one(store, path)

    assert result.status == "updated"
    record = store.document("drones")
    assert record.title == "Drones over Springfield"
    assert record.content_hash != old.content_hash
    chunks = chunks_of(store, "drones")
    assert chunks and all(c.metadata["title"] == "Drones over Springfield" for c in chunks)
    assert all(c.metadata["content_hash"] == record.content_hash for c in chunks)


def test_deleted_document_is_never_returned_by_search_again(docs, make_store):
    store = make_store(**SMALL_CHUNKS)
    ingest_paths(store, [docs])
    index = HybridIndex(store)
    question = "Does the marina have underwater microphones listening for boats at night?"
    assert index.search(question, 3)[0].chunk.metadata["doc_id"] == "harbor"

    assert delete_document(store, "harbor") is True

    assert store.document("harbor") is None
    assert "harbor" not in [r.doc_id for r in store.documents()]
    assert not list(store.iter_chunks(where={"doc_id": "harbor"}))
    for searcher in (index, HybridIndex(store)):  # the cached lexical index notices the delete too
        for q in (question, "harbor patrol sonar buoys", "marina entrance after midnight"):
            assert all(h.chunk.metadata["doc_id"] != "harbor" for h in searcher.search(q, 10))
    assert delete_document(store, "harbor") is False


def test_same_doc_id_from_another_file_is_refused_and_nothing_is_lost(docs, make_store):
    store = make_store(**SMALL_CHUNKS)
    ingest_paths(store, [docs])
    before = snapshot(store)
    impostor = docs.parent / "other.md"
    impostor.write_text("---\ndoc_id: policy\n---\nA different policy about something else.\n", "utf-8")

    result = ingest_one(store, impostor)

    assert result.status == "failed"
    assert "policy" in result.reason and "policy.txt" in result.reason and "doc_id" in result.reason
    assert snapshot(store) == before


def test_identical_content_under_another_file_name_is_refused(docs, make_store):
    store = make_store(**SMALL_CHUNKS)
    ingest_paths(store, [docs])
    before = snapshot(store)
    copy = docs.parent / "harbor-copy.txt"
    shutil.copy(docs / "harbor.txt", copy)

    result = ingest_one(store, copy)

    assert result.status == "failed"
    assert "same content" in result.reason and "harbor" in result.reason, result.reason
    assert snapshot(store) == before


def docs_list_chunks(data_dir) -> tuple[int, int]:
    listed = run_cli(data_dir, "docs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    documents = json.loads(listed.stdout)["documents"]
    return len(documents), sum(d["chunks"] for d in documents)


def test_cli_ingesting_the_corpus_twice_reports_everything_unchanged(tmp_path):
    data_dir = tmp_path / "data"

    first = run_cli(data_dir, "ingest", str(CORPUS), "--json")
    assert first.returncode == 0, first.stderr
    first_report = json.loads(first.stdout)
    counted = docs_list_chunks(data_dir)
    second = run_cli(data_dir, "ingest", str(CORPUS), "--json")

    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert first_report["added"] == 16
    assert (report["added"], report["updated"], report["unchanged"], report["failed"]) == (0, 0, 16, 0)
    assert docs_list_chunks(data_dir) == counted
    assert counted == (16, sum(f["chunks"] for f in first_report["files"]))
    assert counted[1] == sum(f["chunks"] for f in report["files"])
