"""Scanned PDFs and images are read by OCR: page numbers kept, every chunk marked `ocr` with a
confidence, the document listed as OCR'd, and every limit refused with a reason.

The scans are made here: text typeset by fpdf2, rendered to pixels by PDFium, and put back into a
PDF (or saved as PNG/JPEG/TIFF) as an image with no text layer, exactly what a scanner produces.
"""

from __future__ import annotations

import io
import json
import os
import shutil

import pypdfium2 as pdfium
import pytest
from conftest import chunks_of, ingest_one, run_cli
from fpdf import FPDF
from PIL import Image

from bot.core.settings import Settings
from ingest.limits import Limits
from ingest.loaders import load_bytes
from ingest.ocr import INSTALL_HINT

pytestmark = pytest.mark.skipif(not shutil.which("tesseract"), reason="tesseract is not installed")

PAGES = [
    "Eugene Police Department surveillance technology inventory. The department operates "
    "automated license plate readers supplied by Flock Safety.",
    "Retention of plate reads is thirty days unless the read is evidence in a criminal case.",
]


def page_images(texts: list[str] = PAGES, dpi: int = 200) -> list[Image.Image]:
    """Each text typeset on a page and rendered to a greyscale image, as a scanner would see it."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=14)
    for text in texts:
        pdf.add_page()
        pdf.multi_cell(0, 9, text)
    document = pdfium.PdfDocument(bytes(pdf.output()))
    return [page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for page in document]


def scanned_pdf(texts: list[str] = PAGES) -> bytes:
    """A PDF whose pages are only images: no text layer at all."""
    pdf = FPDF()
    for image in page_images(texts):
        pdf.add_page()
        pdf.image(image, x=0, y=0, w=pdf.w, h=pdf.h)
    return bytes(pdf.output())


def image_bytes(fmt: str, images: list[Image.Image] | None = None) -> bytes:
    images = images or page_images()[:1]
    out = io.BytesIO()
    if len(images) > 1:
        images[0].save(out, fmt, save_all=True, append_images=images[1:])
    else:
        images[0].save(out, fmt)
    return out.getvalue()


def test_scanned_pdf_is_read_by_ocr_with_its_page_numbers_and_confidence(tmp_path, make_store):
    path = tmp_path / "inventory-scan.pdf"
    path.write_bytes(scanned_pdf())
    store = make_store()

    result = ingest_one(store, path)

    assert result.status == "added", result
    chunks = chunks_of(store, result.doc_id)
    text = " ".join(c.text for c in chunks).lower()
    assert "flock safety" in text and "thirty days" in text
    assert {c.metadata["page"] for c in chunks} == {1, 2}
    assert all(c.metadata["ocr"] is True and 50 < c.metadata["ocr_confidence"] <= 100 for c in chunks)
    record = store.document(result.doc_id)
    assert record.ocr is True and 50 < record.ocr_confidence <= 100


def test_a_pdf_with_a_text_layer_is_not_ocrd(tmp_path, make_store):
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, PAGES[1])
    path = tmp_path / "typed.pdf"
    path.write_bytes(bytes(pdf.output()))
    store = make_store()

    result = ingest_one(store, path)

    assert result.status == "added"
    assert not any("ocr" in c.metadata for c in chunks_of(store, result.doc_id))
    assert store.document(result.doc_id).ocr is False


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_photographed_page_becomes_a_document(fmt):
    doc = load_bytes(f"notice.{fmt.lower()}", image_bytes(fmt))

    assert "flock safety" in doc.pages[0].text.lower()
    assert doc.pages[0].number is None and doc.ocr_confidence > 50


def test_multipage_tiff_keeps_a_page_per_frame():
    doc = load_bytes("scan.tiff", image_bytes("TIFF", page_images()))

    assert [p.number for p in doc.pages] == [1, 2]
    assert "thirty days" in doc.pages[1].text.lower()


def test_ocr_page_limit_refuses_the_file_with_the_setting_to_raise():
    limits = Limits.from_settings(Settings(ocr_max_pages=1))

    with pytest.raises(Exception) as refused:
        load_bytes("big-scan.pdf", scanned_pdf(), limits=limits)

    assert "PLAINSIGHT_OCR_MAX_PAGES" in str(refused.value) and "2" in str(refused.value)


def test_ocr_time_limit_refuses_the_file_with_a_reason(tmp_path, make_store):
    path = tmp_path / "slow-scan.pdf"
    path.write_bytes(scanned_pdf())
    store = make_store(ocr_timeout_s=0.5)

    result = ingest_one(store, path)

    assert result.status == "failed"
    assert "OCR took longer than 0.5 s" in result.reason and "PLAINSIGHT_OCR_TIMEOUT_S" in result.reason


def test_missing_tesseract_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(Exception) as refused:
        load_bytes("scan.png", image_bytes("PNG"))

    assert str(refused.value) == INSTALL_HINT
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in INSTALL_HINT


def test_ocr_progress_is_reported_page_by_page():
    seen: list[tuple[int, int]] = []

    load_bytes("scan.pdf", scanned_pdf(), progress=lambda done, total: seen.append((done, total)))

    assert seen == [(1, 2), (2, 2)]


def test_docs_list_shows_that_a_document_was_ocrd(tmp_path):
    path = tmp_path / "inventory-scan.pdf"
    path.write_bytes(scanned_pdf())
    data_dir = tmp_path / "data"
    assert run_cli(data_dir, "ingest", str(path)).returncode == 0

    listed = run_cli(data_dir, "docs", "list")
    as_json = json.loads(run_cli(data_dir, "docs", "list", "--json").stdout)

    assert "OCR'd" in listed.stdout and "% confidence" in listed.stdout
    (record,) = as_json["documents"]
    assert record["ocr"] is True and record["ocr_confidence"] > 50


def test_staff_page_shows_that_a_document_was_ocrd(tmp_path, embeddings, monkeypatch):
    from test_streamlit_apptest import PASSWORD, fresh_caches, staff, tab

    from bot.core.store import Store
    from ingest.pipeline import ingest_document

    data = tmp_path / "data"
    for key in [k for k in os.environ if k.startswith("PLAINSIGHT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PLAINSIGHT_DATA_DIR", str(data))
    monkeypatch.setenv("PLAINSIGHT_STAFF_PASSWORD", PASSWORD)
    store = Store(Settings(data_dir=data), embeddings=embeddings)
    assert ingest_document(store, "inventory-scan.pdf", scanned_pdf()).status == "added"
    assert ingest_document(store, "memo.txt", PAGES[1].encode()).status == "added"
    fresh_caches()
    try:
        at = staff(data)
        table = tab(at, "Documents").dataframe[0].value
    finally:
        fresh_caches()

    shown = dict(zip(table["Document ID"], table["OCR'd"]))
    assert shown["memo"] == ""
    assert shown["inventory-scan"].startswith("yes (") and shown["inventory-scan"].endswith("%)")
