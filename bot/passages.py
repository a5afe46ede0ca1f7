"""Show me where it says that: a cited passage in its document, and its PDF page with the quote marked.

A resident decides whether to believe "[1]" by reading the source, so a citation opens its
passage as stored, with the passages before and after it, what kind of source the document is,
its original's address (at the page, for a PDF) and, for this project's own explainers, the primary
sources they rest on. The quote is marked only where it occurs in the stored text character for
character (`quote_start`); a near match is not passed off as the source's words.

A PDF passage's page is drawn from the kept original (`bot.core.originals`) by PDFium, through
pdfplumber, whose character boxes place the mark: the quote is matched against the page's
characters ignoring spaces, hyphens, case and typographic quotes, because the stored text was
extracted with its lines joined. Pages are drawn at most `MAX_SIDE` pixels on their longer side
and the last `CACHED_PAGES` drawings are kept, by the file's SHA-256, page and quote.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

from bot.core.safe_text import web_url
from bot.core.store import Chunk, DocRecord, Store
from bot.retrieve import REFERENCE_SECTIONS
from bot.source_kinds import source_kind

QUOTE_MAX = 2000  # characters of a quote looked for (a citation's quote is at most 1,200 in practice)
MAX_SIDE = 1600  # pixels on the longer side of a page image
CACHED_PAGES = 32  # page images kept in memory (each ~100-400 KB)
HIGHLIGHT = (255, 214, 0, 96)  # semi-transparent yellow over the quoted characters
EDGE = (214, 160, 0, 160)
CELL = re.compile(r";\s+|:\s+|\n")  # between a table row's headers and values (`ingest.tables`)
CELL_GAP = 400  # letters of the page between two cells of one row
CHUNK_ID = re.compile(r"(?P<doc>.+)#(?P<n>[0-9]{1,9})")
ITEM = re.compile(r"^\s*[-*]\s+(\S.*)$", re.M)
URL = re.compile(r"https?://\S+")
DATE_LIKE = re.compile(r"\b(?:1[89]|20)\d\d\b|\bundated\b", re.I)
SKIPPED = {"-", "\u00ad", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014"}  # hyphens break lines
FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
TEXT_FROM = {  # how the stored text was made from the original, by its file type
    ".pdf": "The text was extracted from the PDF: its line breaks, hyphens, running headers and tables "
    "may differ from the page.",
    ".html": "This is the web page's main text as read when it was indexed, without its menus and "
    "layout; the page online may have changed since.",
    ".docx": "The text was extracted from the Word file, without its layout.",
    ".csv": "Each row of the dataset is shown as its column names and values.",
    ".json": "Each record of the dataset is shown as its field names and values.",
}
TEXT_FROM[".htm"] = TEXT_FROM[".html"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    """One stored chunk of a document."""

    chunk_id: str  # "<doc_id>#<n>"
    n: int
    text: str  # the chunk's stored text
    page: int | None  # 1-based, for paged formats
    section: str

    @classmethod
    def of(cls, chunk: Chunk) -> Passage:
        page = chunk.metadata.get("page")
        return cls(
            chunk.id,
            int(chunk.metadata.get("chunk", 0)),
            chunk.text,
            int(page) if page is not None else None,
            str(chunk.metadata.get("section", "")),
        )


@dataclass(frozen=True)
class ExplainerSource:
    """One primary source an explainer lists under its "Sources" heading."""

    title: str
    publisher: str
    date: str
    url: str  # "" when not recorded, or not an http(s) address


@dataclass(frozen=True)
class PassageView:
    """A cited passage in its document: what the view and `GET /v1/documents/.../passages/...` show."""

    document: DocRecord
    kind: str  # `bot.source_kinds.source_kind` of the document
    passage: Passage
    before: Passage | None  # the chunk before it in the document
    after: Passage | None
    quote: str
    quote_start: int | None  # `quote` in `passage.text`, only where it occurs character for character
    quote_end: int | None
    original_url: str  # the document's http(s) source, at "#page=N" for a PDF passage; else ""
    page_image: bool  # the passage's page can be drawn (`page_png`): a kept PDF and a page number
    sources: tuple[ExplainerSource, ...]  # what an explainer rests on
    note: str  # "", or how the stored text may differ from the original


def chunk_number(doc_id: str, chunk_id: str) -> int | None:
    """n of a chunk id "<doc_id>#<n>" that names this document, else None."""
    match = CHUNK_ID.fullmatch(chunk_id)
    return int(match["n"]) if match and match["doc"] == doc_id else None


def passage_view(store: Store, doc_id: str, chunk_id: str, quote: str = "") -> PassageView | None:
    """The passage `chunk_id` of the document `doc_id` with its neighbours, the quote located in
    it, and what the reader needs to check it; None when the document is not (or no longer)
    indexed or the chunk is not one of its passages."""
    n = chunk_number(doc_id, chunk_id)
    if n is None:
        return None
    store.fingerprint()  # an embedded store sees another process's changes
    record = store.document(doc_id)
    if record is None:
        return None
    ids = [f"{doc_id}#{i}" for i in (n - 1, n, n + 1) if i >= 0]
    stored = store.chunks(ids).items()  # of this version only: a crash may leave another's
    found = {i: c for i, c in stored if c.metadata.get("content_hash") == record.content_hash}
    if chunk_id not in found:
        return None
    chunk = found[chunk_id]
    passage = Passage.of(chunk)
    quote = quote[:QUOTE_MAX]
    start = passage.text.find(quote) if quote else -1
    kept = store.originals.path(record.file_sha256)  # None when not kept (or indexed before)
    is_pdf = (kept.suffix if kept else Path(record.source).suffix).lower() == ".pdf"
    kind = source_kind(chunk.metadata)
    before, after = (found.get(f"{doc_id}#{i}") for i in (n - 1, n + 1))
    return PassageView(
        document=record,
        kind=kind,
        passage=passage,
        before=Passage.of(before) if before else None,
        after=Passage.of(after) if after else None,
        quote=quote,
        quote_start=start if start >= 0 else None,
        quote_end=start + len(quote) if start >= 0 else None,
        original_url=original_url(record.source_url, passage.page if is_pdf else None),
        page_image=bool(kept and is_pdf and passage.page is not None),
        sources=explainer_sources(store, record) if kind == "explainer" else (),
        note=note(record, chunk.metadata, kept),
    )


def original_url(source_url: str, page: int | None) -> str:
    """The source's address when it is http(s), at the page for a PDF ("#page=N", which PDF
    viewers in browsers open at)."""
    if not web_url(source_url):
        return ""
    url = source_url.strip()
    return f"{urldefrag(url).url}#page={page}" if page is not None else url


def note(record: DocRecord, meta: dict[str, Any], kept: Path | None) -> str:
    """What a reader should know before comparing the stored text with the original."""
    reasons = []
    if meta.get("ocr"):
        confidence = meta.get("ocr_confidence")
        how_sure = f" ({float(confidence):.0f}% confidence)" if confidence is not None else ""
        reasons.append(
            f"This passage was read from a scanned image by OCR{how_sure}: its words may differ from "
            "the original."
        )
    if kept is None:
        reasons.append(
            "The original file is not kept here, so this text, as read when the document was indexed, "
            "cannot be compared with it."
        )
    suffix = (kept.suffix if kept else Path(record.source).suffix).lower()
    if suffix in TEXT_FROM and not meta.get("ocr"):
        reasons.append(TEXT_FROM[suffix])
    return " ".join(reasons)


def explainer_sources(store: Store, record: DocRecord) -> tuple[ExplainerSource, ...]:
    """The items of the document's "Sources" (or "References") section, in order. The section is
    put back together from its chunks by their offsets, so an item cut by a chunk boundary or
    repeated in two chunks' overlap is read once, whole."""
    chunks = [
        c
        for c in store.iter_chunks(where={"doc_id": record.doc_id})
        if str(c.metadata.get("section", "")).lower() in REFERENCE_SECTIONS
        and c.metadata.get("content_hash") == record.content_hash
    ]
    text, reached = "", -1
    for chunk in sorted(chunks, key=lambda c: int(c.metadata.get("start", 0))):
        start = int(chunk.metadata.get("start", 0))
        text += chunk.text[reached - start :] if start < reached else "\n" + chunk.text
        reached = max(reached, start + len(chunk.text))
    return tuple(parse_source(m.group(1).strip()) for m in ITEM.finditer(text))


def parse_source(item: str) -> ExplainerSource:
    """One item, in the corpus's form "Title — Publisher, Date, URL": the URL may be "URL not
    recorded (...)", a publisher may hold commas inside parentheses, the date may be missing."""
    title, dash, rest = item.rpartition(" — ")
    if not dash:
        title, rest = item, ""
    link = URL.search(rest)
    url = link.group(0).rstrip(".,;") if link else ""
    head = rest[: link.start()] if link else re.split(r"\bURL not recorded\b", rest)[0]
    parts = [p.strip() for p in top_level_commas(head) if p.strip()]
    date = parts.pop() if len(parts) > 1 and DATE_LIKE.search(parts[-1]) else ""
    return ExplainerSource(title.strip(), ", ".join(parts), date, url if web_url(url) else "")


def top_level_commas(text: str) -> list[str]:
    """`text` split at commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth <= 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def page_png(store: Store, doc_id: str, page: int, quote: str = "") -> bytes | None:
    """Page `page` (1-based) of the document's kept PDF as a PNG, the quote's characters marked in
    semi-transparent yellow; None when the document is unknown, its original is not a kept PDF,
    or it has no such page."""
    record = store.document(doc_id)
    if record is None or page < 1:
        return None
    kept = store.originals.path(record.file_sha256)
    if kept is None or kept.suffix.lower() != ".pdf":
        return None
    return _drawn(str(kept), record.file_sha256, page, quote[:QUOTE_MAX])


@lru_cache(maxsize=CACHED_PAGES)
def _drawn(path: str, sha256: str, page: int, quote: str) -> bytes | None:
    """The drawing, cached by file hash, page and quote (`path` is named by the hash)."""
    import pdfplumber

    try:
        with pdfplumber.open(path, pages=[page], password="") as pdf:
            if not pdf.pages:
                return None
            sheet = pdf.pages[0]
            x0, top, x1, bottom = sheet.cropbox
            scale = (MAX_SIDE - 0.5) / max(x1 - x0, bottom - top)  # PDFium rounds the pixels up
            image = sheet.to_image(resolution=72 * scale, antialias=True)
            image.draw_rects(quote_boxes(sheet.chars, quote), fill=HIGHLIGHT, stroke=EDGE, stroke_width=1)
            out = io.BytesIO()
            image.save(out, format="PNG")  # 256 colours: a third of the size, the mark as clear
            return out.getvalue()
    except Exception as exc:  # noqa: BLE001 - a page PDFium or pdfminer cannot draw: the text view remains
        log.warning("could not draw page %d of %s: %s", page, sha256[:12], type(exc).__name__)
        return None


def folded(text: str) -> str:
    """What is compared between the stored text and a page's characters: no spaces or hyphens,
    compatibility forms (ligatures) and case folded, typographic quotes made plain."""
    return "".join(
        c for c in unicodedata.normalize("NFKC", text).casefold().translate(FOLD)
        if not c.isspace() and c not in SKIPPED
    )  # fmt: skip


def spans(page: str, quote: str) -> list[tuple[int, int]]:
    """Where the folded `quote` is in the folded page text: whole, or else, for a table row stored
    as "Header: value; Header: value" (its headers printed once, above), each of its cells in
    order, none more than `CELL_GAP` letters after the one before."""
    wanted = folded(quote)
    at = page.find(wanted) if wanted else -1
    if at >= 0:
        return [(at, at + len(wanted))]
    found: list[tuple[int, int]] = []
    for cell in filter(None, map(folded, CELL.split(quote))):
        at = page.find(cell, found[-1][1] if found else 0)
        if at >= 0 and (not found or at - found[-1][1] <= CELL_GAP):
            found.append((at, at + len(cell)))
    return found if sum(b - a for a, b in found) >= len(wanted) / 2 else []


def quote_boxes(chars: list[dict[str, Any]], quote: str) -> list[tuple[float, float, float, float]]:
    """The boxes (x0, top, x1, bottom, in page points) of the page characters that spell `quote`,
    one per line of it; none when the page does not spell it."""
    letters, owner = [], []
    for i, char in enumerate(chars):
        for c in folded(char.get("text", "")):
            letters.append(c)
            owner.append(i)
    boxes: list[list[float]] = []
    for i in sorted({owner[k] for a, b in spans("".join(letters), quote) for k in range(a, b)}):
        char = chars[i]
        box = [char["x0"], char["top"], char["x1"], char["bottom"]]
        last = boxes[-1] if boxes else None
        if last and box[1] < last[3] and box[3] > last[1] and box[0] >= last[0] - 1:  # same line
            last[:] = [last[0], min(last[1], box[1]), max(last[2], box[2]), max(last[3], box[3])]
        else:
            boxes.append(box)
    return [(b[0] - 1, b[1] - 1, b[2] + 1, b[3] + 1) for b in boxes]
