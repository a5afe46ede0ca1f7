"""Files -> `LoadedDocument`: the text (with page numbers where the format has pages) and metadata.

Each format is read by a well-kept library (pypdf, python-docx, trafilatura for HTML main text,
the csv module). Anything a resident or staff member could do wrong with a file raises
`IngestError` with a reason a person can act on; the pipeline reports it and moves on.

Metadata comes from Markdown front matter, or from a sidecar `NAME.meta.yaml` beside any other
file; what neither gives falls back to the document itself (its title) and the file name (doc_id).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

# libyaml's parser where PyYAML has it (same safe constructor, same values): the pure-Python one
# took more of a Markdown file's ingest than reading and chunking it
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DOC_TYPES = {
    "policy", "ordinance", "statute", "report", "news", "explainer", "faq", "records-response",
    "dataset", "other",
}  # fmt: skip
META_FIELDS = (
    "doc_id", "title", "source_url", "publisher", "published", "jurisdiction", "doc_type",
    "topics", "language",
)  # fmt: skip
SUPPORTED = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".csv", ".json"}
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
PAGE_MARKER = re.compile(r"^\[page (\d+)\]\s*$", re.M)
URL_ONLY = re.compile(r"^https?://\S+$")
SOURCE_URL_HINT = re.compile(r"source url:\s*(https?://[^\s\]]+)", re.I)


class IngestError(Exception):
    """A file that cannot be ingested, with a reason written for the person who supplied it."""


@dataclass
class Page:
    """A run of text; `number` is the 1-based page for paged formats, else None."""

    text: str
    number: int | None = None


@dataclass
class LoadedDocument:
    """What a loader produces: pages of text, metadata, and whether rows are passages."""

    pages: list[Page]
    meta: dict[str, Any] = field(default_factory=dict)
    rows: bool = False  # True for tables: every page is one self-contained passage


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "document"


def decode_text(data: bytes) -> str:
    """Bytes -> str: UTF-8 (with or without BOM) first, else the detected encoding."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError("binary data, not text: is the file extension right?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    found = from_bytes(data)
    best = found.best()
    if best is None:
        raise IngestError("unreadable text encoding")
    # Short Western text decodes the same in several code pages, and the detector breaks the tie
    # alphabetically (cp1250 wins: "où" becomes "oů"). Legacy files here are overwhelmingly
    # Windows-1252, so it wins any tie it is part of.
    for match in found:
        if (match.chaos, match.coherence) == (best.chaos, best.coherence):
            if "cp1252" in match.could_be_from_charset:
                return data.decode("cp1252", errors="replace")
    return str(best)


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.load(match.group(1), Loader=YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        raise IngestError(f"front matter is not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(meta, dict):
        raise IngestError("front matter must be a YAML mapping")
    return meta, text[match.end() :]


def _load_markdown(data: bytes) -> LoadedDocument:
    meta, body = _front_matter(decode_text(data))
    return LoadedDocument([Page(body)], meta)


def _load_text(data: bytes) -> LoadedDocument:
    text = decode_text(data)
    markers = list(PAGE_MARKER.finditer(text))
    if not markers:
        return LoadedDocument([Page(text)])
    pages = []
    for i, m in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        pages.append(Page(text[m.end() : end], int(m.group(1))))
    return LoadedDocument(pages)


def _load_html(data: bytes) -> LoadedDocument:
    import trafilatura

    html = decode_text(data)
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    meta: dict[str, Any] = {}
    found = trafilatura.extract_metadata(html)
    if found is not None:
        for key, value in (("title", found.title), ("publisher", found.sitename),
                           ("published", found.date), ("source_url", found.url)):  # fmt: skip
            if value:
                meta[key] = value
    return LoadedDocument([Page(text or "")], meta)


def _load_pdf(data: bytes) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError("the PDF is encrypted (password-protected); save an unlocked copy")
        pages = [Page(page.extract_text() or "", n) for n, page in enumerate(reader.pages, 1)]
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"corrupt or unreadable PDF ({exc.__class__.__name__})") from exc
    except Exception as exc:  # pypdf raises many kinds on malformed files
        if "encrypt" in str(exc).lower() or "crypt" in exc.__class__.__name__.lower():
            raise IngestError("the PDF is encrypted and cannot be opened here") from exc
        raise IngestError(f"corrupt or unreadable PDF ({exc.__class__.__name__})") from exc
    if pages and not any(p.text.strip() for p in pages):
        raise IngestError("no extractable text: it looks like a scanned PDF; OCR is not supported yet")
    title = _pdf_title(str(title) if title else None) or _title_from_text(pages[0].text if pages else "")
    return LoadedDocument(_without_running_lines(pages), {"title": title} if title else {})


def _without_running_lines(pages: list[Page]) -> list[Page]:
    """Pages without their running headers and footers ("Policy Manual ... Copyright Lexipol",
    "Page 3 of 12"): lines that recur on at least half the pages (3 or more) of a document. They
    would otherwise sit in every chunk, match every question naming the agency, and be quoted."""

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.split())).lower()

    seen = Counter(k for p in pages for k in {key(line) for line in p.text.splitlines() if line.strip()})
    running = {k for k, n in seen.items() if n >= max(3, len(pages) / 2)}
    if not running:
        return pages
    return [
        Page("\n".join(line for line in p.text.splitlines() if key(line) not in running), p.number)
        for p in pages
    ]


def _load_docx(data: bytes) -> LoadedDocument:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zip, XML and key errors on bad files
        raise IngestError(f"corrupt or unreadable Word file ({exc.__class__.__name__})") from exc
    lines = []
    for para in document.paragraphs:
        style = (para.style.name or "").lower() if para.style is not None else ""
        text = para.text.strip()
        if not text:
            continue
        if style.startswith("heading") or style == "title":
            level = int(style[-1]) if style[-1:].isdigit() else 1
            lines.append("#" * min(level + 1, 6) + " " + text)
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    title = document.core_properties.title
    return LoadedDocument([Page("\n\n".join(lines))], {"title": title} if title else {})


def row_passage(row: dict[str, Any]) -> str:
    """A table row as a sentence-like passage that names its columns.

    Bare URLs are left out: they read badly as an answer and cost the embedding model half its
    token budget on a typical Atlas of Surveillance row; the file's own source_url is kept.
    """
    parts = [
        f"{k.strip()}: {str(v).strip()}"
        for k, v in row.items()
        if k and str(v).strip() and not URL_ONLY.match(str(v).strip())
    ]
    return ". ".join(p.rstrip(".") for p in parts) + "."


def _load_csv(data: bytes) -> LoadedDocument:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.DictReader(io.StringIO(text), dialect=dialect))
    except csv.Error as exc:
        raise IngestError(f"malformed CSV ({exc})") from exc
    pages = [Page(row_passage(r), n) for n, r in enumerate(rows, 1) if any(r.values())]
    return LoadedDocument(pages, rows=True)


def _load_json(data: bytes) -> LoadedDocument:
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise IngestError(f"invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    if isinstance(value, dict):
        items = [{"key": k, "value": v} for k, v in value.items()]
    elif isinstance(value, list):
        items = value
    else:
        raise IngestError("JSON must be a list of records or an object")
    pages = []
    for n, item in enumerate(items, 1):
        if isinstance(item, dict):
            flat = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                    for k, v in item.items()}  # fmt: skip
            pages.append(Page(row_passage(flat), n))
        else:
            pages.append(Page(str(item), n))
    return LoadedDocument(pages, rows=True)


LOADERS = {
    ".md": _load_markdown, ".markdown": _load_markdown, ".txt": _load_text,
    ".html": _load_html, ".htm": _load_html, ".pdf": _load_pdf, ".docx": _load_docx,
    ".csv": _load_csv, ".json": _load_json,
}  # fmt: skip


def sidecar_path(path: Path) -> Path | None:
    """`report.meta.yaml` or `report.pdf.meta.yaml` beside `report.pdf`, if present."""
    for candidate in (path.with_name(path.stem + ".meta.yaml"), path.with_name(path.name + ".meta.yaml")):
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(path: Path) -> dict[str, Any]:
    side = sidecar_path(path)
    if side is None:
        return {}
    try:
        meta = yaml.load(side.read_text(encoding="utf-8"), Loader=YAML_LOADER) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise IngestError(f"{side.name} is not valid YAML") from exc
    if not isinstance(meta, dict):
        raise IngestError(f"{side.name} must be a YAML mapping")
    return meta


def _title_from_text(text: str) -> str | None:
    """The first line that reads like a title: a few words, not a shouted label, not a note."""
    for line in text.splitlines()[:40]:
        line = line.strip().lstrip("#").strip()
        if line.startswith("[NOTE:") or not 12 <= len(line) <= 200:
            continue
        if len(re.findall(r"[A-Za-z]{2,}", line)) >= 3 and line.upper() != line:
            return line
    return None


def _pdf_title(raw: str | None) -> str | None:
    """PDF /Title, unless it is only a word-processor file name."""
    title = re.sub(r"^Microsoft Word - |\.docx?$", "", (raw or "").strip())
    return title if len(re.findall(r"[A-Za-z]{2,}", title)) >= 3 else None


def _as_str(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    return "" if value is None else str(value).strip()


def normalise_meta(found: dict[str, Any], file_name: str, pages: list[Page]) -> dict[str, str]:
    """Fill the standard fields, with fallbacks from the text and the file name."""
    text_start = "\n".join(p.text for p in pages[:2])[:4000]
    meta = {key: _as_str(found.get(key)) for key in META_FIELDS}
    topics = found.get("topics")
    if isinstance(topics, (list, tuple)):
        meta["topics"] = ", ".join(str(t) for t in topics)
    meta["doc_id"] = slugify(meta["doc_id"] or Path(file_name).stem)
    meta["title"] = meta["title"] or _title_from_text(text_start) or Path(file_name).stem
    if not meta["source_url"] and (hint := SOURCE_URL_HINT.search(text_start)):
        meta["source_url"] = hint.group(1)
    meta["doc_type"] = meta["doc_type"].lower() or "other"
    if meta["doc_type"] not in DOC_TYPES:
        raise IngestError(f"doc_type '{meta['doc_type']}' is not one of {sorted(DOC_TYPES)}")
    meta["language"] = meta["language"] or "en"
    return meta


def load_bytes(file_name: str, data: bytes, extra_meta: dict[str, Any] | None = None) -> LoadedDocument:
    """Parse one file's bytes. `extra_meta` (sidecar or form fields) overrides what the file says."""
    suffix = Path(file_name).suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        raise IngestError(
            f"unsupported file type '{suffix or 'none'}'; supported: {', '.join(sorted(SUPPORTED))}"
        )
    if not data.strip():
        raise IngestError("the file is empty")
    doc = loader(data)
    if not any(p.text.strip() for p in doc.pages):
        raise IngestError("no extractable text in the file")
    found = {**doc.meta, **{k: v for k, v in (extra_meta or {}).items() if v not in (None, "")}}
    doc.meta = normalise_meta(found, file_name, doc.pages)
    return doc
