"""The document view's logic outside Streamlit: the address a citation opens, and a passage as HTML
with the quote marked.

A citation opens `source?doc=<doc_id>&chunk=<chunk_id>&q=<quote>`, relative so that it works under
whatever base path the app is served from (the API's `view_url` is the same address on `app_url`).
Document text is HTML-escaped before any markup is put around it, so a passage only ever shows as
text; the markup itself is fixed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from urllib.parse import quote, urlencode

from bot.answer import Citation
from bot.passages import PassageView

VIEW_PAGE = "source"  # the view's url_path (streamlit_app.py)
QUOTE_ID = "plainsight-quote"  # the <mark> the page scrolls into view
PASSAGE_ID = "plainsight-passage"  # scrolled to instead when no quote is marked
MIN_OVERLAP = 20  # fewer shared characters than this between neighbours is a coincidence
KIND_LABELS = {  # how each of `bot.core.vocabulary.SOURCE_KINDS` is shown
    "official": "Official record",
    "audit": "Audit",
    "vendor": "Vendor",
    "news": "News",
    "advocacy": "Advocacy group",
    "analysis": "Analysis",
    "dataset": "Dataset",
    "explainer": "Explainer",
    "other": "Other source",
}
CITED_STYLE = "white-space:pre-wrap;border-left:3px solid #1d4f91;padding:.25rem 0 .25rem .75rem"
AROUND_STYLE = "white-space:pre-wrap;color:#57606a;margin:.5rem 0"  # dimmed, still 6:1 on white
MARK_STYLE = "background:#ffe58f;color:inherit;padding:0 .1em;border-radius:2px"


def view_query(doc_id: str, chunk_id: str, quote_text: str = "") -> dict[str, str]:
    """The view's query parameters (for `st.page_link`); no `q` when there is nothing to mark."""
    params = {"doc": doc_id, "chunk": chunk_id}
    if quote_text:
        params["q"] = quote_text
    return params


def view_link(doc_id: str, chunk_id: str, quote_text: str = "") -> str:
    """The relative address of a passage's view, every value percent-encoded (safe in Markdown)."""
    return f"{VIEW_PAGE}?{urlencode(view_query(doc_id, chunk_id, quote_text), quote_via=quote)}"


def citation_links(citations: Iterable[Citation]) -> dict[int, str]:
    """Each citation's number -> the address of its view, for linking the answer's [n] marks."""
    return {c.n: view_link(c.doc_id, c.chunk_id, c.quote) for c in citations}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, KIND_LABELS["other"])


def overlap(before: str, text: str) -> int:
    """How many characters `text` starts with that `before` ends with: neighbouring chunks share
    `chunk_overlap` characters, which the view shows once."""
    for size in range(min(len(before), len(text)), MIN_OVERLAP - 1, -1):
        if before.endswith(text[:size]):
            return size
    return 0


def marked_html(text: str, start: int | None, end: int | None) -> str:
    """`text` escaped, its [start, end) span in a <mark> when the offsets are usable."""
    if start is None or end is None or not 0 <= start < end <= len(text):
        return escape(text)
    return (
        escape(text[:start])
        + f'<mark id="{QUOTE_ID}" style="{MARK_STYLE}">{escape(text[start:end])}</mark>'
        + escape(text[end:])
    )


def passage_html(view: PassageView) -> str:
    """The cited passage, its quote marked, between its neighbours' text (dimmed, without the
    characters they share with it)."""
    text, parts = view.passage.text, []
    if view.before:
        kept = view.before.text[: len(view.before.text) - overlap(view.before.text, text)].rstrip()
        parts.append(f'<div style="{AROUND_STYLE}">{escape(kept)}</div>' if kept else "")
    marked = marked_html(text, view.quote_start, view.quote_end)
    parts.append(f'<div id="{PASSAGE_ID}" style="{CITED_STYLE}">{marked}</div>')
    if view.after:
        kept = view.after.text[overlap(text, view.after.text) :].lstrip()
        parts.append(f'<div style="{AROUND_STYLE}">{escape(kept)}</div>' if kept else "")
    return "".join(parts)


def document_facts(view: PassageView) -> list[str]:
    """What the source is, in the order a reader weighs it: its kind, who published it and when."""
    doc = view.document
    facts = [kind_label(view.kind), doc.publisher, f"published {doc.published}" if doc.published else ""]
    return [f for f in (*facts, doc.jurisdiction, doc.doc_type) if f]


def passage_place(view: PassageView) -> str:
    """Where the passage is: "Passage 3 of 12 · page 2 · section “Retention”"."""
    p, total = view.passage, view.document.chunks
    where = [f"Passage {p.n + 1}" + (f" of {total}" if total else "")]
    where += [f"page {p.page}" if p.page else "", f"section “{p.section}”" if p.section else ""]
    return " · ".join(w for w in where if w)


def indexed_when(iso: str) -> str:
    """The registry's UTC timestamp as a reader writes it: "2026-12-02 10:15 UTC"."""
    when = iso.replace("T", " ")[:16]
    return f"{when} UTC" if iso.endswith(("+00:00", "Z")) else when
