"""Files -> `LoadedDocument`: the text (with page numbers where the format has pages) and metadata.

Each format is read by a well-kept library (pypdf and pdfplumber for PDF, `ingest.pdf`;
python-docx; trafilatura for HTML main text; the csv module; Tesseract for scans and images,
`ingest.ocr`). Tables become one line per row that names its columns (`ingest.tables`). Every
reader is bounded (`ingest.limits`): a file over a limit is refused before it costs the batch.
Anything a resident or staff member could do wrong with a file raises `IngestError` with a reason
a person can act on; the pipeline reports it and moves on, and anything else a reader raises is
turned into that file's failure too (`ingest.reader`).

Metadata comes from Markdown front matter, or from a sidecar `NAME.meta.yaml` beside any other
file; what neither gives falls back to the document itself (its title) and the file name (doc_id).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.core.vocabulary import DOC_TYPES, SOURCE_KINDS
from ingest.document import LoadedDocument, Page
from ingest.limits import LIBXML_MAX_DEPTH, IngestError, Limits, check_text_size, check_zip, over
from ingest.ocr import Progress as Progress
from ingest.ocr import ocr_images
from ingest.tables import markdown_tables_as_rows, table_lines

# libyaml's parser where PyYAML has it (same safe constructor, same values): the pure-Python one
# took more of a Markdown file's ingest than reading and chunking it
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
META_FIELDS = (
    "doc_id", "title", "source_url", "publisher", "published", "jurisdiction", "doc_type",
    "topics", "language",
)  # fmt: skip
IMAGES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}  # read by OCR
SUPPORTED = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".csv", ".json", *IMAGES}
CELL_MAX_CHARS = 4000  # a longer CSV cell is cut, with a marker, rather than the file refused
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
PAGE_MARKER = re.compile(r"^\[page (\d+)\]\s*$", re.M)
URL_ONLY = re.compile(r"^https?://\S+$")
SOURCE_URL_HINT = re.compile(r"(?:source url:|^\[?note: excerpt of)\s*(https?://[^\s\]]+)", re.I | re.M)

__all__ = ["IngestError", "LoadedDocument", "Page", "load_bytes"]


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


def _load_markdown(data: bytes, *_: Any) -> LoadedDocument:
    meta, body = _front_matter(decode_text(data))
    return LoadedDocument([Page(body)], meta)


def _load_text(data: bytes, *_: Any) -> LoadedDocument:
    text = decode_text(data)
    markers = list(PAGE_MARKER.finditer(text))
    if not markers:
        return LoadedDocument([Page(text)])
    pages = []
    for i, m in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        pages.append(Page(text[m.end() : end], int(m.group(1))))
    return LoadedDocument(pages)


def _check_html(html: str, limits: Limits) -> None:
    """Size, element count and nesting depth, on lxml's tree (fast, in C) before trafilatura's
    Python passes over it. libxml2 silently drops what is nested deeper than 256 levels, so a page
    that deep would lose text without a word: refused instead."""
    import lxml.html
    from lxml import etree

    if len(html) / 1e6 > limits.max_html_mb:
        raise over("the HTML page is", len(html) / 1e6, limits.max_html_mb, "max_html_mb", " MB")
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8", "replace"))
    except (etree.ParserError, ValueError):
        return  # nothing lxml can parse: trafilatura finds no text and says so
    depth = deepest = elements = 0
    for event, _ in etree.iterwalk(tree, events=("start", "end")):
        if event == "start":
            depth, elements = depth + 1, elements + 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    if elements > limits.max_elements:
        raise over("the HTML page holds elements:", elements, limits.max_elements, "max_elements")
    if deepest >= min(limits.max_html_depth, LIBXML_MAX_DEPTH - 1):
        raise IngestError(
            f"the HTML page nests elements {deepest} levels deep or more, deeper than the reader "
            f"follows ({min(limits.max_html_depth, LIBXML_MAX_DEPTH - 1)}, PLAINSIGHT_MAX_HTML_DEPTH); "
            "save the page as PDF or text and add that"
        )


def _load_html(data: bytes, limits: Limits, *_: Any) -> LoadedDocument:
    import trafilatura

    html = decode_text(data)
    _check_html(html, limits)
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    text = markdown_tables_as_rows(text) if text else text
    meta: dict[str, Any] = {}
    found = trafilatura.extract_metadata(html)
    if found is not None:
        for key, value in (("title", found.title), ("publisher", found.sitename),
                           ("published", found.date), ("source_url", found.url)):  # fmt: skip
            if value:
                meta[key] = value
    return LoadedDocument([Page(text or "")], meta)


def _load_pdf(data: bytes, limits: Limits, progress: Progress | None = None) -> LoadedDocument:
    from ingest.pdf import load_pdf

    doc, title, first_page = load_pdf(data, limits, progress)
    title = _pdf_title(title) or _title_from_text(first_page)
    doc.meta = {"title": title} if title else {}
    return doc


def _load_docx(data: bytes, limits: Limits, *_: Any) -> LoadedDocument:
    """Paragraphs (headings as Markdown headings, for sections) and tables, in document order;
    each table row one line that names its columns."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_zip(data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zip, XML and key errors on bad files
        raise IngestError(f"corrupt or unreadable Word file ({exc.__class__.__name__})") from exc
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells, seen = [], set()
                for cell in row.cells:  # a merged cell is repeated across its span: kept once
                    cells.append(cell.text if id(cell._tc) not in seen else "")
                    seen.add(id(cell._tc))
                rows.append(cells)
            if table := table_lines(rows)[0]:
                lines.append("\n".join(table))
            continue
        if not isinstance(block, Paragraph):
            continue
        para = block
        style = (para.style.name or "").lower() if para.style is not None else ""
        text = para.text.strip()
        if not text:
            continue
        if style.startswith("heading") or style == "title":
            level = int(style[-1]) if style[-1:].isdigit() else 1
            lines.append("#" * min(level + 1, 6) + " " + text)
        else:
            lines.append(text)
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


def _cell(value: Any) -> str:
    """A CSV cell's text, cut at `CELL_MAX_CHARS` with a marker that says so."""
    text = str(value).strip()
    if len(text) <= CELL_MAX_CHARS:
        return text
    return f"{text[:CELL_MAX_CHARS].rstrip()} [cut: the cell holds {len(text):,} characters]"


def _csv_row(row: dict[Any, Any], width: int) -> dict[str, str]:
    """A DictReader row without the cells a short row lacks (None), with cells beyond the
    header kept as "Column N"."""
    out = {k: _cell(v) for k, v in row.items() if k is not None and k != "\0extra" and v is not None}
    for i, value in enumerate(row.get("\0extra") or [], width + 1):
        out[f"Column {i}"] = _cell(value)
    return out


def _load_csv(data: bytes, *_: Any) -> LoadedDocument:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(max(len(text) + 1, 131072))  # a huge cell is cut below, not an error
    try:
        reader = csv.DictReader(io.StringIO(text), dialect=dialect, restkey="\0extra")
        width = len(reader.fieldnames or [])
        rows = [_csv_row(r, width) for r in reader]
    except csv.Error as exc:
        raise IngestError(f"malformed CSV ({exc})") from exc
    pages = [Page(row_passage(r), n) for n, r in enumerate(rows, 1) if any(r.values())]
    return LoadedDocument(pages, {"doc_type": "dataset"}, rows=True)


def _fields(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON record's fields, flat: a nested object's fields under "outer.inner", a list of
    plain values as "a; b; c" (a list of objects stays JSON: it is no one field's value)."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(_fields(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    if isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value):
        return {prefix: "; ".join(str(v).strip() for v in value if str(v).strip())}
    return {prefix: json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value}


def _load_json(data: bytes, *_: Any) -> LoadedDocument:
    """A list of records, or an object of them keyed by their name ({"Woodbury PD": {...}}: the
    key becomes the record's "name" field), or of plain values (one "key"/"value" record each)."""
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise IngestError(f"invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    if isinstance(value, dict):
        items = [
            {"name": k, **v} if isinstance(v, dict) else {"key": k, "value": v} for k, v in value.items()
        ]
    elif isinstance(value, list):
        items = value
    else:
        raise IngestError("JSON must be a list of records or an object")
    pages = [
        Page(row_passage(_fields(item)) if isinstance(item, dict) else str(item), n)
        for n, item in enumerate(items, 1)
    ]
    return LoadedDocument(pages, {"doc_type": "dataset"}, rows=True)


def _load_image(data: bytes, limits: Limits, progress: Progress | None = None) -> LoadedDocument:
    """A photo or scan (PNG, JPEG, TIFF): its text by OCR, one page per frame."""
    from ingest.ocr import image_frames

    frames = image_frames(data, limits)
    found = ocr_images(enumerate(frames, 1), len(frames), limits, progress)
    numbered = len(frames) > 1
    pages = [Page(p.text, n if numbered else None, p.confidence) for n, p in sorted(found.items())]
    if not any(p.text.strip() for p in pages):
        raise IngestError("no text found in the image by OCR (is it a photo without writing?)")
    return LoadedDocument(pages)


LOADERS = {
    ".md": _load_markdown, ".markdown": _load_markdown, ".txt": _load_text,
    ".html": _load_html, ".htm": _load_html, ".pdf": _load_pdf, ".docx": _load_docx,
    ".csv": _load_csv, ".json": _load_json, **dict.fromkeys(IMAGES, _load_image),
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
    """The first line that reads like a title: a Markdown heading of the first level, or a few
    words, not a shouted label, not a note."""
    for line in text.splitlines()[:40]:
        if re.match(r"# \S", line) and len(line) <= 202 and line.upper() != line:
            return line[2:].strip()  # "# Stamford cameras" is a title, however short
        line = line.strip().lstrip("#").strip()
        if line.startswith(("[NOTE:", "NOTE: excerpt of")) or not 12 <= len(line) <= 200:
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
    # a dataset's first line is its first record, not its title
    from_text = _title_from_text(text_start) if meta["doc_type"].lower() != "dataset" else None
    meta["title"] = meta["title"] or from_text or Path(file_name).stem
    if not meta["source_url"] and (hint := SOURCE_URL_HINT.search(text_start)):
        meta["source_url"] = hint.group(1)
    meta["doc_type"] = meta["doc_type"].lower() or "other"
    if meta["doc_type"] not in DOC_TYPES:
        raise IngestError(f"doc_type '{meta['doc_type']}' is not one of {sorted(DOC_TYPES)}")
    meta["language"] = meta["language"] or "en"
    # staff's word on the kind of source, when given (only then: the metadata is in the content hash)
    if kind := _as_str(found.get("source_kind")).lower():
        if kind not in SOURCE_KINDS:
            raise IngestError(f"source_kind '{kind}' is not one of {list(SOURCE_KINDS)}")
        meta["source_kind"] = kind
    return meta


def load_bytes(
    file_name: str,
    data: bytes,
    extra_meta: dict[str, Any] | None = None,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> LoadedDocument:
    """Parse one file's bytes. `extra_meta` (sidecar or form fields) overrides what the file says;
    `limits` default to the settings'; `progress(done, total)` hears about OCR'd pages."""
    suffix = Path(file_name).suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        raise IngestError(
            f"unsupported file type '{suffix or 'none'}'; supported: {', '.join(sorted(SUPPORTED))}"
        )
    if not data.strip():
        raise IngestError("the file is empty")
    limits = limits or Limits.from_settings()
    doc = loader(data, limits, progress)
    if not any(p.text.strip() for p in doc.pages):
        raise IngestError("no extractable text in the file")
    check_text_size(sum(len(p.text) for p in doc.pages), limits)
    found = {**doc.meta, **{k: v for k, v in (extra_meta or {}).items() if v not in (None, "")}}
    doc.meta = normalise_meta(found, file_name, doc.pages)
    return doc
