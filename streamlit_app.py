"""The resident page: ask a question, read a cited answer. Thin over `bot.chain`.

Heavy objects (model, store, index) load once per process; nothing about the visitor or the
question is written anywhere. Document text is shown with `st.text`, never as Markdown or HTML.
"""

from __future__ import annotations

import streamlit as st

from bot.chain import AnswerChain
from bot.settings import get_settings


@st.cache_resource(show_spinner="Loading the documents…")
def chain() -> AnswerChain:
    return AnswerChain(get_settings())


st.set_page_config(page_title="Plainsight", page_icon="🔎")
st.title("Plainsight")
st.caption(
    "Answers about local police surveillance, with the sources behind every sentence. "
    "Questions are not stored."
)

question = st.text_input("Your question", placeholder="Does Norwalk share plate data with ICE?")
if question:
    answer = chain().invoke(question)
    if answer.refused:
        st.info(answer.text)
    else:
        st.text(answer.text)
        st.subheader("Sources")
        for c in answer.citations:
            with st.container(border=True):
                st.text(f"[{c.n}] {c.title}")
                st.caption(
                    " · ".join(
                        x
                        for x in (
                            c.publisher,
                            c.published,
                            c.doc_type,
                            c.jurisdiction,
                            f"page {c.page}" if c.page else "",
                        )
                        if x
                    )
                )
                st.text(c.quote)
                if c.source_url.startswith(("http://", "https://")):
                    st.link_button("Open the original", c.source_url)
