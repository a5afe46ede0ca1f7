"""The real documents in ../shared/realdocs, ../shared/realdocs2 and ../shared/seed, in one batch.

This is the slowest module (the Atlas of Surveillance CSV alone is 5,784 passages), so the store is
built once per module and every assertion reads it. It runs in the default suite; it is skipped only
when the shared folder is absent. Every file is asserted by name: added, or refused for its reason
(a .txt beside the .pdf of the same name shares its doc_id and is refused for it; so is the second
folder's SOURCES.md). The scanned Eugene inventory is added by OCR, and the signed (AES-encrypted,
empty password) Eugene contract with all 35 pages.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REALDOCS, REALDOCS2, SEED, chunks_of

from bot.retrieve import HybridIndex
from ingest.pipeline import collect_files

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

CLASH = "is already used by"
# every file that is refused, and why; every other file must be added
REFUSED = {
    **{
        f"realdocs/{stem}.txt": CLASH
        for stem in (
            "albert-lea-pd-alpr-policy-427-lexipol", "dhs-ice-pia-039a-commercial-lpr-data-2017",
            "dhs-ice-pia-039b-commercial-lpr-data-2021", "ocsd-vigilant-learn-data-sharing-report-2020",
            "privacy-international-letter-thomson-reuters-ice-2018",
            "seattle-pd-manual-16-090-in-car-body-worn-video-draft-2016",
            "st-paul-pd-alpr-biennial-audit-2019",
            "vigilant-learn-user-guide", "wayzata-pd-alpr-policy-128", "woodbury-mn-flock-alpr-audit-2023",
        )
    },
    "realdocs/deflock-deflocked-municipalities-2026-08-22.json": CLASH,  # the .csv of the same name
    "realdocs2/SOURCES.md": CLASH,  # realdocs/SOURCES.md: doc_id "sources"
}  # fmt: skip
CONTRACT = "eugene-flock-alpr-software-services-contract-2025"
INVENTORY = "eugene-pd-surveillance-technology-inventory-response-2025"

CONNECTICUT_ARTICLES = {
    "aclu-ct-press-release-ct-agencies-share-location-ice-2019-03-13-excerpt",
    "ct-law-tribune-aclu-ct-condemns-location-sharing-2019-03-14-excerpt",
    "hartford-courant-enfield-wethersfield-lpr-ice-2019-03-14-excerpt",
    "news12-ct-police-push-back-aclu-ice-report-2019-excerpt",
    "wtnh-aclu-accuses-8-ct-police-agencies-ice-2019-excerpt",
    "ct-alpr-ice-article",  # the seed article
}


@pytest.fixture(scope="module")
def realdocs(real_store):
    """The session's store of the real documents (`conftest.real_store`, shared with the
    real-document evaluation), its report and the files it read."""
    if not REALDOCS.is_dir():
        pytest.skip(f"no real documents at {REALDOCS}")
    store, report = real_store
    return store, report, collect_files([f for f in (REALDOCS, REALDOCS2, SEED) if f.is_dir()])


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


def test_every_real_file_is_added_or_refused_for_its_own_reason(realdocs):
    _, report, _ = realdocs
    got = {"/".join(Path(r.path).parts[-2:]): r for r in report.results}

    for name, r in sorted(got.items()):
        if name in REFUSED:
            assert r.status == "failed" and REFUSED[name] in r.reason, (name, r)
        elif name.startswith(("realdocs/", "realdocs2/")):
            assert r.status == "added", (name, r)
    assert set(REFUSED) <= set(got)


def test_the_signed_contract_is_read_with_all_its_pages(realdocs):
    store, _, _ = realdocs
    if not REALDOCS2.is_dir():
        pytest.skip("no realdocs2")

    pages = {c.metadata["page"] for c in chunks_of(store, CONTRACT)}

    assert max(pages) == 35 and len(pages) >= 30, sorted(pages)


def test_the_scanned_inventory_is_added_as_an_ocrd_document(realdocs):
    store, _, _ = realdocs
    if not REALDOCS2.is_dir():
        pytest.skip("no realdocs2")

    record = store.document(INVENTORY)
    chunks = chunks_of(store, INVENTORY)

    assert record is not None and record.ocr is True and record.ocr_confidence > 70
    assert chunks and all(c.metadata["ocr"] is True for c in chunks)
    assert {c.metadata["page"] for c in chunks} <= {1, 2, 3, 4}
    assert "flock" in " ".join(c.text for c in chunks).lower()


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
