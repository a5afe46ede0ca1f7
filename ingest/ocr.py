"""Text of scanned pages and images, recognised by Tesseract.

Public-records responses often arrive as scans. A PDF page with no text layer is rendered with
PDFium (`pypdfium2`, the renderer Chrome uses; it opens what pypdf decrypted too) in grey at
`ocr_dpi` and handed to the `tesseract` program; images (PNG, JPEG, TIFF, one page per frame) go
to it directly. The program, not a Python binding, because it is what Debian ships and a
subprocess can be stopped at the file's deadline. Its TSV output gives the words, their lines and
paragraphs, and each word's confidence, so one run yields both the page text and the page's
confidence (the mean over its words, 0-100) that every chunk from the page records.

One Tesseract thread per page (`OMP_THREAD_LIMIT=1`): on a shared two-core machine its OpenMP
threads mostly wait on each other.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from ingest.limits import Deadline, IngestError, Limits, over

INSTALL_HINT = (
    "OCR needs the Tesseract program, which is not installed: run "
    "`sudo apt-get install tesseract-ocr tesseract-ocr-eng` (or `make install`), then add the file again"
)
Progress = Callable[[int, int], None]  # (pages done, pages to do)


@dataclass(frozen=True)
class OcrPage:
    text: str
    confidence: float  # mean word confidence, 0-100; 0 when no word was found


def tesseract() -> str:
    found = shutil.which("tesseract")
    if not found:
        raise IngestError(INSTALL_HINT)
    return found


def recognise(image: bytes, limits: Limits, deadline: Deadline) -> OcrPage:
    """One image (any format Leptonica reads: PNG, PGM, JPEG, TIFF) -> its text and confidence."""
    command = [
        tesseract(),
        "stdin",
        "stdout",
        "-l",
        limits.ocr_languages,
        "--dpi",
        str(limits.ocr_dpi),
        "tsv",
    ]
    try:
        done = subprocess.run(
            command,
            input=image,
            capture_output=True,
            timeout=max(deadline.left, 0.1),
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        deadline.check()
        raise
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {done.returncode}"
        if "language" in detail.lower() or "traineddata" in detail.lower():
            raise IngestError(
                f"Tesseract has no data for '{limits.ocr_languages}' (PLAINSIGHT_OCR_LANGUAGES): "
                "install it, e.g. `sudo apt-get install tesseract-ocr-eng tesseract-ocr-spa`"
            )
        raise IngestError(f"OCR failed on this image ({detail[:200]})")
    return parse_tsv(done.stdout.decode("utf-8", "replace"))


def parse_tsv(tsv: str) -> OcrPage:
    """Tesseract's TSV -> text (a line per line, a blank line between paragraphs) and the mean
    confidence of its words."""
    lines: dict[tuple[int, int, int, int], list[str]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        key = (int(cols[1]), int(cols[2]), int(cols[3]), int(cols[4]))  # page, block, paragraph, line
        lines.setdefault(key, []).append(cols[11].strip())
        if (conf := float(cols[10])) >= 0:
            confidences.append(conf)
    out: list[str] = []
    previous = None
    for key, words in lines.items():
        if previous is not None and key[:3] != previous:
            out.append("")
        out.append(" ".join(words))
        previous = key[:3]
    confidence = sum(confidences) / len(confidences) if confidences else 0.0
    return OcrPage("\n".join(out), round(confidence, 1))


def image_frames(data: bytes, limits: Limits) -> list[bytes]:
    """An image file's frames (a TIFF may hold many pages) as greyscale PNGs for Tesseract."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        count = getattr(image, "n_frames", 1)
        if count > limits.ocr_max_pages:
            raise over("the image has pages:", count, limits.ocr_max_pages, "ocr_max_pages")
        frames = []
        for n in range(count):
            image.seek(n)
            buffer = io.BytesIO()
            image.convert("L").save(buffer, "PNG")
            frames.append(buffer.getvalue())
    except IngestError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise IngestError(f"corrupt or unreadable image ({exc.__class__.__name__})") from exc
    return frames


def render_pdf_pages(data: bytes, numbers: list[int], limits: Limits, password: str = ""):
    """Yield (page number, greyscale PGM bytes) for the given 1-based pages, rendered by PDFium."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data, password=password or None)
    except pdfium.PdfiumError as exc:
        raise IngestError(f"the scanned pages cannot be rendered for OCR ({exc})") from exc
    try:
        for number in numbers:
            page = pdf[number - 1]
            bitmap = page.render(scale=limits.ocr_dpi / 72, grayscale=True)
            buffer = io.BytesIO()
            bitmap.to_pil().convert("L").save(buffer, "PPM")
            yield number, buffer.getvalue()
            page.close()
    finally:
        pdf.close()


def ocr_images(images, total: int, limits: Limits, progress: Progress | None = None) -> dict[int, OcrPage]:
    """(page number, image) pairs -> recognised pages, within the file's OCR page and time limits."""
    if total > limits.ocr_max_pages:
        raise over("pages to OCR:", total, limits.ocr_max_pages, "ocr_max_pages")
    tesseract()  # the install hint before any rendering
    deadline = Deadline(limits.ocr_timeout_s, "ocr_timeout_s", "OCR")
    pages: dict[int, OcrPage] = {}
    for done, (number, image) in enumerate(images):
        deadline.check(f"{done} of {total} pages done")
        pages[number] = recognise(image, limits, deadline)
        if progress:
            progress(done + 1, total)
    return pages
