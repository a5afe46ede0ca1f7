"""The real documents in ../shared/realdocs and ../shared/seed, ingested in one batch.

This is the slowest module (the Atlas of Surveillance CSV alone is 5,784 passages), so the store is
built once per module and every assertion reads it. It runs in the default suite; it is skipped only
when the shared folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REALDOCS, SEED, chunks_of

from bot.retrieve import HybridIndex
from bot.settings import Settings
from bot.store import Store
from ingest.pipeline import collect_files, ingest_paths

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

CONNECTICUT_ARTICLES = {
    "aclu-ct-press-release-ct-agencies-share-location-ice-2019-03-13-excerpt",
    "ct-law-tribune-aclu-ct-condemns-location-sharing-2019-03-14-excerpt",
    "hartford-courant-enfield-wethersfield-lpr-ice-2019-03-14-excerpt",
    "news12-ct-police-push-back-aclu-ice-report-2019-excerpt",
    "wtnh-aclu-accuses-8-ct-police-agencies-ice-2019-excerpt",
    "ct-alpr-ice-article",  # the seed article
}


@pytest.fixture(scope="module")
def realdocs(tmp_path_factory, embeddings):
    if not REALDOCS.is_dir():
        pytest.skip(f"no real documents at {REALDOCS}")
    folders = [REALDOCS, *([SEED] if SEED.is_dir() else [])]
    store = Store(Settings(data_dir=tmp_path_factory.mktemp("realdocs") / "data"), embeddings=embeddings)
    report = ingest_paths(store, folders)
    return store, report, collect_files(folders)


def test_every_real_file_is_added_or_fails_with_a_reason(realdocs):
    store, report, files = realdocs

    assert [r.path for r in report.results] == [str(f) for f in files]
    for r in report.results:
        assert r.status in ("added", "failed"), r
        if r.status == "failed":
            assert r.reason.strip(), r
        else:
            assert r.chunks > 0 and store.document(r.doc_id).chunks == r.chunks
    assert sum(r.chunks for r in report.results if r.status == "added") == store.chunk_count()


def test_at_least_thirty_real_documents_are_added(realdocs):
    store, report, _ = realdocs

    assert report.count("added") >= 30, report.to_json()
    assert len(store.documents()) == report.count("added")


def test_real_pdfs_keep_their_page_numbers(realdocs):
    store, report, _ = realdocs
    pdfs = [r for r in report.results if r.status == "added" and Path(r.path).suffix == ".pdf"]

    assert pdfs
    with_pages = [r.doc_id for r in pdfs if all("page" in c.metadata for c in chunks_of(store, r.doc_id))]
    assert with_pages, "no PDF kept page numbers"
    pages = {c.metadata["page"] for c in chunks_of(store, with_pages[0])}
    assert len(pages) > 1 and min(pages) >= 1


def test_norwalk_question_finds_a_connecticut_article(realdocs):
    store, _, _ = realdocs

    hits = HybridIndex(store).search("Does Norwalk share plate data with ICE?", 5)

    found = [h.chunk.metadata["doc_id"] for h in hits]
    assert CONNECTICUT_ARTICLES & set(found), found
