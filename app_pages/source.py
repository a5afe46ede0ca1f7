"""A citation's document, opened at the quoted passage: what the source is, the passage with the
quote highlighted and scrolled into view, its neighbours, the PDF page it is on, and what an
explainer rests on.

Linked as `source?doc=<doc_id>&chunk=<chunk_id>&q=<quote>` from the chat, the widget and the API.
Everything shown is the stored document (`bot.passages`); its text is escaped before it is put in
HTML (`bot.interfaces.sources`), so a document can never put markup or a script on this page.
"""

from __future__ import annotations

import re

import streamlit as st

from bot.core.safe_text import escape_markdown, web_url
from bot.interfaces.resources import answer_chain
from bot.interfaces.sources import (
    PASSAGE_ID,
    QUOTE_ID,
    VIEW_PAGE,
    document_facts,
    indexed_when,
    passage_html,
    passage_place,
    view_query,
)
from bot.passages import PassageView, page_png, passage_view

MAX_PARAM_CHARS = 4000  # a longer doc, chunk or quote did not come from a citation
THIS_PAGE = f"app_pages/{VIEW_PAGE}.py"
SHA256 = re.compile(r"[0-9a-f]{64}")
# Constant (no document text in it): once the mark is drawn, bring it to the middle of the window
# unless it is in view already (then the title stays in sight too).
SCROLL_TO_QUOTE = f"""<script>
(function () {{
  var tries = 0, timer = setInterval(function () {{
    var target = document.getElementById("{QUOTE_ID}") || document.getElementById("{PASSAGE_ID}");
    if (target || ++tries > 100) clearInterval(timer);
    if (!target) return;
    var box = target.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) target.scrollIntoView({{block: "center"}});
  }}, 50);
}})();
</script>"""


def param(name: str) -> str:
    value = st.query_params.get(name, "")
    return value if len(value) <= MAX_PARAM_CHARS else ""


def not_found(message: str) -> None:
    st.title("Source not found", anchor=False)
    st.warning(message, icon=":material/search_off:")
    st.page_link("app_pages/chat.py", label="Ask a question", icon=":material/forum:")


def header(view: PassageView) -> None:
    st.title(escape_markdown(view.document.title or view.document.doc_id), anchor=False)
    kind, *facts = document_facts(view)
    st.markdown(" · ".join([f"**{escape_markdown(kind)}**", *map(escape_markdown, facts)]))
    if url := web_url(view.original_url):
        page = f" at page {view.passage.page}" if view.passage.page and "#page=" in url else ""
        st.link_button(f"Open the original{page}", url, icon=":material/open_in_new:")
    if view.note:
        st.warning(escape_markdown(view.note), icon=":material/info:")


def passage(view: PassageView, asked: str) -> None:
    st.markdown(f"**{escape_markdown(passage_place(view))}**")
    if asked and view.quote_start is None:
        st.caption("The quote is not highlighted: it does not match this passage's stored text exactly.")
    st.html(passage_html(view))
    with st.container(horizontal=True):
        for label, icon, neighbour in (
            ("Previous passage", ":material/arrow_upward:", view.before),
            ("Next passage", ":material/arrow_downward:", view.after),
        ):
            if neighbour:
                query = view_query(view.document.doc_id, neighbour.chunk_id)
                st.page_link(THIS_PAGE, label=label, icon=icon, query_params=query)


def page_image(view: PassageView) -> None:
    number = view.passage.page
    marked = view.quote if view.quote_start is not None else ""  # only what the text view marks
    png = page_png(answer_chain().store, view.document.doc_id, number, marked) if number else None
    if png:
        caption = f"Page {number} of the original" + (", the quoted words in yellow" if marked else "")
        with st.container(border=True):
            st.image(png, caption=caption, alt=f"Page {number} of the original")


def explainer_sources(view: PassageView) -> None:
    st.markdown("#### What this explainer rests on")
    lines = []
    for s in view.sources:
        title = escape_markdown(s.title or s.url)
        if url := web_url(s.url):
            title = f"[{title}]({url.replace('(', '%28').replace(')', '%29')})"
        lines.append(" — ".join([title, *(escape_markdown(x) for x in (s.publisher, s.date) if x)]))
    st.markdown("\n".join(f"- {line}" for line in lines))


def about_copy(view: PassageView) -> None:
    doc = view.document
    st.markdown("#### About this copy")
    indexed = escape_markdown(indexed_when(doc.indexed_at))
    st.markdown(f"Document ID: {escape_markdown(doc.doc_id)}  \nIndexed {indexed}")
    if SHA256.fullmatch(doc.file_sha256):
        st.caption("SHA-256 of the file it was read from")
        st.code(doc.file_sha256, language=None, wrap_lines=True)
    else:
        st.caption("The file's SHA-256 was not recorded: it was indexed before files were kept.")


st.set_page_config(layout="wide")  # the passage beside its page image
doc_id, chunk_id, asked = param("doc"), param("chunk"), param("q")
# Arriving by "previous"/"next" (`st.page_link` to this same page), the address bar would keep the
# passage left behind; setting the parameters writes the ones shown into it, so it links to this one.
st.query_params.from_dict(st.query_params.to_dict())
if not doc_id or not chunk_id:
    not_found("This page shows the passage a citation quotes: open it from a source of an answer.")
    st.stop()
view = passage_view(answer_chain().store, doc_id, chunk_id, asked)
if view is None:
    not_found(
        "This document or passage is not among Plainsight's documents: it may have been removed or "
        "replaced since the link was made. Answers never cite a removed document."
    )
    st.stop()

header(view)
text, side = st.columns([3, 2], gap="large")
with text:
    passage(view, asked)
with side:
    if view.page_image:
        page_image(view)
    if view.sources:
        explainer_sources(view)
    about_copy(view)
st.html(SCROLL_TO_QUOTE, unsafe_allow_javascript=True)
