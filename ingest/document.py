"""What every reader produces: pages of text and metadata (`LoadedDocument`).

Its own module so the format readers (`ingest.pdf`, `ingest.ocr`, `ingest.loaders`) and the
chunker share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Page:
    """A run of text; `number` is the 1-based page for paged formats, else None.
    `ocr_confidence` is set when the text was recognised by OCR (Tesseract's mean word
    confidence, 0-100)."""

    text: str
    number: int | None = None
    ocr_confidence: float | None = None


@dataclass
class LoadedDocument:
    """What a loader produces: pages of text, metadata, and whether rows are passages."""

    pages: list[Page]
    meta: dict[str, Any] = field(default_factory=dict)
    rows: bool = False  # True for tables: every page is one self-contained passage
    file_sha256: str = ""  # of the bytes it was read from (set by `ingest.pipeline.read_bytes`)

    @property
    def ocr_pages(self) -> list[Page]:
        return [p for p in self.pages if p.ocr_confidence is not None]

    @property
    def ocr_confidence(self) -> float | None:
        """The OCR'd pages' confidence, weighted by their length; None when nothing was OCR'd."""
        pages = self.ocr_pages
        weight = sum(len(p.text) for p in pages)
        if not pages or not weight:
            return None
        return round(sum(p.ocr_confidence * len(p.text) for p in pages) / weight, 1)
