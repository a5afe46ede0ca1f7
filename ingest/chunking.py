"""Documents -> chunks that follow the document's structure.

Text is cut at Markdown headings first (each chunk remembers its section heading), then by
LangChain's recursive splitter at paragraphs, lines, sentences and words, with overlap so a fact
that straddles a boundary is still found. Rows of a CSV or JSON file are already self-contained
passages and are kept whole; a table inside a page is one line per row (`ingest.tables`), and the
splitter cuts at line ends before anything smaller, so a row stays whole too. Every piece knows its
page, its character offsets in the document text, and its page's OCR confidence if it was a scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.document import LoadedDocument

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
SEPARATORS = ["\n\n", "\n", r"(?<=[.!?])\s+", r"(?<=[;:])\s+", " ", ""]
PAGE_JOIN = "\n\n"


@dataclass(frozen=True)
class Piece:
    """One chunk's text and where it came from."""

    text: str
    page: int | None
    section: str
    start: int
    end: int
    ocr_confidence: float | None = None


def _sections(text: str, heading: str) -> list[tuple[str, int, str]]:
    """(heading, offset, body) spans; text before the first heading keeps `heading`."""
    spans, cursor, current = [], 0, heading
    for match in HEADING.finditer(text):
        spans.append((current, cursor, text[cursor : match.start()]))
        current, cursor = match.group(2).strip(), match.end()
    spans.append((current, cursor, text[cursor:]))
    return [s for s in spans if s[2].strip()]


def split_document(doc: LoadedDocument, chunk_size: int, chunk_overlap: int) -> list[Piece]:
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=SEPARATORS,
        is_separator_regex=True,
        add_start_index=True,
    )
    pieces: list[Piece] = []
    offset, heading = 0, ""
    for page in doc.pages:
        if doc.rows and len(page.text) <= chunk_size * 2:
            if page.text.strip():
                pieces.append(
                    Piece(
                        page.text.strip(),
                        page.number,
                        "",
                        offset,
                        offset + len(page.text),
                        page.ocr_confidence,
                    )
                )
        else:
            for section, base, body in _sections(page.text, heading):
                heading = section
                for part in splitter.create_documents([body]):
                    start = offset + base + part.metadata["start_index"]
                    text = part.page_content
                    pieces.append(
                        Piece(text, page.number, section, start, start + len(text), page.ocr_confidence)
                    )
        offset += len(page.text) + len(PAGE_JOIN)
    return pieces
