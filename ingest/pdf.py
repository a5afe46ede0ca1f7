"""PDF -> pages of text: the text layer (pypdf), tables as rows (pdfplumber), scans by OCR.

* Encryption: most "encrypted" PDFs (every signed or DocuSigned contract) open with an empty user
  password and are read like any other; AES needs the `cryptography` package, declared for that.
  One that needs a real password is refused with what to do about it.
* Bounds first (`ingest.limits`): the trailer's object count and the page count are checked
  before any page is parsed.
* Tables: pdfplumber finds ruled tables, but parsing a page with it costs ten times pypdf's, so it
  only looks at pages whose content stream draws enough lines and rectangles to hold one. On a
  page with a table, pdfplumber's text replaces pypdf's: the text above, between and below the
  tables, and each table as row lines (`ingest.tables`).
* Scans: a page whose text layer is (nearly) empty is rendered and recognised (`ingest.ocr`); the
  page keeps its number and records its OCR confidence.
* Running headers and footers (lines on at least half the pages, three or more) are dropped: they
  would sit in every chunk, match every question naming the agency, and be quoted.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

from ingest.document import LoadedDocument, Page
from ingest.limits import Deadline, IngestError, Limits, check_text_size, over
from ingest.ocr import Progress, ocr_images, render_pdf_pages
from ingest.tables import table_lines

MIN_TEXT_CHARS = 20  # fewer non-blank characters on a page: no text layer worth keeping, OCR it
# rectangles ("x y w h re") and line segments ("x y l") in a content stream
DRAWING_OPS = re.compile(rb"(?:-?[\d.]+\s+){3}-?[\d.]+\s+re\s|-?[\d.]+\s+-?[\d.]+\s+l\s")
MIN_DRAWING_OPS = 12  # fewer: no ruled table on the page, pdfplumber is not asked
KEEP_SHARE = 0.8  # pdfplumber's page text replaces pypdf's only if it keeps this share of its letters
PASSWORD_PROTECTED = "password-protected PDF: ask the sender for an unprotected copy"


def open_reader(data: bytes, limits: Limits):
    """A pypdf reader, decrypted with the empty password if need be, within the object and page
    limits."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise IngestError(PASSWORD_PROTECTED)
            except DependencyError as exc:
                raise IngestError(
                    "could not read: the PDF is AES-encrypted and the 'cryptography' package is "
                    "missing (pip install cryptography) — please report this"
                ) from exc
        objects = int(reader.trailer.get("/Size", 0) or 0)
        if objects > limits.max_pdf_objects:
            raise over("the PDF lists objects:", objects, limits.max_pdf_objects, "max_pdf_objects")
        count = len(reader.pages)
    except IngestError:
        raise
    except FileNotDecryptedError as exc:
        raise IngestError(PASSWORD_PROTECTED) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError) as exc:
        raise IngestError(f"corrupt or unreadable PDF ({exc.__class__.__name__})") from exc
    if count > limits.max_pdf_pages:
        raise over("the PDF has pages:", count, limits.max_pdf_pages, "max_pdf_pages")
    return reader


def _page_text(page: Any) -> str:
    from pypdf.errors import PdfReadError

    try:
        return page.extract_text() or ""
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError):
        return ""  # one broken page does not cost the document its other pages


def _draws_a_table(page: Any) -> bool:
    try:
        contents = page.get_contents()
        stream = contents.get_data() if contents is not None else b""
    except Exception:  # noqa: BLE001 - a content stream pypdf cannot decode: no table search
        return False
    return len(DRAWING_OPS.findall(stream, 0, 2_000_000)) >= MIN_DRAWING_OPS


def tables_text(data: bytes, numbers: list[int], deadline: Deadline) -> dict[int, str]:
    """Page text with tables as row lines, for the pages (1-based) that hold a ruled table."""
    import pdfplumber

    found: dict[int, str] = {}
    header: list[str] | None = None
    previous = -1
    with pdfplumber.open(io.BytesIO(data), password="") as pdf:
        for number in numbers:
            deadline.check(f"finding tables on page {number}")
            page = pdf.pages[number - 1]
            tables = [
                t for t in page.find_tables() if len(t.rows) >= 2 and max(len(r.cells) for r in t.rows) >= 2
            ]
            if not tables:
                continue
            x0, top, x1, bottom = page.bbox
            parts, y = [], top
            if number != previous + 1:
                header = None
            for table in sorted(tables, key=lambda t: t.bbox[1]):
                if table.bbox[1] > y:
                    parts.append(page.crop((x0, y, x1, table.bbox[1])).extract_text() or "")
                lines, header = table_lines(table.extract(), header)
                parts.append("\n".join(lines))
                y = max(y, table.bbox[3])
            if y < bottom:
                parts.append(page.crop((x0, y, x1, bottom)).extract_text() or "")
            found[number] = "\n\n".join(p.strip("\n") for p in parts if p.strip())
            previous = number
            page.close()
    return found


def load_pdf(data: bytes, limits: Limits, progress: Progress | None = None):
    """The PDF's pages (numbered from 1), its /Title, and its first page as read (running lines
    included: a running header often names the document)."""
    reader = open_reader(data, limits)
    deadline = Deadline(limits.read_timeout_s, "read_timeout_s", "reading the PDF")
    texts: list[str] = []
    with_tables: list[int] = []
    for number, page in enumerate(reader.pages, 1):
        deadline.check(f"page {number}")
        texts.append(_page_text(page))
        if _draws_a_table(page):
            with_tables.append(number)
        check_text_size(sum(len(t) for t in texts), limits)
    scanned = [n for n, t in enumerate(texts, 1) if _letters(t) < MIN_TEXT_CHARS]
    if with_tables:
        try:
            for number, text in tables_text(data, with_tables, deadline).items():
                if _letters(text) >= KEEP_SHARE * _letters(texts[number - 1]):  # else it lost text
                    texts[number - 1] = text
        except IngestError:
            raise
        except Exception:  # noqa: BLE001 - pdfplumber cannot parse what pypdf did: keep pypdf's text
            pass
    pages = [Page(t, n) for n, t in enumerate(texts, 1)]
    if scanned and len(scanned) < len(pages):
        scanned = [n for n in scanned if _has_image(reader.pages[n - 1])]
    if scanned:
        if not limits.ocr:
            if len(scanned) == len(pages):
                raise IngestError(
                    "no extractable text: a scanned PDF, and OCR is turned off (PLAINSIGHT_OCR)"
                )
        else:
            images = render_pdf_pages(data, scanned, limits)
            for number, found in ocr_images(images, len(scanned), limits, progress).items():
                if found.text.strip():
                    pages[number - 1] = Page(found.text, number, found.confidence)
    if not any(p.text.strip() for p in pages):
        raise IngestError(
            "no extractable text: the pages look scanned or blank, and OCR found no words on them"
        )
    title = None
    try:
        raw = (reader.metadata or {}).get("/Title") if reader.metadata else None
        title = str(raw) if raw else None
    except Exception:  # noqa: BLE001 - a broken info dictionary costs only the title
        title = None
    return LoadedDocument(without_running_lines(pages), {}), title, pages[0].text if pages else ""


def _letters(text: str) -> int:
    return len("".join(text.split()))


def _has_image(page: Any) -> bool:
    """Whether a page draws an image (so a near-empty text layer may be a scan worth OCR)."""
    try:
        resources = page.get("/Resources") or {}
        xobjects = resources.get_object().get("/XObject") or {}
        return any(
            x.get_object().get("/Subtype") in ("/Image", "/Form") for x in xobjects.get_object().values()
        )
    except Exception:  # noqa: BLE001 - unknown: let OCR look
        return True


def without_running_lines(pages: list) -> list:
    """Pages without their running headers and footers ("Policy Manual ... Copyright Lexipol",
    "Page 3 of 12"): lines that recur on at least half the pages (3 or more) of a document."""

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.split())).lower()

    seen = Counter(k for p in pages for k in {key(line) for line in p.text.splitlines() if line.strip()})
    running = {k for k, n in seen.items() if n >= max(3, len(pages) / 2)}
    if not running:
        return pages
    return [
        Page(
            "\n".join(line for line in p.text.splitlines() if key(line) not in running),
            p.number,
            p.ocr_confidence,
        )  # fmt: skip
        for p in pages
    ]
