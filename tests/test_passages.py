"""Show me where it says that: a citation's passage in its document, its neighbours, the quote's
exact offsets, the explainers' primary sources, and a PDF page drawn with the quoted characters
marked where pdfplumber says they are; the original file kept byte for byte, by its SHA-256."""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pdfplumber
import pytest
from conftest import CORPUS, REALDOCS, chunks_of, ingest_one, pdf_of
from PIL import Image

from bot.passages import MAX_SIDE, note, page_png, parse_source, passage_view
from ingest.pipeline import delete_document, ingest_document, repair

DOC = "aclu-ct-ice-report-2019"
RETENTION = (
    "The Harbor Police Department keeps plate reader scans for twenty-one days. Scans that match a "
    "hotlist are kept for one year and then deleted without review by any supervisor. "
)
SHARING = (
    "Harbor shares its plate reader data with the county sheriff and with no federal agency. "
    "A request from another state is refused unless a judge has signed a warrant for it. "
)
META = b"doc_id: harbor-alpr\ndoc_type: policy\npublisher: Harbor Police Department\n" \
    b"source_url: https://harbor.example.gov/alpr.pdf\n"  # fmt: skip


def sources_section(path: Path) -> list[str]:
    """The list items under a corpus file's "## Sources" heading, as written."""
    text = path.read_text(encoding="utf-8")
    body = re.split(r"^## (?:Sources|References)\s*$", text, flags=re.M)[1]
    body = re.split(r"^#", body, flags=re.M)[0]
    return [line[2:].strip() for line in body.splitlines() if line.startswith("- ")]


# --- the starter corpus ---------------------------------------------------------------------


def test_a_corpus_passage_with_its_neighbours_and_the_quote_located_exactly(corpus_store):
    chunks = chunks_of(corpus_store, DOC)
    middle = chunks[1]
    quote = middle.text[40:160]

    view = passage_view(corpus_store, DOC, middle.id, quote)

    assert view.passage.chunk_id == middle.id and view.passage.n == 1 and view.passage.text == middle.text
    assert view.passage.text[view.quote_start : view.quote_end] == quote and view.quote_start == 40
    assert view.before.chunk_id == chunks[0].id and view.after.chunk_id == chunks[2].id
    assert view.before.text == chunks[0].text
    assert view.kind == "explainer" and view.passage.page is None and not view.page_image
    assert view.original_url == ""  # the explainer is this project's own: no address elsewhere
    record = view.document
    assert record.file_sha256 == hashlib.sha256((CORPUS / f"{DOC}.md").read_bytes()).hexdigest()
    assert record.indexed_at and view.note == ""  # Markdown is stored as written, and kept

    first = passage_view(corpus_store, DOC, chunks[0].id)
    last = passage_view(corpus_store, DOC, chunks[-1].id)
    assert first.before is None and first.quote_start is None and last.after is None


@pytest.mark.parametrize(
    "change",
    [
        str.upper,
        lambda q: q.replace(" ", "  ", 1),
        lambda q: q + " (not in the text)",
        lambda q: q[:-1] + "\u00e9",
    ],
)
def test_a_quote_not_in_the_passage_character_for_character_is_not_located(corpus_store, change):
    chunk = chunks_of(corpus_store, DOC)[1]
    view = passage_view(corpus_store, DOC, chunk.id, change(chunk.text[40:160]))
    assert view is not None and view.quote_start is None and view.quote_end is None


@pytest.mark.parametrize(
    ("doc_id", "chunk_id"),
    [
        ("no-such-doc", "no-such-doc#0"),
        (DOC, "drones#0"),  # a passage of another document
        (DOC, f"{DOC}#9999"),
        (DOC, f"{DOC}#-1"),
        (DOC, f"{DOC}#1x"),
        (DOC, DOC),
        (DOC, f"../{DOC}#1"),
        ("..", "..#0"),
        (DOC, f"{DOC}#\u0661"),  # an Arabic-Indic one is a digit to Python, not a chunk number
    ],
)
def test_unknown_documents_and_passages_are_none(corpus_store, doc_id, chunk_id):
    assert passage_view(corpus_store, doc_id, chunk_id) is None


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.md")), ids=lambda p: p.stem)
def test_every_explainer_lists_every_item_of_its_sources_section(corpus_store, path):
    written = sources_section(path)
    view = passage_view(corpus_store, path.stem, f"{path.stem}#0")

    assert view.kind == "explainer" and written
    assert len(view.sources) == len(written)
    for item, source in zip(written, view.sources):
        assert source.title and item.startswith(source.title) and source.publisher in item
        assert source.date in item
        if "http" in item:
            parts = urlsplit(source.url)
            assert parts.scheme in ("http", "https") and parts.netloc and source.url in item
        else:
            assert source.url == "" and "URL not recorded" in item
    dated = [s for s in view.sources if s.date]
    assert len(dated) >= len(view.sources) - 2, view.sources  # a statute page may carry no date


def test_a_sources_item_is_split_into_title_publisher_date_and_address():
    one = parse_source(
        "Atlas of Surveillance export — EFF & University of Nevada, Reno Reynolds School of Journalism, "
        "snapshot 2020-10-07, https://atlasofsurveillance.org/download.csv"
    )
    assert one.title == "Atlas of Surveillance export"
    assert one.publisher == "EFF & University of Nevada, Reno Reynolds School of Journalism"
    assert one.date == "snapshot 2020-10-07" and one.url == "https://atlasofsurveillance.org/download.csv"
    several = parse_source(
        "California Civil Code (SB 34) — State of California (via a.example, b.example), pages last "
        "updated 2023-08-19, https://a.example/1 ; https://b.example/2"
    )
    assert several.publisher == "State of California (via a.example, b.example)"
    assert several.url == "https://a.example/1" and several.date == "pages last updated 2023-08-19"
    unrecorded = parse_source(
        "Policy 427 — Albert Lea (MN) Dept. of Public Safety / Lexipol, 2024-12-03, URL not recorded (copy)"
    )
    assert unrecorded.url == "" and unrecorded.date == "2024-12-03"
    undated = parse_source("Civil Code § 1798.90.55 — State of California, https://lexace.ai/x")
    assert undated.publisher == "State of California" and undated.date == ""
    assert parse_source("A title with no publisher").title == "A title with no publisher"
    assert parse_source("T — P, 2020, javascript:alert(1)").url == ""


def test_the_note_says_how_the_stored_text_may_differ(corpus_store):
    record = corpus_store.document(DOC)
    assert "OCR (87% confidence)" in note(record, {"ocr": True, "ocr_confidence": 87.2}, Path("x.pdf"))
    assert "not kept" in note(record, {}, None)
    assert "extracted from the PDF" in note(record, {}, Path("x.pdf"))
    assert note(record, {}, Path("x.md")) == ""


def test_staff_set_kind_of_source_is_the_kind_shown(make_store):
    store = make_store()
    text = (
        b"---\ndoc_type: policy\npublisher: Harbor Police Department\nsource_kind: vendor\n---\n"
        + SHARING.encode()
    )
    assert ingest_document(store, "flock-terms.md", text).status == "added"
    assert passage_view(store, "flock-terms", "flock-terms#0").kind == "vendor"
    wrong = ingest_document(store, "other.md", text.replace(b"vendor", b"blog"))
    assert wrong.status == "failed" and "source_kind 'blog'" in wrong.reason


# --- a PDF ------------------------------------------------------------------------------------


@pytest.fixture
def harbor(make_store, tmp_path):
    """A two-page PDF policy ingested from a folder, with its sidecar."""
    folder = tmp_path / "in"
    folder.mkdir()
    data = pdf_of(RETENTION * 3, SHARING * 3)
    (folder / "harbor.pdf").write_bytes(data)
    (folder / "harbor.pdf.meta.yaml").write_bytes(META)
    store = make_store()
    assert ingest_one(store, folder / "harbor.pdf").status == "added"
    return store, data, folder / "harbor.pdf"


def yellow(png: bytes) -> np.ndarray:
    """Which pixels the mark tinted: red well above blue (black text and white paper are grey)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return (rgb[..., 0] - rgb[..., 2]) >= 50


def expected_mask(pdf_path: Path, page: int, quote: str, shape: tuple[int, int], pad_pt: float) -> np.ndarray:
    """Pixels of the boxes pdfplumber gives the words of `quote` on the page (the first run of
    words equal to the quote's), from its first word to its last on each line (a justified line
    spreads its words), grown by `pad_pt` points."""
    with pdfplumber.open(pdf_path) as pdf:
        sheet = pdf.pages[page - 1]
        words = sheet.extract_words()
        scale = shape[1] / float(sheet.width)
    wanted = quote.split()
    texts = [w["text"] for w in words]
    at = next(i for i in range(len(texts)) if texts[i : i + len(wanted)] == wanted)
    lines: dict[float, list[float]] = {}
    for w in words[at : at + len(wanted)]:
        box = lines.setdefault(round(w["top"]), [w["x0"], w["top"], w["x1"], w["bottom"]])
        box[:] = [min(box[0], w["x0"]), min(box[1], w["top"]), max(box[2], w["x1"]), max(box[3], w["bottom"])]
    mask = np.zeros(shape, bool)
    for x0, top, x1, bottom in lines.values():
        left, up = int((x0 - pad_pt) * scale), int((top - pad_pt) * scale)
        mask[
            max(up, 0) : int((bottom + pad_pt) * scale) + 1, max(left, 0) : int((x1 + pad_pt) * scale) + 1
        ] = True
    return mask


def check_mark(png: bytes, pdf_path: Path, page: int, quote: str) -> None:
    """The marked pixels lie in the quoted words' boxes (plus the mark's 1 pt margin and edge) and
    cover most of them; nothing else on the page is marked."""
    marked = yellow(png)
    near = expected_mask(pdf_path, page, quote, marked.shape, pad_pt=2.5)
    core = expected_mask(pdf_path, page, quote, marked.shape, pad_pt=0)
    assert marked.any(), "nothing is marked"
    assert not (marked & ~near).any(), f"{int((marked & ~near).sum())} marked pixels outside the quote"
    assert marked[core].mean() > 0.5  # the words' own boxes are mostly tinted (the ink stays dark)


def test_a_pdf_passage_is_on_its_page_with_its_original_kept_byte_for_byte(harbor):
    store, data, path = harbor
    record = store.document("harbor-alpr")
    assert data == path.read_bytes() and record.file_sha256 == hashlib.sha256(data).hexdigest()
    kept = store.originals.path(record.file_sha256)
    assert kept.read_bytes() == data and kept.suffix == ".pdf"
    chunk = next(c for c in chunks_of(store, "harbor-alpr") if c.metadata["page"] == 2)
    quote = chunk.text[chunk.text.index("A request") :].split(". ")[0] + "."

    view = passage_view(store, "harbor-alpr", chunk.id, quote)

    assert view.passage.page == 2 and view.page_image and view.kind == "official"
    assert view.passage.text[view.quote_start : view.quote_end] == quote
    assert view.original_url == "https://harbor.example.gov/alpr.pdf#page=2"
    assert "extracted from the PDF" in view.note and view.sources == ()


def test_the_page_image_marks_the_quoted_characters_where_pdfplumber_puts_them(harbor):
    store, _, path = harbor
    quote = "Scans that match a hotlist are kept for one year"  # from the end of a line into the next
    png = page_png(store, "harbor-alpr", 1, quote)

    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and max(image.size) <= MAX_SIDE
    check_mark(png, path, 1, quote)
    assert not yellow(page_png(store, "harbor-alpr", 1)).any()  # no quote, no mark
    assert not yellow(page_png(store, "harbor-alpr", 1, "words that are not on this page")).any()
    assert page_png(store, "harbor-alpr", 1, quote) is png  # drawn once, then from the cache


@pytest.mark.parametrize("size", [(123.4, 567.8), (1189.0, 841.0), (50.1, 50.1)], ids=str)
def test_a_page_of_any_size_is_drawn_at_most_max_side_pixels_long(make_store, size):
    store = make_store()
    assert ingest_document(store, "odd.pdf", pdf_of("Odd sizes " * 20, size=size)).status == "added"
    image = Image.open(io.BytesIO(page_png(store, "odd", 1, "Odd sizes")))
    assert MAX_SIDE - 1 <= max(image.size) <= MAX_SIDE


@pytest.mark.parametrize(("doc_id", "page"), [("harbor-alpr", 3), ("harbor-alpr", 0), ("nobody", 1)])
def test_no_image_of_a_page_that_is_not_there(harbor, doc_id, page):
    assert page_png(harbor[0], doc_id, page) is None


def test_deleting_or_replacing_a_document_removes_the_file_no_document_was_read_from(harbor):
    store, data, path = harbor
    old = store.document("harbor-alpr").file_sha256
    changed = pdf_of(RETENTION, SHARING + "It was revised in 2025.")
    path.write_bytes(changed)
    assert ingest_one(store, path).status == "updated"
    new = store.document("harbor-alpr").file_sha256
    assert new == hashlib.sha256(changed).hexdigest() != old
    assert store.originals.path(old) is None and store.originals.path(new).read_bytes() == changed

    assert delete_document(store, "harbor-alpr")
    assert store.originals.path(new) is None
    assert passage_view(store, "harbor-alpr", "harbor-alpr#0") is None
    assert page_png(store, "harbor-alpr", 1) is None


def test_an_upload_keeps_its_bytes_and_an_unchanged_one_keeps_the_record(make_store):
    store = make_store()
    data = pdf_of(SHARING)
    meta = {"doc_id": "harbor-sharing", "doc_type": "policy"}
    assert ingest_document(store, "sharing.pdf", data, meta).status == "added"
    record = store.document("harbor-sharing")
    assert store.originals.path(record.file_sha256).read_bytes() == data
    assert ingest_document(store, "sharing.pdf", data, meta).status == "unchanged"
    assert store.document("harbor-sharing") == record


def test_repair_removes_files_a_crash_left_behind_once_they_are_old(harbor):
    store, _, _ = harbor
    kept = store.originals.path(store.document("harbor-alpr").file_sha256)
    orphan = store.originals.put(hashlib.sha256(b"left by a killed ingest").hexdigest(), "a.pdf",
                                 b"left by a killed ingest")  # fmt: skip
    young = store.originals.put(hashlib.sha256(b"another writer's").hexdigest(), "b.pdf", b"another writer's")
    hour_ago = time.time() - 3600
    for old in (orphan, kept):
        os.utime(old, (hour_ago, hour_ago))

    repair(store)

    assert not orphan.exists() and young.exists() and kept.exists()


# --- a real PDF -------------------------------------------------------------------------------


REAL_PDF = REALDOCS / "albert-lea-pd-alpr-policy-427-lexipol.pdf"


@pytest.mark.skipif(not REAL_PDF.exists(), reason="no ../shared/realdocs beside the project")
def test_a_real_policy_pdf_passage_and_its_marked_page(make_store, tmp_path, capsys):
    store = make_store()
    assert ingest_one(store, REAL_PDF).status == "added"
    doc_id = store.documents()[0].doc_id
    chunk = next(c for c in chunks_of(store, doc_id) if c.metadata.get("page") == 2 and len(c.text) > 300)
    sentence = next(s for s in re.split(r"(?<=\.)\s+", chunk.text) if 60 < len(s) < 200 and "\n" not in s)

    started = time.perf_counter()
    view = passage_view(store, doc_id, chunk.id, sentence)
    viewed = time.perf_counter() - started
    started = time.perf_counter()
    cold = page_png(store, doc_id, 2, sentence)
    drawn = time.perf_counter() - started
    started = time.perf_counter()
    warm = page_png(store, doc_id, 2, sentence)
    cached = time.perf_counter() - started

    assert view.page_image and view.passage.text[view.quote_start : view.quote_end] == sentence
    assert warm is cold and max(Image.open(io.BytesIO(cold)).size) <= MAX_SIDE
    check_mark(cold, REAL_PDF, 2, sentence)
    with capsys.disabled():
        print(f"\n  passage_view {viewed * 1000:.1f} ms; page_png cold {drawn * 1000:.0f} ms, "
              f"warm {cached * 1000:.2f} ms; {len(cold) // 1024} KB")  # fmt: skip
