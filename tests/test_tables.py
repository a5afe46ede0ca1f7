"""Tables in PDFs, Word files and web pages become one line per row that names its columns, so a
row is retrieved, quoted and cited whole, with its page; CSV rows stay whole whatever their cells."""

from __future__ import annotations

import io

import docx
from conftest import chunks_of, ingest_one
from fpdf import FPDF

from ingest.loaders import CELL_MAX_CHARS, load_bytes
from ingest.tables import markdown_tables_as_rows, table_lines

SHARING = [
    ("Agency", "State", "Shared since"),
    ("Springfield Police Department", "OR", "2021"),
    ("Lane County Sheriff", "OR", "2022"),
    ("Salem Police Department", "OR", "2023"),
]
ROWS = [
    "Agency: Springfield Police Department; State: OR; Shared since: 2021",
    "Agency: Lane County Sheriff; State: OR; Shared since: 2022",
    "Agency: Salem Police Department; State: OR; Shared since: 2023",
]


def table_pdf() -> bytes:
    """Two pages: prose, then a ruled table on page 2 between two paragraphs."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 7, "The Eugene Police Department shares plate reads with the agencies listed below.")
    pdf.add_page()
    pdf.multi_cell(0, 7, "Agencies with access to Eugene plate data, as of May 2025.")
    with pdf.table() as table:
        for values in SHARING:
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.multi_cell(0, 7, "The list is reviewed by the audit unit every year.")
    return bytes(pdf.output())


def test_pdf_table_rows_become_lines_that_name_their_columns_on_their_page(tmp_path, make_store):
    path = tmp_path / "sharing.pdf"
    path.write_bytes(table_pdf())
    store = make_store()

    result = ingest_one(store, path)

    assert result.status == "added", result
    chunks = chunks_of(store, result.doc_id)
    page_two = "\n".join(c.text for c in chunks if c.metadata["page"] == 2)
    lines = page_two.splitlines()
    for row in ROWS:
        assert row in lines, page_two
    assert "as of May 2025" in page_two and "every year" in page_two
    for chunk in chunks:  # offsets point at the chunk's own text in the document
        assert chunk.metadata["end"] - chunk.metadata["start"] == len(chunk.text)


def test_docx_tables_are_rows_in_document_order():
    document = docx.Document()
    document.add_paragraph("Before the table.")
    table = document.add_table(rows=len(SHARING), cols=3)
    for r, values in enumerate(SHARING):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    document.add_paragraph("After the table.")
    out = io.BytesIO()
    document.save(out)

    text = load_bytes("sharing.docx", out.getvalue()).pages[0].text

    assert text.index("Before the table.") < text.index(ROWS[0]) < text.index("After the table.")
    assert all(row in text.splitlines() for row in ROWS)


def test_html_table_rows_become_lines():
    cells = "".join(
        "<tr>"
        + "".join(f"<{'th' if n == 0 else 'td'}>{v}</{'th' if n == 0 else 'td'}>" for v in row)
        + "</tr>"
        for n, row in enumerate(SHARING)
    )
    html = (
        "<html><body><article><h1>Data sharing</h1><p>The Eugene Police Department shares plate reads "
        "with the agencies in the table below, according to its transparency portal.</p>"
        f"<table>{cells}</table><p>The table is updated whenever an agreement is signed or ends, "
        "and it is reviewed by the audit unit.</p></article></body></html>"
    ).encode()

    lines = load_bytes("portal.html", html).pages[0].text.splitlines()

    assert all(row in lines for row in ROWS), lines


def test_a_headerless_table_joins_cells_and_a_merged_cell_is_kept_once():
    lines, header = table_lines([["1", "Springfield PD", "2021"], ["2", "Salem PD", "2023"]])
    assert header is None and lines == ["1; Springfield PD; 2021", "2; Salem PD; 2023"]

    lines, _ = table_lines([["Control #", "Objective", None], ["1", "Written policy", "Written policy"]])
    assert lines == ["Control #: 1; Objective: Written policy"]


def test_a_table_continued_on_the_next_page_keeps_its_header():
    lines, header = table_lines([SHARING[0], SHARING[1]])
    more, _ = table_lines([SHARING[2], SHARING[3]], header)

    assert more == ROWS[1:]


def test_markdown_table_becomes_row_lines_and_prose_is_kept():
    text = "Intro line.\n| Agency | State |\n|---|---|\n| Salem PD | OR |\nAfter."

    assert markdown_tables_as_rows(text) == "Intro line.\n\nAgency: Salem PD; State: OR\n\nAfter."


def test_csv_cell_over_the_csv_module_limit_is_cut_with_a_marker_not_the_file_refused():
    huge = "x" * 200_000
    data = f"agency,notes\nSpringfield PD,{huge}\nSalem PD,short note\n".encode()

    doc = load_bytes("agencies.csv", data)

    assert len(doc.pages) == 2
    assert "[cut: the cell holds 200,000 characters]" in doc.pages[0].text
    assert len(doc.pages[0].text) < CELL_MAX_CHARS + 200
    assert doc.pages[1].text == "agency: Salem PD. notes: short note."


def test_csv_short_rows_have_no_none_and_extra_cells_are_kept_under_a_generic_header():
    data = b"agency,state,notes\nSpringfield PD,OR\nSalem PD,OR,fine,extra one,extra two\n"

    doc = load_bytes("agencies.csv", data)

    assert doc.pages[0].text == "agency: Springfield PD. state: OR."
    assert "None" not in doc.pages[0].text
    assert (
        doc.pages[1].text
        == "agency: Salem PD. state: OR. notes: fine. Column 4: extra one. Column 5: extra two."
    )
