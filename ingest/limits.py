"""Bounds on what one file may cost to read, checked before the expensive step they protect.

A 700 KB Word file can inflate to gigabytes, a PDF can list millions of objects, an HTML page can
nest deeper than the parser follows: each bound is checked on the cheapest evidence available
(a ZIP's declared sizes, which Python's reader never exceeds; a PDF's trailer; the parsed tree's
depth), so a bad file is refused in milliseconds with a reason instead of taking the batch's memory
and time. Whatever slips past these is stopped by the reading process's own time and memory limits
(`ingest.reader`). The numbers live in `bot.core.settings` (`PLAINSIGHT_MAX_*`, `PLAINSIGHT_OCR_*`).
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, fields
from typing import Any

LIBXML_MAX_DEPTH = 256  # libxml2's HTML parser silently drops whatever is nested deeper


class IngestError(Exception):
    """A file that cannot be ingested, with a reason written for the person who supplied it."""


@dataclass(frozen=True)
class Limits:
    """The bounds for one file; field names are the settings' names."""

    read_timeout_s: float
    read_memory_mb: int
    max_decompressed_mb: float
    max_xml_mb: float
    max_zip_entries: int
    max_elements: int
    max_html_mb: float
    max_html_depth: int
    max_pdf_pages: int
    max_pdf_objects: int
    max_text_mb: float
    ocr: bool
    ocr_languages: str
    ocr_max_pages: int
    ocr_timeout_s: float
    ocr_dpi: int

    @classmethod
    def from_settings(cls, settings: Any = None) -> Limits:
        if settings is None:
            from bot.core.settings import get_settings

            settings = get_settings()
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


def max_file_bytes(settings: Any) -> int:
    """PLAINSIGHT_MAX_FILE_MB in bytes: the one cap on a file, whether uploaded, fetched or read."""
    return int(settings.max_file_mb * 1_000_000)


def file_too_large(size: int, max_bytes: int, what: str = "the file", at_least: bool = False) -> str:
    """The one wording of the file-size refusal, wherever the file came from."""
    more = "more than " if at_least else ""
    return (
        f"{what} is {more}{size / 1e6:.3g} MB, over the {max_bytes / 1e6:g} MB limit (PLAINSIGHT_MAX_FILE_MB)"
    )


def over(what: str, amount: float, limit: float, setting: str, unit: str = "") -> IngestError:
    """The refusal for a bound: what, how much, the limit and the setting that raises it."""

    def fmt(x: float) -> str:
        return f"{x:,.0f}" if x >= 10 or float(x).is_integer() else f"{x:.2g}"

    return IngestError(
        f"{what} {fmt(amount)}{unit}, over the limit of {fmt(limit)}{unit} "
        f"(PLAINSIGHT_{setting.upper()}); split the file, or raise the limit if you trust it"
    )


def check_zip(data: bytes, limits: Limits, kind: str = "Word file") -> None:
    """Refuse a ZIP-based file (DOCX) whose parts would inflate past the limits, before any part is
    decompressed. The declared sizes are safe to trust: Python's ZIP reader never returns more than
    a part declares, and a part that holds more fails its CRC check."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise IngestError(f"corrupt or unreadable {kind} (not a valid ZIP archive)") from exc
    if len(infos) > limits.max_zip_entries:
        raise over(f"the {kind} holds parts:", len(infos), limits.max_zip_entries, "max_zip_entries")
    total = sum(i.file_size for i in infos) / 1e6
    if total > limits.max_decompressed_mb:
        raise over(
            f"the {kind} decompresses to", total, limits.max_decompressed_mb, "max_decompressed_mb", " MB"
        )
    elements = 0
    for info in infos:
        if not info.filename.endswith((".xml", ".rels")):
            continue
        if info.file_size / 1e6 > limits.max_xml_mb:
            raise over(f"its part {info.filename} decompresses to", info.file_size / 1e6,
                       limits.max_xml_mb, "max_xml_mb", " MB")  # fmt: skip
        if info.filename.startswith("word/") or info.filename.startswith("xl/"):
            with archive.open(info) as part:
                xml = part.read()
            elements += xml.count(b"<") - xml.count(b"</")  # start tags: elements, near enough
            if elements > limits.max_elements:
                raise IngestError(
                    f"the {kind} holds over {limits.max_elements:,} XML elements, the limit "
                    "(PLAINSIGHT_MAX_ELEMENTS); split the file, or raise the limit if you trust it"
                )


def check_text_size(chars: int, limits: Limits, what: str = "the file's text is") -> None:
    if chars / 1e6 > limits.max_text_mb:
        raise over(what, chars / 1e6, limits.max_text_mb, "max_text_mb", " MB")


class Deadline:
    """A point in time a step must finish by; `check` raises the refusal once it has passed."""

    def __init__(self, seconds: float, setting: str, what: str) -> None:
        self.seconds, self.setting, self.what = seconds, setting, what
        self.start = time.monotonic()

    @property
    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def check(self, progress: str = "") -> None:
        if self.left <= 0:
            where = f" ({progress})" if progress else ""
            raise IngestError(
                f"{self.what} took longer than {self.seconds:g} s{where}, the limit "
                f"(PLAINSIGHT_{self.setting.upper()}); split the file or raise the limit"
            )
