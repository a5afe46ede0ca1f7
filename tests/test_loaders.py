"""Every loader on a small file the test writes itself: text, metadata and positions come through."""

from __future__ import annotations

import io
import json

import docx
import pytest
from conftest import chunks_of, ingest_one
from fpdf import FPDF

from ingest.loaders import load_bytes
from ingest.pipeline import ingest_paths

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


def test_a_markdown_heading_is_the_title_however_short():
    # a Markdown file without front matter took its first paragraph as its title, because its
    # two-word heading read as too short for one
    doc = load_bytes("notes.md", b"# Stamford cameras\n\nThe Stamford police bought body cameras in 2018.\n")

    assert doc.meta["title"] == "Stamford cameras"


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


def test_json_records_keyed_by_name_read_as_fields_not_as_json():
    # realdocs minnesota-bca-alpr-locations: an object of agencies was read as
    # 'key: St. Paul Police Department. value: {"locations": ["Maryland Avenue at ...", ...]}'
    locations = {
        "St. Paul Police Department": {
            "locations": ["Maryland Avenue at White Bear Avenue", "Johnson Parkway"]
        },
        "Tiburon Police Department": {"contact": {"phone": "555-0100"}, "cameras": 4},
    }
    assert [p.text for p in load_bytes("bca.json", json.dumps(locations).encode()).pages] == [
        "name: St. Paul Police Department. locations: Maryland Avenue at White Bear Avenue; Johnson Parkway.",
        "name: Tiburon Police Department. contact.phone: 555-0100. cameras: 4.",
    ]
    assert load_bytes("counts.json", b'{"Tiburon": 4}').pages[0].text == "key: Tiburon. value: 4."


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


# --- encrypted PDFs, bounded reading, and no file aborting a batch ------------------------------

POLICY_TEXT = "The Eugene police keep plate reads for thirty days, then delete them."


def typed_pdf(text: str = POLICY_TEXT, pages: int = 1) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for _ in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def encrypted(data: bytes, user_password: str, algorithm: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("algorithm", ["AES-256", "AES-128", "RC4-128"])
def test_pdf_encrypted_with_an_empty_password_is_read_like_any_other(algorithm):
    doc = load_bytes("signed-contract.pdf", encrypted(typed_pdf(), "", algorithm))

    assert "thirty days" in doc.pages[0].text and doc.pages[0].number == 1


def test_pdf_that_needs_a_password_is_refused_with_what_to_do(tmp_path, make_store):
    path = tmp_path / "locked.pdf"
    path.write_bytes(encrypted(typed_pdf(), "letmein", "AES-256"))

    result = ingest_one(make_store(), path)

    assert result.status == "failed"
    assert result.reason == "password-protected PDF: ask the sender for an unprotected copy"


def zip_bomb_docx(inflated_mb: int = 200) -> bytes:
    """A valid Word file whose document.xml inflates to `inflated_mb` MB (it compresses ~1000:1)."""
    import zipfile

    out = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("placeholder")
    document.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                target.writestr(info, source.read(info))
        para = b"<w:p><w:r><w:t>ALPR ALPR ALPR ALPR</w:t></w:r></w:p>"
        body = para * (inflated_mb * 1_000_000 // len(para))
        head = source.read("word/document.xml").split(b"<w:body>")[0]
        target.writestr("word/document.xml", head + b"<w:body>" + body + b"</w:body></w:document>")
    return bomb.getvalue()


def test_docx_zip_bomb_is_refused_before_it_is_decompressed():
    import time

    from ingest.limits import IngestError

    data = zip_bomb_docx()
    assert len(data) < 2_000_000
    start = time.monotonic()

    with pytest.raises(IngestError) as refused:
        load_bytes("minutes.docx", data)

    assert time.monotonic() - start < 5
    assert "decompresses to" in str(refused.value) and "PLAINSIGHT_MAX_" in str(refused.value)


def test_html_nested_deeper_than_the_parser_follows_is_refused_with_a_reason():
    from ingest.limits import IngestError

    html = "<html><body>" + "<div>" * 5000 + f"<p>{POLICY_TEXT}</p>" + "</div>" * 5000 + "</body></html>"

    with pytest.raises(IngestError) as refused:
        load_bytes("deep.html", html.encode())

    assert "levels deep" in str(refused.value) and "PLAINSIGHT_MAX_HTML_DEPTH" in str(refused.value)


def test_pdf_over_the_page_limit_is_refused_before_its_pages_are_read():
    from bot.core.settings import Settings
    from ingest.limits import IngestError, Limits

    with pytest.raises(IngestError) as refused:
        load_bytes("long.pdf", typed_pdf(pages=3), limits=Limits.from_settings(Settings(max_pdf_pages=2)))

    assert "PLAINSIGHT_MAX_PDF_PAGES" in str(refused.value)


def test_a_loader_that_raises_unexpectedly_fails_only_its_file(tmp_path, make_store, monkeypatch):
    from ingest import loaders

    def broken(*_):
        raise ImportError("lxml.html.clean module is now a separate project")

    monkeypatch.setitem(loaders.LOADERS, ".html", broken)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a-page.html").write_text("<p>whatever</p>", encoding="utf-8")
    (tmp_path / "docs" / "b-policy.txt").write_text(POLICY_TEXT, encoding="utf-8")
    store = make_store(read_isolated=False)  # the monkeypatch lives in this process

    failed, added = ingest_paths(store, [tmp_path / "docs"]).results

    assert failed.status == "failed"
    assert failed.reason == "could not read: ImportError in the HTML reader — please report this"
    assert added.status == "added"


def test_a_file_that_makes_a_parser_recurse_deeply_fails_alone(tmp_path, make_store):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a-nested.json").write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    (docs / "b-nested.md").write_text("---\ntitle: " + "[" * 50_000 + "\n---\nBody.\n", encoding="utf-8")
    (docs / "c-policy.txt").write_text(POLICY_TEXT, encoding="utf-8")

    results = ingest_paths(make_store(), [docs]).results

    assert [r.status for r in results] == ["failed", "failed", "added"], results
    assert "nests too deeply" in results[0].reason or "JSON" in results[0].reason


BROKEN_TRAFILATURA = "raise ImportError('lxml.html.clean module is now a separate project lxml_html_clean')\n"


def test_a_broken_html_library_fails_html_files_with_a_reason_and_no_traceback(tmp_path):
    """The reproduction from the issue: jusText's `lxml.html.clean` missing made every HTML file
    crash the whole CLI run. A stand-in trafilatura that cannot be imported does the same."""
    from conftest import run_cli

    fake = tmp_path / "fake"
    (fake / "trafilatura").mkdir(parents=True)
    (fake / "trafilatura" / "__init__.py").write_text(BROKEN_TRAFILATURA)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "portal.html").write_text("<html><body><p>" + POLICY_TEXT + "</p></body></html>")
    (docs / "policy.txt").write_text(POLICY_TEXT)

    import os

    os.environ["PYTHONPATH"] = str(fake)
    try:
        done = run_cli(tmp_path / "data", "ingest", str(docs), "--json")
    finally:
        del os.environ["PYTHONPATH"]

    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    files = {f["path"].rsplit("/", 1)[-1]: f for f in json.loads(done.stdout)["files"]}
    assert (
        files["portal.html"]["reason"]
        == "could not read: ImportError in the HTML reader — please report this"
    )
    assert files["policy.txt"]["status"] == "added"


def test_a_read_over_the_time_limit_is_stopped_and_the_batch_goes_on(tmp_path, make_store):
    from test_ocr import image_bytes, page_images

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a-scan.tiff").write_bytes(image_bytes("TIFF", page_images(["Flock Safety " * 80] * 6)))
    (docs / "b-policy.txt").write_text(POLICY_TEXT, encoding="utf-8")

    slow, good = ingest_paths(make_store(read_timeout_s=0.5), [docs]).results

    assert slow.status == "failed" and "took longer than 0.5 s" in slow.reason, slow
    assert "PLAINSIGHT_READ_TIMEOUT_S" in slow.reason
    assert good.status == "added"


def test_symlink_loops_and_skipped_files_are_named_in_the_report(tmp_path, make_store):
    docs = tmp_path / "docs"
    (docs / "inner").mkdir(parents=True)
    (docs / "inner" / "policy.txt").write_text(POLICY_TEXT, encoding="utf-8")
    (docs / "inner" / "loop").symlink_to(docs)  # docs/inner/loop -> docs: a cycle
    (docs / "self").symlink_to(docs / "self")  # a link to itself
    (docs / "gone.txt").symlink_to(docs / "missing.txt")
    (docs / "budget.xlsx").write_bytes(b"PK\x03\x04")

    report = ingest_paths(make_store(), [docs])

    assert [r.status for r in report.results] == ["added"]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert "loop" in reasons["loop"] and "loop" in reasons["self"]
    assert "broken symbolic link" in reasons["gone.txt"]
    assert "unsupported file type '.xlsx'" in reasons["budget.xlsx"]
    assert report.to_json()["skipped"] and report.to_json()["files"][0]["status"] == "added"


def test_parser_warnings_come_back_tagged_with_their_file(tmp_path, make_store, caplog):
    data = typed_pdf()
    at = data.rindex(b"startxref") + len(b"startxref\n")
    end = data.index(b"\n", at)
    path = tmp_path / "wrong-xref.pdf"
    path.write_bytes(data[:at] + b"999999" + data[end:])  # a wrong cross-reference offset

    report = ingest_paths(make_store(), [path])

    assert report.results[0].status == "added"
    assert report.warnings and all(w["path"] == str(path) for w in report.warnings)
    assert any(str(path) in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_a_file_that_fails_to_chunk_or_embed_fails_alone(tmp_path, make_store, embeddings, monkeypatch):
    from langchain_core.embeddings import Embeddings

    from bot.core.settings import Settings
    from bot.core.store import Store
    from ingest import pipeline

    class Exploding(Embeddings):
        """The real model, except on a passage that says EXPLODE."""

        def embed_documents(self, texts):
            if any("EXPLODE" in t for t in texts):
                raise RuntimeError("the embeddings server went away")
            return embeddings.embed_documents(texts)

        def embed_query(self, text):
            return embeddings.embed_query(text)

    real_build = pipeline.build_chunks

    def build(doc, *args):
        if "SPLIT-FAILS" in doc.pages[0].text:
            raise ValueError("a splitter bug")
        return real_build(doc, *args)

    monkeypatch.setattr(pipeline, "build_chunks", build)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(POLICY_TEXT, encoding="utf-8")
    (docs / "b.txt").write_text("EXPLODE " + POLICY_TEXT.replace("thirty", "sixty"), encoding="utf-8")
    (docs / "c.txt").write_text("SPLIT-FAILS " + POLICY_TEXT.replace("thirty", "ninety"), encoding="utf-8")
    (docs / "d.txt").write_text(POLICY_TEXT.replace("thirty", "ten"), encoding="utf-8")
    store = Store(Settings(data_dir=tmp_path / "data"), embeddings=Exploding())

    a, b, c, d = ingest_paths(store, [docs]).results

    assert (a.status, d.status) == ("added", "added")
    assert b.status == "failed"
    assert b.reason == "could not embed and store it: RuntimeError — please report this"
    assert c.status == "failed"
    assert c.reason == "could not split it into passages: ValueError — please report this"
    assert {r.doc_id for r in store.documents()} == {"a", "d"}


PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stdout)
"""


def test_a_zip_bomb_in_a_batch_is_refused_and_memory_stays_flat(tmp_path):
    """The issue's reproduction: a 0.6 MB Word file inflating to 200 MB used to take minutes and
    gigabytes, and the good files beside it were never indexed."""
    import subprocess
    import sys

    from conftest import PLAINSIGHT, cli_env

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a-minutes.docx").write_bytes(zip_bomb_docx())
    (docs / "b-policy.txt").write_text(POLICY_TEXT, encoding="utf-8")
    (docs / "c-audit.pdf").write_bytes(typed_pdf("The 2024 audit found no misuse of the plate readers."))

    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(PLAINSIGHT), "ingest", str(docs), "--json"],
        capture_output=True, text=True, env=cli_env(tmp_path / "data"), timeout=600,
    )  # fmt: skip

    first, output = done.stdout.split("\n", 1)
    code, peak_kb = map(int, first.split())
    report = json.loads(output)
    assert code == 0 and [f["status"] for f in report["files"]] == ["failed", "added", "added"]
    assert "PLAINSIGHT_MAX_" in report["files"][0]["reason"]
    assert peak_kb < 1_500_000, f"peak RSS {peak_kb / 1000:.0f} MB"


def test_a_same_named_file_in_another_folder_is_refused_not_taken_for_an_update(tmp_path, make_store):
    for folder, town in (("one", "Ashford"), ("two", "Belmere")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "SOURCES.md").write_text(f"# Sources\n\n{town} police records, 2025.\n")

    first, second = ingest_paths(make_store(), [tmp_path / "one", tmp_path / "two"]).results

    assert first.status == "added"
    assert second.status == "failed" and "already used by" in second.reason and "in this run" in second.reason


def test_a_file_is_read_while_the_process_holds_over_1024_descriptors(tmp_path, make_store):
    # CI, 2026-12-02: every store a long test run had opened held ~26 descriptors, and once past
    # 1,024 every read failed with "filedescriptor out of range in select()"
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(soft, hard) < 1200:
        pytest.skip("this machine allows fewer than 1,200 open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    (tmp_path / "policy.txt").write_text(POLICY_TEXT, encoding="utf-8")
    from ingest.reader import _reader

    _reader.close()  # the reading process's pipes are opened after the descriptors below
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        (result,) = ingest_paths(make_store(), [tmp_path / "policy.txt"]).results
    finally:
        for fd in held:
            os.close(fd)
        _reader.close()
    assert result.status == "added", result
