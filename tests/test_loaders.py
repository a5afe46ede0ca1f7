"""Every loader on a small file the test writes itself: text, metadata and positions come through."""

from __future__ import annotations

import io

import docx
import pytest
from conftest import chunks_of, ingest_one
from fpdf import FPDF

from ingest.loaders import load_bytes

MARKDOWN = b"""---
doc_id: Springfield ALPR Policy
title: "Springfield's license plate reader policy"
jurisdiction: "Springfield, IL"
doc_type: Policy
topics: [alpr, retention, data-sharing]
published: 2024-03-05
source_url: https://springfield.example/alpr
---
# Springfield ALPR policy

The Springfield police department keeps plate reads for thirty days unless they are evidence.
"""


def test_markdown_front_matter_becomes_document_metadata():
    doc = load_bytes("some-file-name.md", MARKDOWN)

    assert doc.meta["doc_id"] == "springfield-alpr-policy"
    assert doc.meta["title"] == "Springfield's license plate reader policy"
    assert doc.meta["jurisdiction"] == "Springfield, IL"
    assert doc.meta["doc_type"] == "policy"
    assert doc.meta["topics"] == "alpr, retention, data-sharing"
    assert doc.meta["published"] == "2024-03-05"
    assert doc.meta["source_url"] == "https://springfield.example/alpr"
    text = "".join(p.text for p in doc.pages)
    assert "thirty days" in text
    assert "doc_id" not in text and "---" not in text


def test_plain_text_takes_title_from_text_and_doc_id_from_file_name():
    data = b"ALPR\n\nNotes from the Springfield council meeting on plate readers\n\nThe council voted."
    doc = load_bytes("Council Notes_2024.txt", data)

    assert doc.meta["doc_id"] == "council-notes-2024"
    assert doc.meta["title"] == "Notes from the Springfield council meeting on plate readers"
    assert doc.meta["doc_type"] == "other"
    assert doc.meta["language"] == "en"


def test_html_keeps_main_text_and_drops_navigation_styles_and_scripts():
    html = b"""<html><head><title>Drone policy in Springfield</title>
<style>.banner { color: red }</style>
<script>var tracking = 'analytics-secret-token';</script></head><body>
<nav><a href="/">Home</a> | <a href="/about">About the department</a> | <a href="/jobs">Careers</a></nav>
<main><article><h1>Drone policy in Springfield</h1>
<p>The Springfield police department flies two drones over public events. The drones record
video that is kept for thirty days unless it is needed as evidence in a criminal case.</p>
<p>Residents may request the flight logs under the state public records law. The department
publishes a yearly report on how often the drones were flown and why.</p>
<script>alert(1)</script>
</article></main></body></html>"""
    doc = load_bytes("drones.html", html)
    text = "".join(p.text for p in doc.pages)

    assert "flies two drones over public events" in text
    assert "flight logs" in text
    assert "alert(1)" not in text
    assert "analytics-secret-token" not in text
    assert "color: red" not in text
    assert "Careers" not in text
    assert doc.meta["title"] == "Drone policy in Springfield"


def two_page_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Springfield plate reader audit. The cameras read forty thousand plates a week.")
    pdf.add_page()
    pdf.multi_cell(0, 8, "Retention. Reads that are not evidence are deleted after ninety days.")
    return bytes(pdf.output())


def test_pdf_running_headers_and_footers_are_dropped_but_name_the_document():
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for n, body in enumerate(["Cameras read plates.", "Reads are kept 60 days.", "Audits run yearly."], 1):
        pdf.add_page()
        pdf.multi_cell(0, 8, f"Springfield Police Department Policy Manual\n{body}\nPage {n} of 3")

    doc = load_bytes("manual.pdf", bytes(pdf.output()))

    assert [p.text.strip() for p in doc.pages] == [
        "Cameras read plates.",
        "Reads are kept 60 days.",
        "Audits run yearly.",
    ]
    assert doc.meta["title"] == "Springfield Police Department Policy Manual"


def test_pdf_page_numbers_reach_the_chunks(tmp_path, make_store):
    path = tmp_path / "audit.pdf"
    path.write_bytes(two_page_pdf())
    store = make_store()

    result = ingest_one(store, path)

    assert result.status == "added", result.reason
    chunks = chunks_of(store, "audit")
    assert {c.metadata["page"] for c in chunks} == {1, 2}
    (retention,) = [c for c in chunks if "ninety days" in c.text]
    assert retention.metadata["page"] == 2
    (audit,) = [c for c in chunks if "forty thousand" in c.text]
    assert audit.metadata["page"] == 1


def test_docx_headings_become_chunk_sections(tmp_path, make_store):
    document = docx.Document()
    document.add_heading("Springfield ALPR policy", level=0)
    document.add_heading("Retention of plate data", level=1)
    document.add_paragraph("Plate reads that are not evidence are deleted after thirty days.")
    document.add_heading("Sharing with other agencies", level=1)
    document.add_paragraph("Reads are shared only with agencies that sign a written agreement.")
    buffer = io.BytesIO()
    document.save(buffer)
    path = tmp_path / "policy.docx"
    path.write_bytes(buffer.getvalue())
    store = make_store()

    result = ingest_one(store, path)

    assert result.status == "added", result.reason
    chunks = chunks_of(store, "policy")
    (sharing,) = [c for c in chunks if "written agreement" in c.text]
    assert sharing.metadata["section"] == "Sharing with other agencies"
    (retention,) = [c for c in chunks if "thirty days" in c.text]
    assert retention.metadata["section"] == "Retention of plate data"


CSV = b"""Agency,City,State,Technology
Springfield Police Department,Springfield,IL,Automated License Plate Readers
Shelbyville Sheriff's Office,Shelbyville,IN,Drones
Capital City Police,Capital City,OH,Body-worn Cameras
"""


def test_csv_rows_become_passages_that_name_their_columns(tmp_path, make_store):
    doc = load_bytes("atlas.csv", CSV)
    assert [p.text for p in doc.pages][1] == (
        "Agency: Shelbyville Sheriff's Office. City: Shelbyville. State: IN. Technology: Drones."
    )

    path = tmp_path / "atlas.csv"
    path.write_bytes(CSV)
    store = make_store()
    result = ingest_one(store, path)

    assert result.status == "added", result.reason
    chunks = chunks_of(store, "atlas")
    assert len(chunks) == 3
    assert all(c.text.startswith("Agency: ") and "Technology: " in c.text for c in chunks)
    assert [c.metadata["page"] for c in chunks] == [1, 2, 3]


def test_sidecar_yaml_overrides_title_doc_id_and_jurisdiction(tmp_path, make_store):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "report.txt").write_text(
        "A report on plate readers in the town\n\nThe town owns six fixed cameras.", encoding="utf-8"
    )
    (folder / "report.meta.yaml").write_text(
        "doc_id: springfield-audit-2023\n"
        "title: Springfield ALPR audit 2023\n"
        "jurisdiction: Springfield, IL\n"
        "doc_type: report\n",
        encoding="utf-8",
    )
    store = make_store()

    result = ingest_one(store, folder)  # the sidecar itself is not ingested as a document

    assert result.status == "added", result.reason
    assert result.doc_id == "springfield-audit-2023"
    record = store.document("springfield-audit-2023")
    assert record.title == "Springfield ALPR audit 2023"
    assert record.jurisdiction == "Springfield, IL"
    assert record.doc_type == "report"
    assert all(c.metadata["jurisdiction"] == "Springfield, IL" for c in chunks_of(store, result.doc_id))


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("latin-1", "Le café du coin, où l'on sert des crêpes, a une caméra. Zürich et São Paulo aussi."),
        ("cp1252", "The café’s owner said the “smart” camera on Main Street — near the crêperie — records."),
    ],
)
def test_legacy_encoded_text_decodes_without_mojibake(encoding, text):
    doc = load_bytes("notes.txt", text.encode(encoding))

    assert doc.pages[0].text == text
    assert "café" in doc.meta["title"]


def test_page_markers_in_text_files_give_page_numbers(tmp_path, make_store):
    path = tmp_path / "minutes.txt"
    path.write_text(
        "[page 3]\nMinutes of the Springfield council. The chief described the plate readers.\n"
        "[page 4]\nThe council asked how long the reads are kept. The answer was thirty days.\n",
        encoding="utf-8",
    )
    assert [p.number for p in load_bytes(path.name, path.read_bytes()).pages] == [3, 4]
    store = make_store()

    result = ingest_one(store, path)

    assert result.status == "added", result.reason
    chunks = chunks_of(store, "minutes")
    (kept,) = [c for c in chunks if "thirty days" in c.text]
    assert kept.metadata["page"] == 4
    assert {c.metadata["page"] for c in chunks} == {3, 4}
    assert not any("[page" in c.text for c in chunks)
