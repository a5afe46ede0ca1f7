"""The web app's page logic through Streamlit's AppTest: chat, sources, refusals, follow-ups,
the place filter, privacy, escaping, and the staff page (login, upload, URL, replace, delete).

Everything is real (the bundled model, Chroma in a copy of the indexed corpus); only the browser
is simulated. `test_browser.py` drives the same app in Chromium.
"""

from __future__ import annotations

import html
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import streamlit as st
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from bot.answer import Answer
from bot.core.safe_text import escape_markdown, plain_markdown, quoted_markdown, web_url
from bot.core.settings import get_settings
from bot.interfaces.resources import answer_chain, login_throttle
from bot.interfaces.sources import MARK_STYLE, QUOTE_ID, kind_label, view_link
from bot.interfaces.staff import LoginThrottle, attempt_login, check_password, form_metadata
from ingest.pipeline import delete_document, ingest_document
from ingest.web import FetchError, fetch
from ingest.web import name_for as file_name_for

APP = ROOT / "streamlit_app.py"
PASSWORD = "correct horse battery staple"
TIMEOUT = 300  # a first run loads the embedding model, slow on a busy machine
QUILLFIELD = b"""# Quillfield police drone program

The Quillfield Police Department began flying two camera drones in March 2025 under a policy \
approved by the Quillfield Board of Selectmen.

Drone video in Quillfield is kept for 30 days unless it is evidence in a criminal case. Officers \
may not use the Quillfield drones for routine patrol or to watch lawful protests.

The Quillfield department publishes a monthly log of every drone flight, with the date, the reason \
and the flight time.
"""
HOSTILE = b"""---
title: "Brindlemoor camera notice <script>alert(1)</script>"
jurisdiction: "Brindlemoor, VT"
doc_type: policy
publisher: "Brindlemoor <b>Town</b> Office"
source_url: "javascript:alert(1)"
---
# Brindlemoor doorbell camera requests

Brindlemoor police keep doorbell camera footage requests for 90 days <script>alert(1)</script> \
under the town notice.

Brindlemoor residents who share doorbell camera footage can withdraw consent at \
[click](javascript:alert(1)) or by calling the Brindlemoor police records office.
"""
UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def unescape(markdown: str) -> str:
    return UNESCAPE.sub(r"\1", markdown)


def fresh_caches() -> None:
    get_settings.cache_clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def data_dir(corpus_store, tmp_path_factory) -> Iterator[Path]:
    """A private copy of the indexed corpus, configured as the app's store for this module."""
    data = tmp_path_factory.mktemp("apptest") / "data"
    shutil.copytree(corpus_store.settings.data_dir, data)
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("PLAINSIGHT_")]:
            mp.delenv(key)
        mp.setenv("PLAINSIGHT_DATA_DIR", str(data))
        mp.setenv("PLAINSIGHT_STAFF_PASSWORD", PASSWORD)
        mp.setenv("PLAINSIGHT_FETCH_ALLOW_HOSTS", "127.0.0.1")  # the test site; private hosts are refused
        fresh_caches()
        yield data
    fresh_caches()


def chat(data_dir: Path) -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def ask(at: AppTest, question: str) -> Answer:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at.session_state["messages"][-1]["answer"]


def last_assistant_text(at: AppTest) -> str:
    message = at.chat_message[-1]
    assert message.name == "assistant"
    return "\n".join(unescape(m.value) for m in message.markdown)


def button(at: AppTest, label: str):
    (found,) = [b for b in at.button if b.label == label]
    return found


def staff(data_dir: Path, logged_in: bool = True) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.switch_page("app_pages/staff.py").run()
    assert not at.exception, at.exception
    if logged_in:
        login_throttle().succeeded()
        at.text_input[0].input(PASSWORD)
        button(at, "Log in").click().run()
        assert not at.exception, at.exception
        assert [t.label for t in at.tabs] == ["Add files", "Add a web page", "Documents"]
    return at


def field(block, label: str, kind: str = "text_input"):
    """The one widget of a kind with this label in a block (a tab, or the whole page)."""
    (found,) = [w for w in getattr(block, kind) if w.label == label]
    return found


def tab(at: AppTest, label: str):
    (found,) = [t for t in at.tabs if t.label == label]
    return found


def messages_of(at: AppTest) -> list[str]:
    """Status lines shown on the page, as a person reads them (no Markdown)."""
    return [unescape(e.value.replace("**", "")) for e in [*at.success, *at.error, *at.warning]]


# --- resident chat -----------------------------------------------------------------------------


def test_first_visit_shows_privacy_suggestions_and_places(data_dir):
    at = chat(data_dir)
    assert not at.exception
    assert [t.value for t in at.title] == ["Ask about police surveillance"]
    assert any("Questions are not stored" in m.value for m in at.markdown)
    labels = [b.label for b in at.button]
    assert "Does Norwalk share plate data with ICE?" in labels
    assert button(at, "New conversation").disabled  # nothing to clear yet
    place = at.selectbox(key="place")
    assert place.label == "Place" and place.value == "All places"
    assert {"Norwalk, CT", "Seattle, WA", "Connecticut"} <= set(place.options)
    assert "United States" not in place.options  # national documents are always included
    assert at.chat_input[0].placeholder


def test_answer_cites_sources_and_follow_up_uses_history(data_dir):
    at = chat(data_dir)
    answer = ask(at, "Does Norwalk share plate data with ICE?")
    assert not answer.refused and "[1]" in answer.text
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    shown = last_assistant_text(at)
    assert "[1]" in shown and answer.text.split(" [1]")[0] in shown
    raw = "\n".join(m.value for m in at.chat_message[-1].markdown)
    for c in answer.citations:  # every number in the text has its card: [n] title, kind, facts, quote
        assert f"[{c.n}] {c.title}" in shown
        assert kind_label(c.kind) in shown and c.jurisdiction in shown and c.doc_type in shown
        assert " ".join(c.quote.split())[:60] in shown
        assert f"[\\[{c.n}\\]]({view_link(c.doc_id, c.chunk_id, c.quote)})" in raw  # [n] opens its view
    views = [
        b.proto.url
        for b in at.chat_message[-1].get("link_button")
        if b.proto.label == "Show where it says this"
    ]
    assert views == [view_link(c.doc_id, c.chunk_id, c.quote) for c in answer.citations]
    assert not any(b.label.startswith("Does Norwalk") for b in at.button)  # suggestions gone

    follow = ask(at, "What about Westport?")
    assert not follow.refused
    assert "Westport" in follow.question and "Westport" in follow.text
    assert "I read this as: " + follow.question in last_assistant_text(at)

    button(at, "New conversation").click().run()
    assert not at.chat_message and at.session_state["messages"] == []
    assert "Does Norwalk share plate data with ICE?" in [b.label for b in at.button]


def test_refusal_looks_like_a_refusal_and_says_what_to_do(data_dir):
    at = chat(data_dir)
    answer = ask(at, "Who won the 2024 World Series?")
    assert answer.refused and not answer.citations
    assert not at.error and not at.exception
    (info,) = at.chat_message[-1].info
    text = unescape(info.value)
    assert "don't answer that" in text and "What you can do next" in text and "FOIA" in text
    assert not any(m.value == "**Sources**" for m in at.chat_message[-1].markdown)


def test_suggested_question_is_asked_on_click(data_dir):
    at = chat(data_dir)
    button(at, "What is Flock Safety?").click().run()
    assert not at.exception
    messages = at.session_state["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "What is Flock Safety?"
    assert not messages[1]["answer"].refused and "Flock" in messages[1]["answer"].text


def test_place_filter_limits_sources_and_refusal_mentions_it(data_dir):
    at = chat(data_dir)
    at.selectbox(key="place").select("Seattle, WA").run()
    answer = ask(at, "How long can license plate reader data be kept?")
    assert answer.citations
    assert {c.jurisdiction for c in answer.citations} <= {"Seattle, WA", "Washington", "United States"}
    refused = ask(at, "Who won the 2024 World Series?")
    assert refused.refused
    assert "searching documents about Seattle, WA only" in unescape(at.chat_message[-1].info[0].value)


def test_a_failure_is_reported_and_leaves_no_half_turn(data_dir, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("store unavailable")

    at = chat(data_dir)
    monkeypatch.setattr(answer_chain(), "stream", broken)
    at.chat_input[0].set_value("Does Norwalk share plate data with ICE?").run()
    assert "something went wrong" in at.error[0].value
    assert at.session_state["messages"] == []
    assert "Norwalk" not in caplog.text and "answering failed: RuntimeError" in caplog.text
    monkeypatch.undo()
    assert not ask(at, "Does Norwalk share plate data with ICE?").refused
    assert len(at.session_state["messages"]) == 2


def test_questions_are_not_written_anywhere(data_dir, caplog):
    secret = "Does Zanzibarquux county keep drone footage of my street?"
    before = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*") if p.is_file()}
    at = chat(data_dir)
    with caplog.at_level("DEBUG"):
        ask(at, secret)
    assert "Zanzibarquux" not in caplog.text
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert b"Zanzibarquux" not in path.read_bytes(), path
    after = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*") if p.is_file()}
    assert set(after) == set(before)  # asking creates no files in the store


def test_document_text_is_shown_as_text_never_markup(data_dir):
    store = answer_chain().store
    result = ingest_document(store, "brindlemoor-notice.md", HOSTILE)
    assert result.status == "added", result
    try:
        at = chat(data_dir)
        answer = ask(at, "Can Brindlemoor residents withdraw consent for doorbell camera footage?")
        assert not answer.refused and answer.citations[0].doc_id == "brindlemoor-notice"
        raw = [m.value for m in at.chat_message[-1].markdown]
        joined = "\n".join(raw)
        assert "<script>" not in joined and "](javascript" not in joined  # only escaped forms
        assert escape_markdown("<script>alert(1)</script>") == r"\<script\>alert\(1\)\<\/script\>"
        assert escape_markdown("<script>alert(1)</script>") in joined
        shown = unescape(joined)
        assert "[click](javascript:alert(1))" in shown
        assert "Brindlemoor camera notice <script>alert(1)</script>" in shown
        links = [b.proto.url for b in at.chat_message[-1].get("link_button")]
        assert links == [
            view_link(c.doc_id, c.chunk_id, c.quote) for c in answer.citations
        ]  # javascript: is not
    finally:
        delete_document(store, "brindlemoor-notice")


def test_escaping_helpers():
    hostile = "[click](javascript:alert(1)) <script>alert(1)</script> **b** # h\n\n    code `x` $x$ :red[x]"
    escaped = escape_markdown(hostile)
    assert unescape(escaped) == hostile
    assert not re.search(r"(?<!\\)[\[\]()<>*#`$:]", escaped)  # every special character escaped
    assert "".join(escape_markdown(p) for p in ("[cli", "ck](java", "script:x)")) == escape_markdown(
        "[click](javascript:x)"
    )
    assert plain_markdown("a\n   b\n\n\n    c  d") == "a b\n\nc d"
    assert quoted_markdown("one.\n\ntwo.") == "> one\\.\n>\n> two\\."
    assert web_url("https://example.gov/a?b=c") == "https://example.gov/a?b=c"
    assert web_url("HTTP://example.gov") == "HTTP://example.gov"
    for bad in ("javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "//evil.example",
                "https://", "https://ex ample.gov", "ftp://example.gov", "", None, "https://a\n.gov",
                'https://example.gov/"onmouseover=x'):  # fmt: skip
        assert web_url(bad) is None, bad


# --- document view -------------------------------------------------------------------------------


def document_view(**params: str) -> AppTest:
    """The view page as a citation's link opens it (`source?doc=...&chunk=...&q=...`)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page("app_pages/source.py").run()
    assert not at.exception, at.exception
    return at


def html_of(at: AppTest) -> str:
    return "\n".join(e.proto.body for e in at.get("html"))


def test_view_of_an_unknown_or_deleted_document_says_so(data_dir):
    at = document_view(doc="no-such-policy", chunk="no-such-policy#0", q="kept for 30 days")
    assert [t.value for t in at.title] == ["Source not found"]
    assert "may have been removed or replaced since the link was made" in at.warning[0].value
    assert "<mark" not in html_of(at)
    assert "open it from a source" in document_view().warning[0].value  # no citation in the link

    store = answer_chain().store
    assert ingest_document(store, "quillfield-drones.md", QUILLFIELD).status == "added"
    try:
        answer = ask(chat(data_dir), "How long does Quillfield keep drone video?")
        c = answer.citations[0]
        assert c.doc_id == "quillfield-drones"
        shown = document_view(doc=c.doc_id, chunk=c.chunk_id, q=c.quote)
        assert [t.value for t in shown.title] == ["Quillfield police drone program"]
    finally:
        delete_document(store, "quillfield-drones")
    gone = document_view(doc=c.doc_id, chunk=c.chunk_id, q=c.quote)  # the same link, once deleted
    assert [t.value for t in gone.title] == ["Source not found"] and "<mark" not in html_of(gone)


def test_view_marks_the_quote_and_shows_the_document_as_text(data_dir):
    store = answer_chain().store
    assert ingest_document(store, "brindlemoor-notice.md", HOSTILE).status == "added"
    try:
        chunk = next(
            c for c in store.iter_chunks(where={"doc_id": "brindlemoor-notice"}) if "[click]" in c.text
        )
        quote = "withdraw consent at [click](javascript:alert(1)) or by calling"
        at = document_view(doc="brindlemoor-notice", chunk=chunk.id, q=quote)
        assert unescape(at.title[0].value) == "Brindlemoor camera notice <script>alert(1)</script>"
        body = html_of(at)
        start = chunk.text.index(quote)
        marked = f'<mark id="{QUOTE_ID}" style="{MARK_STYLE}">{html.escape(quote)}</mark>'
        assert (
            html.escape(chunk.text[:start]) + marked + html.escape(chunk.text[start + len(quote) :]) in body
        )
        assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert any(
            unescape(m.value).startswith("**Official record** · Brindlemoor <b>Town</b> Office")
            for m in at.markdown
        )
        assert not at.get("link_button")  # its javascript: source is not an original to open

        near = document_view(doc="brindlemoor-notice", chunk=chunk.id, q="withdraw  consent at")
        assert "<mark" not in html_of(near)  # a quote that is not there character for character
        assert any("not highlighted" in c.value for c in near.caption)
    finally:
        delete_document(store, "brindlemoor-notice")


def test_view_of_an_explainer_lists_what_it_rests_on(data_dir):
    at = document_view(
        doc="norwalk-faq", chunk="norwalk-faq#1", q="Norwalk officials denied having any agreement with ICE."
    )
    assert "<mark" in html_of(at)
    markdown = [m.value for m in at.markdown]
    assert "#### What this explainer rests on" in markdown
    (sources,) = [m for m in markdown if m.startswith("- ")]
    assert "ACLU of Connecticut" in unescape(sources) and "](https://" in sources
    labels = [p.proto.label for p in at.get("page_link")]
    assert labels == ["Previous passage", "Next passage"]
    assert any("norwalk\\-faq" in m for m in markdown) and at.get("code")  # its id and SHA-256


# --- staff page ----------------------------------------------------------------------------------


def test_staff_page_is_disabled_without_a_password(data_dir, monkeypatch):
    monkeypatch.delenv("PLAINSIGHT_STAFF_PASSWORD")
    get_settings.cache_clear()
    try:
        at = staff(data_dir, logged_in=False)
        assert [t.value for t in at.title] == ["Staff: manage documents"]
        assert "PLAINSIGHT_STAFF_PASSWORD" in at.info[0].value
        assert not at.text_input and not at.tabs and not at.file_uploader
    finally:
        monkeypatch.setenv("PLAINSIGHT_STAFF_PASSWORD", PASSWORD)
        get_settings.cache_clear()


def test_staff_login_is_required_and_failures_slow_down(data_dir):
    login_throttle().succeeded()
    at = staff(data_dir, logged_in=False)
    assert not at.tabs and not at.file_uploader  # nothing but the login form
    (password,) = at.text_input
    assert password.label == "Staff password"
    password.input("wrong password")
    button(at, "Log in").click().run()
    assert "Wrong password" in at.error[0].value and not at.tabs
    at.text_input[0].input(PASSWORD)
    button(at, "Log in").click().run()  # even the right password waits after a failure
    assert "Too many failed attempts" in at.error[0].value and not at.tabs
    login_throttle().succeeded()  # (the wait has passed)
    button(at, "Log in").click().run()
    assert [t.label for t in at.tabs] == ["Add files", "Add a web page", "Documents"]
    button(at, "Log out").click().run()
    assert not at.tabs and at.text_input[0].label == "Staff password"


def test_login_throttle_and_password_check():
    now = [100.0]
    throttle = LoginThrottle(base=2, cap=10, clock=lambda: now[0])
    wrong = attempt_login("nope", "secret", throttle)
    assert wrong == (False, "Wrong password. You can try again in 2 seconds.")
    assert attempt_login("secret", "secret", throttle)[1].startswith("Too many failed attempts")
    now[0] += 2
    assert attempt_login("nope", "secret", throttle)[0] is False and throttle.wait() == 4
    now[0] += 4
    attempt_login("nope", "secret", throttle)
    now[0] += 8
    attempt_login("nope", "secret", throttle)
    assert throttle.wait() == 10  # capped
    now[0] += 10
    assert attempt_login("secret", "secret", throttle) == (True, "Logged in.")
    assert throttle.failures == 0 and throttle.wait() == 0
    assert not check_password("", "") and not check_password("x", None)
    assert check_password("pässwörd", "pässwörd") and not check_password("pässword", "pässwörd")
    assert attempt_login("x", None, throttle)[1].startswith("Staff login is disabled")


def test_staff_upload_is_cited_then_delete_removes_it(data_dir):
    at = staff(data_dir)
    add = tab(at, "Add files")
    field(add, "Files to add", "file_uploader").set_value(
        [
            ("quillfield-drones.md", QUILLFIELD, "text/markdown"),
            ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "application/pdf"),
            ("empty.txt", b"   ", "text/plain"),
        ]
    )
    field(add, "Title (optional)").input("Quillfield police drone policy")
    field(add, "Jurisdiction").input("Quillfield, VT")
    field(add, "Publisher").input("Town of Quillfield")
    field(add, "Published (YYYY-MM-DD)").input("2025-03-01")
    field(add, "Source URL (optional)").input("https://quillfield.example/drones")
    field(add, "Document type", "selectbox").select("policy")
    field(add, "Kind of source", "selectbox").select("audit")  # staff override the type's "official"
    button(at, "Add to documents").click().run()
    assert not at.exception, at.exception
    shown = messages_of(at)
    assert any("quillfield-drones.md — added as quillfield-drones" in m for m in shown), shown
    assert any(m.startswith("broken.pdf — failed: ") and len(m) > 25 for m in shown), shown
    assert any("empty.txt — failed: the file is empty" in m for m in shown), shown
    assert field(tab(at, "Add files"), "Jurisdiction").value == ""  # the form is emptied after its work
    record = answer_chain().store.document("quillfield-drones")
    assert record.title == "Quillfield police drone policy" and record.jurisdiction == "Quillfield, VT"
    assert record.source_url == "https://quillfield.example/drones" and record.doc_type == "policy"

    resident = chat(data_dir)
    assert "Quillfield, VT" in resident.selectbox(key="place").options  # new place, no restart
    question = "How long does Quillfield keep police drone video?"
    answer = ask(resident, question)
    assert not answer.refused and answer.citations[0].doc_id == "quillfield-drones"
    assert answer.citations[0].kind == "audit"  # the kind staff chose, on every citation
    links = {b.proto.label: b.proto.url for b in resident.chat_message[-1].get("link_button")}
    assert links["Open the original of source 1"] == "https://quillfield.example/drones"

    at.selectbox(key="chosen-doc").select("quillfield-drones").run()
    (download,) = at.get("download_button")  # the exact file staff gave, and its SHA-256
    assert unescape(download.proto.label) == "Download quillfield-drones.md"
    assert any(f"SHA-256 {record.file_sha256}" in c.value for c in at.caption)
    assert store_file(record.file_sha256) == QUILLFIELD
    button(at, "Delete document").click().run()
    assert any("Tick the box" in m for m in messages_of(at))
    assert answer_chain().store.document("quillfield-drones") is not None
    at.checkbox[-1].check()
    button(at, "Delete document").click().run()
    assert not at.exception, at.exception
    assert any("Deleted quillfield-drones." in m for m in messages_of(at))
    assert "quillfield-drones" not in at.selectbox(key="chosen-doc").options

    again = ask(resident, question)
    assert again.refused and "Quillfield" in again.text and not again.citations


def store_file(sha256: str) -> bytes:
    return answer_chain().store.originals.path(sha256).read_bytes()


def test_staff_replace_and_metadata_errors(data_dir):
    store = answer_chain().store
    assert ingest_document(store, "quillfield-v1.md", QUILLFIELD).status == "added"
    try:
        at = staff(data_dir)
        at.selectbox(key="chosen-doc").select("quillfield-v1").run()
        docs = tab(at, "Documents")
        assert field(docs, "Title (optional)").value == "Quillfield police drone program"
        new_version = ("quillfield-v2.md", QUILLFIELD.replace(b"30 days", b"14 days"), "text/markdown")
        field(docs, "Replacement file", "file_uploader").set_value(new_version)
        field(docs, "Published (YYYY-MM-DD)").input("March 2025")
        button(at, "Replace document").click().run()
        assert any("published must be a date" in m for m in messages_of(at))
        docs = tab(at, "Documents")  # what was typed and chosen is kept, to be corrected
        assert field(docs, "Published (YYYY-MM-DD)").value == "March 2025"
        field(docs, "Published (YYYY-MM-DD)").input("2025-04-01")
        button(at, "Replace document").click().run()
        assert not at.exception, at.exception
        shown = messages_of(at)
        assert any("quillfield-v2.md — updated as quillfield-v1" in m for m in shown), shown
        record = store.document("quillfield-v1")
        assert record.source == "quillfield-v2.md" and record.published == "2025-04-01"
        answer = ask(chat(data_dir), "How long does Quillfield keep police drone video?")
        assert "14 days" in answer.text and "30 days" not in answer.text
    finally:
        delete_document(store, "quillfield-v1")


class _Site(http.server.BaseHTTPRequestHandler):
    PAGES = {
        "/drones.html": ("text/html; charset=utf-8", b"<html><head><title>Quillfield drones</title></head>"
                         b"<body><article><h1>Quillfield drone log</h1><p>" + QUILLFIELD[40:] + b"</p>"
                         b"</article></body></html>"),
        "/image.png": ("image/png", b"\x89PNG not really"),
    }  # fmt: skip

    def do_GET(self):  # noqa: N802
        page = self.PAGES.get(self.path)
        if page is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", page[0])
        self.send_header("Content-Length", str(len(page[1])))
        self.end_headers()
        self.wfile.write(page[1])

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_staff_ingests_a_web_page_with_its_url_as_source(data_dir, site):
    at = staff(data_dir)
    field(tab(at, "Add a web page"), "Web address of the document").input(f"{site}/image.png")
    button(at, "Fetch and add").click().run()
    shown = messages_of(at)
    assert any("image.png — failed: content type 'image/png' is not a supported" in m for m in shown), shown
    web = tab(at, "Add a web page")
    assert field(web, "Web address of the document").value == f"{site}/image.png"  # kept to fix
    field(web, "Web address of the document").input(f"{site}/missing.pdf")
    button(at, "Fetch and add").click().run()
    assert any("failed: the server answered HTTP 404" in m for m in messages_of(at)), messages_of(at)
    web = tab(at, "Add a web page")
    field(web, "Web address of the document").input(f"{site}/drones.html")
    field(web, "Jurisdiction").input("Quillfield, VT")
    button(at, "Fetch and add").click().run()
    assert not at.exception, at.exception
    shown = messages_of(at)
    assert any("drones.html — added as 127-0-0-1-drones" in m for m in shown), shown
    store = answer_chain().store
    try:
        record = store.document("127-0-0-1-drones")
        assert record.source_url == f"{site}/drones.html" and record.jurisdiction == "Quillfield, VT"
    finally:
        delete_document(store, "127-0-0-1-drones")


def test_fetch_limits():
    def serve(body: bytes, content_type: str, length: bool = True):
        def handler(request: httpx.Request) -> httpx.Response:
            headers = {"content-type": content_type}
            if not length:  # a streamed body without a Content-Length header
                return httpx.Response(200, headers=headers, content=iter([body[:10], body[10:]]))
            return httpx.Response(200, headers=headers, content=body)

        return httpx.MockTransport(handler)

    pdf_site = serve(b"%PDF-1.4", "application/pdf")
    pdf = fetch("https://town.example/docs/Policy.PDF", 1000, transport=pdf_site)
    assert pdf.name == "town-example-docs-policy.pdf" and pdf.data == b"%PDF-1.4"
    page = fetch("https://town.example/", 1000, transport=serve(b"<p>x</p>", "text/html; charset=utf-8"))
    assert page.name == "town-example.html"
    with pytest.raises(FetchError, match="over the 0.0001 MB limit"):
        fetch("https://town.example/big", 100, transport=serve(b"x" * 500, "text/plain"))
    with pytest.raises(FetchError, match="more than"):
        fetch("https://town.example/big", 100, transport=serve(b"x" * 500, "text/plain", length=False))
    with pytest.raises(FetchError, match="content type 'application/zip'"):
        fetch("https://town.example/a.zip", 100, transport=serve(b"PK", "application/zip"))
    with pytest.raises(FetchError, match="http:// or https://"):
        fetch("file:///etc/passwd", 100)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(FetchError, match="did not answer in time"):
        fetch("https://town.example/slow", 100, transport=httpx.MockTransport(slow))
    assert file_name_for("https://www.town.example/police/alpr.aspx?id=3", ".html") == (
        "www-town-example-police-alpr.html"
    )


def test_form_metadata():
    meta = form_metadata(
        {"doc_id": " ", "title": " Policy ", "topics": "alpr, ice ,", "published": "2024-05", "doc_type": ""}
    )
    assert meta == {"title": "Policy", "topics": ["alpr", "ice"], "published": "2024-05"}
    for bad, reason in (
        ({"published": "May 2024"}, "published"),
        ({"doc_type": "memo"}, "document type"),
        ({"source_url": "javascript:alert(1)"}, "source URL"),
    ):
        with pytest.raises(ValueError, match=reason):
            form_metadata(bad)
