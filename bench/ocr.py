"""OCR throughput: scanned pages recognised per second, end to end (render + Tesseract).

Pages are made here from the starter corpus's sentences: typeset by fpdf2, rendered to pixels by
PDFium, and put into a PDF as images with no text layer, like a scanner's output. The whole file
then goes through `load_bytes`, so the figure includes rendering at `PLAINSIGHT_OCR_DPI`, the
Tesseract runs and the PDF handling around them. Run alone: `python -m bench.ocr --pages 10`.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time

from bench.common import ROOT, loadavg


def corpus_text(pages: int) -> list[str]:
    sentences = []
    for path in sorted((ROOT / "corpus").glob("*.md")):
        body = re.sub(r"\A---.*?---", "", path.read_text(encoding="utf-8"), flags=re.S)
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", body) if 40 < len(s.strip()) < 300]
    per_page = 14
    return [" ".join(sentences[i * per_page : (i + 1) * per_page]) for i in range(pages)]


def scanned_pdf(texts: list[str], dpi: int = 200) -> bytes:
    import pypdfium2 as pdfium
    from fpdf import FPDF

    typed = FPDF()
    typed.set_font("Helvetica", size=11)
    for text in texts:
        typed.add_page()
        typed.multi_cell(0, 6, text.encode("latin-1", "replace").decode("latin-1"))
    rendered = pdfium.PdfDocument(bytes(typed.output()))
    scan = FPDF()
    for page in rendered:
        scan.add_page()
        scan.image(page.render(scale=dpi / 72, grayscale=True).to_pil(), x=0, y=0, w=scan.w, h=scan.h)
    return bytes(scan.output())


def measure(pages: int) -> dict:
    from bot.core.settings import Settings
    from ingest.limits import Limits
    from ingest.loaders import load_bytes

    data = scanned_pdf(corpus_text(pages))
    limits = Limits.from_settings(Settings())
    start = time.perf_counter()
    doc = load_bytes("scan.pdf", data, limits=limits)
    seconds = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "pages": len(doc.ocr_pages),
        "seconds": round(seconds, 2),
        "pages_per_s": round(len(doc.ocr_pages) / seconds, 3),
        "mean_confidence": doc.ocr_confidence,
        "dpi": limits.ocr_dpi,
        "languages": limits.ocr_languages,
        "tesseract_cpu_s": round(children.ru_utime + children.ru_stime, 2),
        "loadavg": loadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.pages)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
