"""The resident page: a chat whose answers cite numbered sources, or say honestly they can't.

Questions live only in this browser session's memory (`st.session_state`); nothing about the
visitor is logged or written. Every piece of document or answer text goes through
`bot.core.safe_text`, so a document can never inject a link, an image or HTML into the page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import streamlit as st

from bot.answer import Answer, Citation
from bot.chain import Ask
from bot.core.safe_text import escape_markdown, linked_markdown, plain_markdown, quoted_markdown, web_url
from bot.filters import Filters, town_filter
from bot.interfaces.resources import answer_chain, warm_up
from bot.interfaces.sources import citation_links, kind_label, view_link

log = logging.getLogger("plainsight.chat")
ALL_PLACES = "All places"
SUGGESTIONS = (
    "Does Norwalk share plate data with ICE?",
    "How long can license plate reader data be kept?",
    "What is Flock Safety?",
    "How can I request records about police surveillance?",
)
NEXT_STEPS = (  # the refusal itself already points to a public-records request
    "Try other words: name the technology (license plate readers, cameras, drones, face "
    "recognition) or the town.",
    "Follow-up questions build on the conversation; for a new topic, start a new conversation.",
)


def render_sources(citations: tuple[Citation, ...]) -> None:
    """One card per citation; each opens its document's view at the quoted passage (a new tab, so
    the conversation stays)."""
    st.markdown("**Sources**")
    for c in citations:
        with st.container(border=True):
            st.markdown(f"**\\[{c.n}\\] {escape_markdown(c.title or c.doc_id)}**")
            facts = [
                kind_label(c.kind),
                c.publisher,
                f"published {c.published}" if c.published else "",
                c.doc_type,
                c.jurisdiction,
                f"page {c.page}" if c.page else "",
                f"section “{c.section}”" if c.section else "",
            ]
            st.markdown(escape_markdown(" · ".join(f for f in facts if f)))
            if c.quote:
                st.markdown(quoted_markdown(c.quote))
            with st.container(horizontal=True):
                view = view_link(c.doc_id, c.chunk_id, c.quote)
                st.link_button("Show where it says this", view, icon=":material/format_quote:")
                if url := web_url(c.source_url):
                    st.link_button(f"Open the original of source {c.n}", url, icon=":material/open_in_new:")


def render_answer(answer: Answer, asked: str, place: str, turn: int) -> None:
    """An answer with its source cards, or a refusal that says what to do next.

    `turn` numbers the answer in the conversation; its parts get keys (CSS classes
    `st-key-answer-<turn>`, `st-key-sources-<turn>`, `st-key-refusal-<turn>`) that tests can find.
    """
    if answer.question.strip() != asked.strip():
        st.markdown(f"*I read this as: {escape_markdown(answer.question)}*")
    if answer.refused:
        steps = list(NEXT_STEPS)
        if place != ALL_PLACES:
            steps.insert(0, f"You're searching documents about {place} only: choose “{ALL_PLACES}”.")
        body = (
            plain_markdown(answer.text)
            + "\n\n**What you can do next**\n\n"
            + "\n".join(f"- {escape_markdown(s)}" for s in steps)
        )
        with st.container(key=f"refusal-{turn}"):
            st.info(body, icon=":material/search_off:", title=answer.status_text)
        return
    links = citation_links(answer.citations)  # every [n] opens its citation's view
    with st.container(key=f"answer-{turn}"):
        st.caption(escape_markdown(answer.status_text))
        st.markdown(linked_markdown(answer.text, links))
    if answer.sides:
        with st.container(key=f"sides-{turn}"):
            st.markdown("**The sources disagree**")
            for column, side in zip(st.columns(len(answer.sides)), answer.sides):
                with column:
                    marks = " ".join(f"[{n}]" for n in side.citations)
                    who = f"**{escape_markdown(side.label)}** · {escape_markdown(kind_label(side.kind))}"
                    st.markdown(f"{who} {linked_markdown(marks, links)}")
                    st.markdown(quoted_markdown(side.text))
    with st.container(key=f"sources-{turn}"):
        render_sources(answer.citations)


def streamed(pieces: Iterator[str | Answer], final: list[Answer]) -> Iterator[str]:
    """Escaped text pieces for `st.write_stream`; the final `Answer` is kept in `final`."""
    for piece in pieces:
        if isinstance(piece, Answer):
            final.append(piece)
        else:
            yield escape_markdown(piece)


st.title("Ask about police surveillance")
st.markdown(
    "Plainsight answers from public documents about license-plate readers, cameras, drones, "
    "face recognition and data sharing, and shows the source behind every sentence."
)
st.markdown(
    ":material/lock: **Questions are not stored.** Your conversation lives only in the server's "
    "memory while this tab is open; nothing about you or your questions is logged or saved."
)

chain = answer_chain()
messages: list[dict] = st.session_state.setdefault("messages", [])

places = [j for j in chain.index.jurisdictions() if j != "United States"]
controls = st.columns([3, 2], vertical_alignment="bottom")
place = controls[0].selectbox(
    "Place",
    [ALL_PLACES, *places],
    key="place",
    help="Only use documents about this place, its state, and national ones.",
)
if controls[1].button("New conversation", icon=":material/add_comment:", disabled=not messages):
    messages.clear()
    st.session_state.pop("pending", None)
    st.rerun()

if not messages:
    st.subheader("Try asking", anchor=False)
    for i, suggestion in enumerate(SUGGESTIONS):
        if st.button(suggestion, key=f"suggestion-{i}"):
            st.session_state["pending"] = suggestion

for turn, message in enumerate(messages):
    with st.chat_message(message["role"]):
        if message["role"] == "user":
            st.markdown(plain_markdown(message["content"]))
        else:
            render_answer(message["answer"], message["asked"], message["place"], turn)

typed = st.chat_input("Ask a question about police surveillance", max_chars=500)
question = (typed or st.session_state.pop("pending", None) or "").strip()
if question:
    history = tuple({"role": m["role"], "content": m["content"]} for m in messages)
    filters = Filters() if place == ALL_PLACES else town_filter(place, chain.index.jurisdictions())
    turn = len(messages) + 1  # the index the answer will have in `messages`
    with st.chat_message("user"):
        st.markdown(plain_markdown(question))
    with st.chat_message("assistant"):
        warm_up()
        slot = st.empty()
        final: list[Answer] = []
        try:
            with slot.container():
                st.write_stream(streamed(chain.stream(Ask(question, history, filters)), final))
        except Exception as exc:  # a broken store or LLM: say so, keep the conversation as it was
            log.error("answering failed: %s", type(exc).__name__)  # (never the question)
            slot.error(
                "Sorry, something went wrong while answering. Please try again.", icon=":material/error:"
            )
            st.stop()
        answer = final[-1]
        with slot.container():
            render_answer(answer, question, place, turn)
    # Both turns are kept only once the answer is complete (an interrupted question leaves no trace).
    messages.append({"role": "user", "content": question})
    messages.append(
        {"role": "assistant", "content": answer.text, "answer": answer, "asked": question, "place": place}
    )
    st.rerun()  # redraw so "new conversation" is enabled and the suggestions are gone
else:
    warm_up()  # after the page is drawn: load the model while the visitor reads and types
