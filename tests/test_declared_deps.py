"""Everything the project imports at run time is declared, and every reader works as installed.

A virtualenv built by an older pip left out `lxml_html_clean` (which jusText, under trafilatura,
imports since lxml 6 split it out) and pypdf's optional `cryptography` (AES): every HTML file then
crashed the run, and every signed PDF was "corrupt". This installs nothing: it checks that the
declared requirements cover what the code imports, and that each reader imports and reads a file.
"""

from __future__ import annotations

import ast
import csv
import importlib.metadata as md
import io
import re
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

from ingest.loaders import load_bytes

RUNTIME_MODULES = ["bot", "ingest"]
ALSO_NEEDED = {
    "lxml_html_clean": "imported by jusText (trafilatura) through lxml.html.clean",
    "cryptography": "pypdf's AES decryption (signed and DocuSigned PDFs)",
}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0] for d in project["dependencies"]}
    return {n.lower().replace("_", "-") for n in names}


def imported_top_level() -> set[str]:
    """Third-party top-level modules imported anywhere in the runtime packages."""
    found: set[str] = set()
    for package in RUNTIME_MODULES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in RUNTIME_MODULES}


def test_every_module_imported_at_run_time_is_declared():
    owners = md.packages_distributions()
    wanted = declared()
    missing = {}
    for module in sorted(imported_top_level()):
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        if not dists & wanted:
            missing[module] = sorted(dists) or "not installed"
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


@pytest.mark.parametrize("name", sorted(ALSO_NEEDED))
def test_dependencies_of_dependencies_that_pip_may_leave_out_are_declared(name):
    assert name.replace("_", "-") in declared(), ALSO_NEEDED[name]
    md.version(name)  # installed


def test_html_reader_imports_and_reads_a_page():
    import lxml.html.clean  # noqa: F401 - what jusText needs

    html = (
        b"<html><body><article><h1>Drones</h1><p>The police department flies two drones over "
        b"public events, and the footage is kept for thirty days unless it is evidence.</p>"
        b"</article></body></html>"
    )

    assert "thirty days" in load_bytes("page.html", html).pages[0].text


@pytest.mark.parametrize("algorithm", ["AES-256", "RC4-128"])
def test_pdf_reader_imports_and_reads_an_encrypted_pdf(algorithm):
    from test_loaders import encrypted, typed_pdf

    doc = load_bytes("contract.pdf", encrypted(typed_pdf(), "", algorithm))

    assert "thirty days" in doc.pages[0].text


def test_docx_reader_imports_and_reads_a_file():
    import docx

    document = docx.Document()
    document.add_paragraph("Plate reads are kept for thirty days.")
    out = io.BytesIO()
    document.save(out)

    assert "thirty days" in load_bytes("memo.docx", out.getvalue()).pages[0].text


def test_csv_reader_reads_a_file():
    out = io.StringIO()
    csv.writer(out).writerows([["agency", "retention"], ["Eugene PD", "30 days"]])

    assert (
        load_bytes("list.csv", out.getvalue().encode()).pages[0].text
        == "agency: Eugene PD. retention: 30 days."
    )


def test_pdf_table_and_ocr_libraries_import():
    import pdfplumber  # noqa: F401
    import pypdfium2  # noqa: F401
    from PIL import Image  # noqa: F401

    assert Path(pdfplumber.__file__).exists()
