"""A crash mid-ingest is harmless: readers ignore half-written documents, the next run repairs them.

The deterministic tests write exactly what an interrupted `ingest_document` leaves behind (chunks
without the registry entry that vouches for them). The last test kills a real `plainsight ingest`
process with SIGKILL and checks that the next run ends in the same state as a clean ingest.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import PLAINSIGHT, chunks_of, cli_env, run_cli, snapshot, snapshot_dir

from bot.core.store import Store, embedding_text
from bot.retrieve import HybridIndex
from ingest.loaders import load_bytes, read_sidecar
from ingest.pipeline import (
    build_chunks,
    check,
    content_hash,
    delete_document,
    embed_chunks,
    ingest_paths,
    registry_record,
    repair,
)

ALPHA_V1 = "\n\n".join(
    f"Alpha county rule {n}. Deputies keep plate reads from the county line cameras for {n} weeks, "
    f"and the sheriff reviews every search made under rule {n} each quarter."
    for n in range(1, 13)
)
ALPHA_V2 = (
    "Alpha county revised rule. The county now deletes plate reads after forty-eight hours, and the "
    "lighthouse keeper association audits the deletions every spring."
)
BETA = (
    "Beta township orchard cameras. The township mounted thermal cameras in the apple orchards to "
    "catch fruit thieves at night; footage is overwritten weekly by the orchard cooperative."
)
GAMMA = "Gamma city parking garages use gate cameras that photograph each car entering the garage."


def write_half_ingested(store: Store, path: Path) -> str:
    """Do what `ingest_document` does up to the crash point: chunks written, registry untouched."""
    doc = load_bytes(path.name, path.read_bytes(), read_sidecar(path))
    digest = content_hash(doc)
    chunks = build_chunks(doc, digest, path.name, store.settings.chunk_size, store.settings.chunk_overlap)
    vectors = store.embeddings.embed_documents(
        [embedding_text(c.metadata, c.metadata["section"], c.text) for c in chunks]
    )
    store.write_chunks(chunks, vectors)
    return digest


def assert_only_vouched_hits(store: Store, questions: list[str]) -> None:
    vouched = {r.doc_id: r.content_hash for r in store.documents()}
    for question in questions:
        for hit in HybridIndex(store).search(question, 10):
            meta = hit.chunk.metadata
            assert vouched.get(meta["doc_id"]) == meta["content_hash"], (question, hit.chunk.id)


def test_half_written_documents_are_invisible_and_the_next_run_restores_a_clean_store(tmp_path, make_store):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "alpha.txt").write_text(ALPHA_V1, encoding="utf-8")
    (docs / "gamma.txt").write_text(GAMMA, encoding="utf-8")
    store = make_store(chunk_size=200, chunk_overlap=20)
    ingest_paths(store, [docs])
    alpha_v1 = store.document("alpha")
    assert alpha_v1.chunks > 3

    # the crash: a changed alpha and a new beta got their chunks written, but were never registered
    (docs / "alpha.txt").write_text(ALPHA_V2, encoding="utf-8")
    (docs / "beta.txt").write_text(BETA, encoding="utf-8")
    alpha_v2 = write_half_ingested(store, docs / "alpha.txt")
    beta = write_half_ingested(store, docs / "beta.txt")

    assert store.document("beta") is None
    assert store.document("alpha").content_hash == alpha_v1.content_hash
    assert list(store.iter_chunks(where={"content_hash": alpha_v2}))
    assert list(store.iter_chunks(where={"content_hash": beta}))
    questions = [
        "thermal cameras in apple orchards catching fruit thieves",
        "lighthouse keeper association audits deletions",
        "plate reads deleted after forty-eight hours",
    ]
    assert_only_vouched_hits(store, questions)

    report = ingest_paths(store, [docs])

    assert report.count("failed") == 0
    clean = make_store("clean", chunk_size=200, chunk_overlap=20)
    ingest_paths(clean, [docs])
    assert snapshot(store) == snapshot(clean)
    assert store.document("alpha").content_hash == alpha_v2
    assert store.document("beta").content_hash == beta
    assert_only_vouched_hits(store, questions)


def test_document_interrupted_mid_delete_is_invisible_and_repaired(tmp_path, make_store):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "beta.txt").write_text(BETA, encoding="utf-8")
    (docs / "gamma.txt").write_text(GAMMA, encoding="utf-8")
    store = make_store()
    ingest_paths(store, [docs])

    store.unregister("beta")  # delete_document's first step; the crash comes before the chunks go

    assert chunks_of(store, "beta")
    assert all(
        h.chunk.metadata["doc_id"] != "beta"
        for h in HybridIndex(store).search("orchard cameras catching fruit thieves", 5)
    )
    left_behind = len(chunks_of(store, "beta"))
    assert repair(store) == left_behind > 0
    assert not chunks_of(store, "beta")
    assert [r.doc_id for r in store.documents()] == ["gamma"]
    assert delete_document(store, "gamma") and store.chunk_count() == 0


def test_document_vouched_for_but_never_announced_reaches_readers_after_the_next_run(tmp_path, make_store):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "gamma.txt").write_text(GAMMA, encoding="utf-8")
    store = make_store()
    ingest_paths(store, [docs])
    reader = HybridIndex(store)
    question = "orchard cameras catching fruit thieves"
    assert reader.search(question, 5)[0].chunk.metadata["doc_id"] == "gamma"

    # the crash: `commit` wrote beta's chunks and its registry entry, then died before `bump`
    (docs / "beta.txt").write_text(BETA, encoding="utf-8")
    item = check(store, str(docs / "beta.txt"), load_bytes("beta.txt", BETA.encode(), {}))
    store.write_chunks(item.chunks, *embed_chunks(store, item.chunks))
    store._registry.upsert(ids=[item.doc_id], embeddings=[[1.0]], metadatas=[registry_record(item)])
    assert store.document("beta") is not None
    assert "beta" not in {h.chunk.metadata["doc_id"] for h in reader.search(question, 5)}

    ingest_paths(store, [])  # any next run, even one with nothing to ingest

    assert reader.search(question, 5)[0].chunk.metadata["doc_id"] == "beta"
    keys, fingerprint = [p.key for p in reader.snapshot().parts], store.fingerprint()
    ingest_paths(store, [])  # announced again with nothing changed: the index is kept as it is
    assert store.fingerprint() != fingerprint
    assert reader.snapshot().fingerprint == store.fingerprint()
    assert [p.key for p in reader.snapshot().parts] == keys


WORDS = (
    "camera plate reader county sheriff deputy audit retention policy vendor contract hotlist search "
    "warrant council ordinance database network agency federal immigration records request appeal "
    "vehicle location parking garage highway bridge school harbor orchard river station district "
    "report hearing budget grant pilot program dashboard alert subpoena court judge privacy neighbor"
).split()

FILES = 40
TOWNS = [
    a + b
    for a in ("Ash", "Bel", "Cor", "Dun", "Elm", "Fen", "Gar", "Hol")
    for b in ("brook", "ford", "wick", "mere", "stow")
]


def write_generated_corpus(folder: Path, count: int) -> None:
    """`count` distinct text files of a few kilobytes each, each naming its own made-up town."""
    folder.mkdir()
    for n in range(count):
        rng = random.Random(n)
        paragraphs = []
        for p in range(6):
            sentences = [
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."
                for _ in range(5)
            ]
            paragraphs.append(f"Town {n} note {p}. " + " ".join(sentences))
        text = f"Surveillance notes for {TOWNS[n]}, town {n}\n\n" + "\n\n".join(paragraphs) + "\n"
        (folder / f"town-{n:03d}.txt").write_text(text, encoding="utf-8")


def registered_so_far(data_dir: Path) -> int:
    """How many documents a running ingest has registered, read cheaply from Chroma's SQLite file.

    Only used to time the kill; every assertion goes through the `Store`.
    """
    db = data_dir / "chroma.sqlite3"
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5)) as con:
            (count,) = con.execute(
                "SELECT count(*) FROM embeddings e JOIN segments s ON e.segment_id = s.id "
                "JOIN collections c ON s.collection = c.id WHERE c.name = 'plainsight_docs'"
            ).fetchone()
            return count
    except sqlite3.Error:
        return 0


def test_ingest_killed_with_sigkill_is_completed_exactly_by_the_next_run(tmp_path, make_store):
    docs = tmp_path / "docs"
    write_generated_corpus(docs, FILES)
    data_dir = tmp_path / "data"

    with open(tmp_path / "killed.out", "wb") as out, open(tmp_path / "killed.err", "wb") as err:
        proc = subprocess.Popen(
            [str(PLAINSIGHT), "ingest", str(docs), "--json"],
            stdout=out,
            stderr=err,
            env=cli_env(data_dir),
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 300
            while registered_so_far(data_dir) < 3:
                if proc.poll() is not None:
                    pytest.fail(
                        f"plainsight ingest exited ({proc.returncode}) before it could be killed; "
                        f"make the generated corpus larger. stderr: {(tmp_path / 'killed.err').read_text()}"
                    )
                if time.monotonic() > deadline:
                    pytest.fail("no document was registered within 300 s")
                time.sleep(0.2)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    after_kill = snapshot_dir(data_dir)
    survivors = len(after_kill["docs"])
    assert 3 <= survivors < FILES, "the killed run should have registered some documents, not all"

    resumed = run_cli(data_dir, "ingest", str(docs), "--json")

    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["failed"] == 0
    assert report["unchanged"] == survivors  # documents registered before the kill were complete
    assert report["added"] == FILES - survivors
    clean = make_store("clean")
    ingest_paths(clean, [docs])
    expected = snapshot(clean)
    final = snapshot_dir(data_dir)
    assert sorted(final["docs"]) == sorted(expected["docs"])
    assert sorted(final["chunks"]) == sorted(expected["chunks"])
    assert final == expected
    searched = run_cli(data_dir, "search", f"What does {TOWNS[7]} record?", "--json")
    assert searched.returncode == 0, searched.stderr  # the vector index survived the kill too
    results = json.loads(searched.stdout)["results"]
    assert results and {r["doc_id"] for r in results} <= set(expected["docs"])
    assert "town-007" in [r["doc_id"] for r in results]
