"""The real app in a real browser: `streamlit run` on 127.0.0.1, driven through Debian's Chromium.

One Streamlit server serves the whole module (the model loads once in it), over a copy of the
indexed corpus, with a staff password set. Residents ask, get cited answers, refusals and
follow-ups; staff log in, add a document that residents' next question cites, delete it and it is
never cited again; a hostile document renders inert; the pages work at 375 px; inputs are
labelled and text contrast is readable. Screenshots and timings go to tests/artifacts/.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pdfplumber
import pytest
from conftest import ROOT, cli_env, run_cli
from fpdf import FPDF
from live_server import serve_app, static_site
from PIL import Image

from bot.chain import AnswerChain
from bot.core.settings import Settings
from bot.core.store import Store
from bot.interfaces.api import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORD = "staff-test-password"
ANSWER_TIMEOUT_MS = 300_000  # the first answer waits for the model to load on a busy machine
DESKTOP = {"width": 1280, "height": 2000}  # tall, so a screenshot shows the whole conversation
PHONE = {"width": 375, "height": 812}
WINDOW = {"width": 1280, "height": 800}  # the view's quote must be in sight in a window this size

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium; "
        ".ci/run installs it)",
    ),
]

MARROWDALE_PAGES = (
    "Marrowdale Police Department\nAutomated License Plate Reader Policy\n\n1. Purpose\n\nThis policy "
    "governs the use of automated license plate readers by the Marrowdale Police Department. Readers "
    "are mounted on two patrol cars and at the Route 9 bridge.",
    "2. Retention\n\nMarrowdale keeps license plate reader data for 45 days and then deletes it "
    "automatically, unless the data is evidence in a criminal case.\n\n3. Audits\n\nThe Marrowdale "
    "records supervisor audits every search of the plate data each quarter.",
)
FENWICK = b"""<!doctype html><html><head><title>Fenwick adds traffic cameras</title></head><body><article>
<h1>Fenwick adds traffic cameras downtown</h1>
<p>The Fenwick town council voted on Tuesday to install six traffic cameras on Main Street, the town's \
first fixed cameras.</p>
<p>Fenwick police will keep the traffic camera footage for 14 days before it is overwritten, the police \
chief told the council. Footage will be released only with a warrant or a public-records request.</p>
<p>Residents who spoke at the meeting asked whether the cameras would read license plates; the chief \
said they would not.</p></article></body></html>"""
VIEW_META = {
    "marrowdale-alpr-policy.pdf": 'doc_id: marrowdale-alpr-policy\ntitle: "Marrowdale Police ALPR policy"\n'
    'publisher: Marrowdale Police Department\npublished: 2025-02-01\njurisdiction: "Marrowdale, VT"\n'
    "doc_type: policy\nsource_url: https://marrowdale.example.gov/police/alpr-policy.pdf\n",
    "fenwick-cameras.html": 'doc_id: fenwick-cameras\ntitle: "Fenwick adds traffic cameras downtown"\n'
    'publisher: Fenwick Daily News\npublished: 2025-04-10\njurisdiction: "Fenwick, VT"\ndoc_type: news\n'
    "source_url: https://fenwick-daily.example/news/traffic-cameras\n",
}
QUILLFIELD = b"""# Quillfield police drone program

The Quillfield Police Department began flying two camera drones in March 2025 under a policy \
approved by the Quillfield Board of Selectmen.

Drone video in Quillfield is kept for 30 days unless it is evidence in a criminal case. Officers \
may not use the Quillfield drones for routine patrol or to watch lawful protests.

The Quillfield department publishes a monthly log of every drone flight, with the date, the reason \
and the flight time. Residents can ask the Quillfield town clerk for the drone policy and the \
flight logs with a public-records request.
"""
HOSTILE = b"""---
title: "Brindlemoor camera notice <script>alert(1)</script>"
jurisdiction: "Brindlemoor, VT [town](javascript:alert(3))"
doc_type: policy
publisher: "Brindlemoor <b>Town</b> Office"
source_url: "javascript:alert(1)"
---
# Brindlemoor doorbell camera requests

Brindlemoor police keep doorbell camera footage requests for 90 days <script>alert(1)</script> \
under the town notice.

Brindlemoor residents who share doorbell camera footage can withdraw consent at \
[click](javascript:alert(1)) or by calling the Brindlemoor police records office.

The Brindlemoor notice says shared footage is deleted after the investigation closes \
<img src=x onerror=alert(2)> unless a court orders otherwise.
"""
ASKED: list[str] = []  # every question this module asks, to check none reaches the server log

# WCAG contrast of every visible text node against its (blended) background, opacity included.
CONTRAST_JS = """() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const blend = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (const l of layers.reverse()) bg = blend(l, bg);
    return bg;
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity);
    return o;
  };
  const skip = '[aria-hidden="true"], [disabled], [aria-disabled="true"], [data-testid="stIconMaterial"]';
  const low = []; const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement; const text = walker.currentNode.textContent.trim();
    if (!text || !el || seen.has(el)) continue;
    seen.add(el);
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.closest(skip)) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden') continue;
    const bg = background(el); const fg = parse(st.color); fg[3] *= opacity(el);
    const a = lum(blend(fg, bg)), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) low.push({text: text.slice(0, 60), ratio: Math.round(ratio * 100) / 100});
  }
  return low;
}"""
UNLABELLED_JS = """() => [...document.querySelectorAll('input, textarea, select, [role=combobox]')]
  .filter(e => e.type !== 'hidden' && e.getBoundingClientRect().width > 0 || e.type === 'file')
  .filter(e => !(e.getAttribute('aria-label') || '').trim() && !(e.labels && e.labels.length)
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.outerHTML.slice(0, 120))"""


@dataclass
class Server:
    url: str
    started: float
    log: Path
    process: subprocess.Popen
    data: Path
    timings: dict[str, float] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(data: Path, log: Path) -> Iterator[Server]:
    """`streamlit run` over the store in `data`, on a random free port, until the block ends."""
    port = free_port()
    env = cli_env(data)
    env.update(PLAINSIGHT_STAFF_PASSWORD=PASSWORD, PYTHONUNBUFFERED="1")
    streamlit = Path(sys.executable).with_name("streamlit")
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(streamlit), "run", str(ROOT / "streamlit_app.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "streamlit did not start:\n" + log.read_text()
            time.sleep(0.25)
        yield Server(url, started, log, process, data)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def view_documents(folder: Path) -> Path:
    """A two-page PDF policy and a news web page (with their metadata), for the document view."""
    folder.mkdir()
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in MARROWDALE_PAGES:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(folder / "marrowdale-alpr-policy.pdf"))
    (folder / "fenwick-cameras.html").write_bytes(FENWICK)
    for name, meta in VIEW_META.items():
        (folder / f"{name}.meta.yaml").write_text(meta)
    return folder


@pytest.fixture(scope="module")
def server(corpus_store, tmp_path_factory) -> Iterator[Server]:
    """`streamlit run` over a copy of the indexed corpus (plus a PDF and a web page), with a staff
    password; a copy of that store is kept aside for the API the widget test serves."""
    home = tmp_path_factory.mktemp("browser")
    data = home / "data"
    shutil.copytree(corpus_store.settings.data_dir, data)
    done = run_cli(data, "ingest", str(view_documents(home / "documents")))
    assert done.returncode == 0 and "2 added" in done.stdout, done.stdout + done.stderr
    shutil.copytree(data, home / "api-data")
    with streamlit_server(data, home / "streamlit.log") as srv:
        srv.timings["server_ready_s"] = round(time.monotonic() - srv.started, 1)
        yield srv
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "browser-timings.json").write_text(json.dumps(srv.timings, indent=2) + "\n")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, server):
    """Factory for pages, each its own Streamlit session. No JavaScript dialog may ever open, and
    the page (or a tab it opens) may talk to nothing but the app (no usage statistics, fonts or
    scripts from elsewhere)."""
    contexts, dialogs, elsewhere = [], [], []

    def make(viewport: dict = DESKTOP):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(60_000)
        contexts.append(context)
        context.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        context.on(
            "request",
            lambda r: None if r.url.startswith((server.url, "data:", "blob:")) else elsewhere.append(r.url),
        )
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert dialogs == [], f"a dialog opened: {dialogs}"
    assert elsewhere == [], f"the page contacted other hosts: {elsewhere}"


def wait_idle(page) -> None:
    """Wait until the app's script run is over (and stays over: a rerun may start a moment late)."""
    idle = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    for _ in range(3):
        page.wait_for_selector(idle, timeout=ANSWER_TIMEOUT_MS)
        page.wait_for_timeout(300)
        if page.locator(idle).count():
            return
    page.wait_for_selector(idle, timeout=ANSWER_TIMEOUT_MS)


def open_chat(page, server: Server) -> None:
    page.goto(server.url + "/")
    page.get_by_role("heading", name="Ask about police surveillance", level=1).wait_for()
    chat_box(page).wait_for()


def chat_box(page):
    return page.get_by_role("textbox", name="Ask a question about police surveillance")


def ask(page, question: str) -> tuple[int, str]:
    """Ask; returns (turn, "answer"|"refusal") once the reply is finished and the app is idle."""
    turn = page.locator('[data-testid="stChatMessage"]').count() + 1  # the assistant's message index
    ASKED.append(question)
    chat_box(page).fill(question)
    chat_box(page).press("Enter")
    reply = page.locator(f".st-key-answer-{turn}, .st-key-refusal-{turn}")
    reply.first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    wait_idle(page)
    kind = "answer" if page.locator(f".st-key-answer-{turn}").count() else "refusal"
    return turn, kind


def card_titles(page, turn: int) -> list[str]:
    text = (
        page.locator(f".st-key-sources-{turn}").inner_text()
        if page.locator(f".st-key-sources-{turn}").count()
        else ""
    )
    return re.findall(r"^\[(\d+)\] (.+)$", text, re.M)


def staff_login(page, server: Server) -> None:
    page.goto(server.url + "/staff")
    page.get_by_label("Staff password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("tab", name="Add files").wait_for()
    wait_idle(page)


def staff_upload(page, name: str, data: bytes, fields: dict[str, str] | None = None) -> str:
    """Upload one file through the "Add files" form; returns the result line shown."""
    page.get_by_role("tab", name="Add files").click()
    panel = page.get_by_role("tabpanel")
    panel.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "text/markdown", "buffer": data}]
    )
    chip = panel.get_by_test_id("stFileChip").filter(has_text=re.compile(r"\d\s?[KM]?B"))
    chip.first.wait_for(timeout=ANSWER_TIMEOUT_MS)  # uploaded: the chip shows the file's size
    for label, value in (fields or {}).items():
        panel.get_by_label(label, exact=True).fill(value)
    panel.get_by_role("button", name="Add to documents").click()
    result = page.locator(
        '[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentError"]', has_text=name
    )
    result.first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    wait_idle(page)
    return result.first.inner_text()


def staff_delete(page, doc_id: str) -> None:
    page.get_by_role("tab", name="Documents").click()
    panel = page.get_by_role("tabpanel")
    panel.get_by_role("combobox", name="Document to change").click()
    panel.get_by_role("combobox", name="Document to change").fill(doc_id)  # the list is virtualised
    page.get_by_role("option", name=re.compile(re.escape(f"({doc_id})"))).click()
    wait_idle(page)
    panel = page.get_by_role("tabpanel")
    confirm = panel.locator("label").filter(has_text=f"({doc_id}) from answers")  # once the run is done
    confirm.click()  # (the checkbox input itself is visually hidden behind its label)
    assert panel.get_by_role("checkbox", name=re.compile(re.escape(f"({doc_id})"))).is_checked()
    panel.get_by_role("button", name="Delete document").click()
    page.get_by_text(f"Deleted {doc_id}.").wait_for()
    wait_idle(page)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def report(capsys, server: Server, key: str, seconds: float) -> None:
    server.timings[key] = round(seconds, 2)
    with capsys.disabled():
        print(f"\n[timing] {key}: {seconds:.2f} s")


# --- residents -----------------------------------------------------------------------------------


def test_resident_gets_cited_answer_with_source_cards(server, new_page, capsys):
    page = new_page()
    open_chat(page, server)
    assert page.get_by_text("Questions are not stored.").is_visible()
    assert page.get_by_role("button", name="Does Norwalk share plate data with ICE?").is_visible()

    turn, kind = ask(page, "Does Norwalk share plate data with ICE?")
    report(capsys, server, "cold_start_to_first_answer_s", time.monotonic() - server.started)
    assert kind == "answer"
    answer = page.locator(f".st-key-answer-{turn}").inner_text()
    assert "[1]" in answer and "Norwalk" in answer
    cards = card_titles(page, turn)
    assert cards and cards[0][0] == "1"
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    assert numbers == {int(n) for n, _ in cards}  # every [n] has its card and every card a [n]
    sources = page.locator(f".st-key-sources-{turn}")
    assert sources.locator("blockquote").count() == len(cards)  # each card quotes its passage
    assert "Connecticut" in sources.inner_text() and "faq" in sources.inner_text()
    shot(page, "chat.png")

    started = time.monotonic()
    turn, kind = ask(page, "How long can license plate reader data be kept?")
    report(capsys, server, "warm_answer_s", time.monotonic() - started)
    assert kind == "answer" and card_titles(page, turn)
    assert page.get_by_role("button", name="New conversation").is_enabled()


def test_out_of_scope_question_is_refused_not_an_error(server, new_page):
    page = new_page()
    open_chat(page, server)
    turn, kind = ask(page, "Who won the 2024 World Series?")
    assert kind == "refusal"
    refusal = page.locator(f".st-key-refusal-{turn}")
    assert refusal.locator('[data-testid="stAlertContentInfo"]').count() == 1
    text = refusal.inner_text()
    assert "Not answered: outside what these documents cover" in text and "What you can do next" in text
    assert page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]').count() == 0
    assert not card_titles(page, turn)
    shot(page, "chat-refusal.png")


def test_follow_up_uses_the_conversation(server, new_page, capsys):
    page = new_page()
    open_chat(page, server)
    ask(page, "Does Norwalk share plate data with ICE?")
    started = time.monotonic()
    turn, kind = ask(page, "What about Westport?")
    report(capsys, server, "follow_up_answer_s", time.monotonic() - started)
    assert kind == "answer"
    assert "Westport" in page.locator(f".st-key-answer-{turn}").inner_text()
    assert page.get_by_text("I read this as: Does Westport share plate data with ICE?").is_visible()

    stored = page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])")
    assert "Westport" not in stored and "Norwalk" not in stored  # the browser keeps no questions
    assert "Westport" not in page.url

    page.get_by_role("button", name="New conversation").click()
    page.get_by_role("heading", name="Try asking").wait_for()
    assert page.locator('[data-testid="stChatMessage"]').count() == 0


# --- the document view -----------------------------------------------------------------------------

QUOTE_IN_VIEW_JS = """() => {
  const mark = document.querySelector('mark');
  if (!mark) return false;
  const box = mark.getBoundingClientRect();
  return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
}"""


NAV_TITLES_JS = "els => els.map(e => e.innerText.split('\\n').filter(t => t.trim()).pop())"  # (not the icon)


def open_view(link) -> tuple:
    """Click a citation's link (it opens a tab); returns the tab and the seconds from the click until
    the quote is marked and in the window, without the visitor scrolling."""
    started = time.monotonic()
    with link.page.context.expect_page() as opened:
        link.click()
    view = opened.value
    view.wait_for_function(QUOTE_IN_VIEW_JS, timeout=ANSWER_TIMEOUT_MS)
    seconds = time.monotonic() - started
    wait_idle(view)
    assert view.evaluate(QUOTE_IN_VIEW_JS), "the quote left the window once the page was drawn"
    assert view.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count() == 0
    return view, seconds


def answer_mark(page, turn: int, n: int = 1):
    """The first [n] in the answer's text: a link to that citation's view."""
    return page.locator(f".st-key-answer-{turn} a", has_text=f"[{n}]").first


def doc_mark(page, turn: int, doc_id: str):
    """The first [n] in the answer's text that cites `doc_id` (which source leads may change)."""
    return page.locator(f".st-key-answer-{turn} a[href*='doc={doc_id}&']").first


def view_params_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def view_params(view) -> dict[str, str]:
    return view_params_of(view.url)


def yellow_share(png: bytes, box: tuple[float, float, float, float]) -> float:
    """The share of the pixels inside `box` (fractions of the image's width and height) that are the
    highlight's yellow (or text under it)."""
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    h, w = image.shape[:2]
    region = image[int(box[1] * h) : int(box[3] * h), int(box[0] * w) : int(box[2] * w)]
    r, g, b = region[..., 0], region[..., 1], region[..., 2]
    return float(((r > 150) & (g > 120) & (b < 0.75 * g)).mean()) if region.size else 0.0


def test_citation_opens_the_pdf_page_with_the_quote_highlighted(server, new_page, capsys):
    page = new_page(WINDOW)
    open_chat(page, server)
    turn, kind = ask(page, "How long does Marrowdale keep license plate reader data?")
    assert kind == "answer" and card_titles(page, turn)[0] == ("1", "Marrowdale Police ALPR policy")
    view, seconds = open_view(answer_mark(page, turn))
    report(capsys, server, "click_to_highlighted_view_cold_s", seconds)  # the process's first view
    assert view_params(view)["doc"] == "marrowdale-alpr-policy"
    assert "45 days" in view.locator("mark").inner_text()
    view.get_by_role("heading", name="Marrowdale Police ALPR policy", level=1).wait_for()
    facts = view.get_by_text("Official record · Marrowdale Police Department · published 2025-02-01")
    assert facts.is_visible()
    assert view.get_by_role("link", name="Open the original at page 2").get_attribute("href") == (
        "https://marrowdale.example.gov/police/alpr-policy.pdf#page=2"
    )
    assert view.get_by_text("The text was extracted from the PDF").is_visible()  # the backend's note
    assert re.search(r"\b[0-9a-f]{64}\b", view.locator('[data-testid="stCode"]').inner_text())

    image = view.get_by_role("img", name="Page 2 of the original")
    image.wait_for()
    assert view.get_by_text("Page 2 of the original, the quoted words in yellow").is_visible()
    png = view.request.get(server.url + image.get_attribute("src").removeprefix(server.url)).body()
    with pdfplumber.open(server.data.parent / "documents" / "marrowdale-alpr-policy.pdf") as pdf:
        sheet = pdf.pages[1]
        words = {w["text"]: w for w in sheet.extract_words()}
        where = [(w["x0"] / sheet.width, w["top"] / sheet.height, w["x1"] / sheet.width,
                  w["bottom"] / sheet.height) for w in (words["45"], words["Retention"])]  # fmt: skip
    assert yellow_share(png, where[0]) > 0.5  # the quoted words are under the highlight
    assert yellow_share(png, where[1]) < 0.05  # the heading above them is not quoted
    shot(view, "view-pdf.png")
    view.close()

    view, seconds = open_view(answer_mark(page, turn))  # the same citation again: a warm process
    report(capsys, server, "click_to_highlighted_view_warm_s", seconds)
    assert view.get_by_role("img", name="Page 2 of the original").is_visible()


def test_a_web_page_and_an_explainer_open_at_their_passages(server, new_page):
    page = new_page(WINDOW)
    open_chat(page, server)
    turn, kind = ask(page, "How long does Fenwick keep traffic camera footage?")
    assert kind == "answer" and card_titles(page, turn)[0] == ("1", "Fenwick adds traffic cameras downtown")
    card_link = page.locator(f".st-key-sources-{turn}").get_by_role("link", name="Show where it says this")
    view, _ = open_view(card_link.first)
    assert "14 days" in view.locator("mark").inner_text()
    assert view.get_by_text("News · Fenwick Daily News · published 2025-04-10").is_visible()
    assert view.get_by_text("the web page's main text as read when it was indexed").is_visible()
    assert view.get_by_role("img").count() == 0  # no page image for a web page
    assert view.evaluate(CONTRAST_JS) == []
    shot(view, "view-html.png")

    turn, kind = ask(page, "Does Norwalk share plate data with ICE?")
    view, _ = open_view(doc_mark(page, turn, "norwalk-faq"))
    assert view_params(view)["doc"] == "norwalk-faq"
    assert view.get_by_text("Explainer · Plainsight").is_visible()
    rests_on = view.get_by_role("heading", name="What this explainer rests on")
    assert rests_on.is_visible()
    hrefs = view.eval_on_selector_all(
        '[data-testid="stMarkdownContainer"] li a[href]', "els => els.map(e => e.getAttribute('href'))"
    )
    assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs), hrefs
    assert view.evaluate(CONTRAST_JS) == [] and view.evaluate(UNLABELLED_JS) == []
    shot(view, "view-explainer.png")

    following = f"norwalk-faq#{int(view_params(view)['chunk'].split('#')[1]) + 1}"
    view.get_by_role("link", name="Next passage").click()  # in the same tab, nothing to mark
    view.wait_for_url(lambda url: view_params_of(url).get("chunk") == following)
    wait_idle(view)
    assert "q" not in view_params(view)
    assert view.locator("mark").count() == 0
    assert view.get_by_role("link", name="Previous passage").is_visible()

    phone = new_page(PHONE)
    phone.goto(view.url)
    phone.get_by_role("heading", name="What this explainer rests on").wait_for()
    wait_idle(phone)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_widget_opens_each_source_at_its_view(server, browser, embeddings, tmp_path, capsys):
    """The widget on another site links every source to its view on the app (`app_url`), which
    opens at the quote: the API serves a copy of the app's store."""
    with static_site(tmp_path) as site:
        settings = Settings(
            data_dir=server.data.parent / "api-data",
            app_url=server.url,
            cors_origins=site,
            rate_limit_per_minute=0,
        )
        chain = AnswerChain(settings, Store(settings, embeddings=embeddings))
        with serve_app(create_app(settings, chain)) as api:
            (tmp_path / "index.html").write_text(
                "<!doctype html><html><head><meta charset='utf-8'><title>Marrowdale news</title></head>"
                f'<body><h1>Marrowdale news</h1><script src="{api}/widget.js" async></script></body></html>',
                encoding="utf-8",
            )
            context = browser.new_context(viewport=WINDOW)
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.goto(f"{site}/index.html")
            page.get_by_role("button", name="Ask Plainsight").click()
            page.get_by_label("Your question").fill(
                "How long does Marrowdale keep license plate reader data?"
            )
            page.get_by_label("Your question").press("Enter")
            source = page.locator(".src").first
            source.wait_for(timeout=ANSWER_TIMEOUT_MS)
            link = source.get_by_role("link", name="Show where it says this")
            href = link.get_attribute("href")
            assert href.startswith(
                f"{server.url}/source?doc=marrowdale-alpr-policy&chunk=marrowdale-alpr-policy%23"
            )
            assert link.get_attribute("target") == "_blank"
            view, seconds = open_view(link)
            report(capsys, server, "widget_click_to_highlighted_view_s", seconds)
            assert (
                view_params(view) == view_params_of(href) and "45 days" in view.locator("mark").inner_text()
            )
            assert parse_qs(urlsplit(href).query)["q"][0] in source.locator("blockquote").text_content()
            context.close()


def test_direct_links_show_the_app_navigation(corpus_store, tmp_path, browser, server, capsys):
    """A fresh server opened first at /staff once showed Streamlit's own page list ("streamlit app",
    "chat", "staff"): the pages folder was also read as a legacy multipage app. The view opened
    next is that process's first (nothing imported or opened yet): the cold case of a shared link."""
    shutil.copytree(corpus_store.settings.data_dir, tmp_path / "data")
    norwalk = "Norwalk, Connecticut: questions about license plate data and ICE"
    with streamlit_server(tmp_path / "data", tmp_path / "streamlit.log") as fresh:
        for path, heading in (
            ("/staff", "Staff: manage documents"),  # the first page the fresh server is asked for
            ("/source?doc=norwalk-faq&chunk=norwalk-faq%231&q=Norwalk%20officials%20denied", norwalk),
            ("/source?doc=deleted-policy&chunk=deleted-policy%230", "Source not found"),
            ("/", "Ask about police surveillance"),
        ):
            context = browser.new_context(viewport=WINDOW)
            page = context.new_page()
            started = time.monotonic()
            page.goto(fresh.url + path)
            page.get_by_role("heading", name=heading, level=1).wait_for(timeout=ANSWER_TIMEOUT_MS)
            if "&q=" in path:
                page.wait_for_function(QUOTE_IN_VIEW_JS, timeout=ANSWER_TIMEOUT_MS)
                report(capsys, server, "link_to_highlighted_view_fresh_process_s", time.monotonic() - started)
            wait_idle(page)
            titles = page.locator('[data-testid="stSidebarNav"] a').evaluate_all(NAV_TITLES_JS)
            assert titles == ["Ask a question", "Staff"], (path, titles)
            assert page.get_by_text("streamlit app").count() == 0, path
            if heading == "Source not found":
                assert page.get_by_text("it may have been removed or replaced").is_visible()
            context.close()


# --- staff -----------------------------------------------------------------------------------------


def test_staff_upload_is_cited_and_deleted_document_never_again(server, new_page, capsys):
    staff = new_page()
    staff_login(staff, server)
    shot(staff, "staff.png")
    started = time.monotonic()
    shown = staff_upload(
        staff,
        "quillfield-drones.md",
        QUILLFIELD,
        {
            "Title (optional)": "Quillfield police drone policy",
            "Source URL (optional)": "https://quillfield.example/police/drones",
            "Publisher": "Town of Quillfield",
            "Published (YYYY-MM-DD)": "2025-03-01",
            "Jurisdiction": "Quillfield, VT",
        },
    )
    report(capsys, server, "staff_upload_one_file_s", time.monotonic() - started)
    assert "quillfield-drones.md — added as quillfield-drones" in shown

    resident = new_page()
    open_chat(resident, server)
    question = "How long does Quillfield keep police drone video?"
    turn, kind = ask(resident, question)
    assert kind == "answer"
    assert "30 days" in resident.locator(f".st-key-answer-{turn}").inner_text()
    assert ("1", "Quillfield police drone policy") in card_titles(resident, turn)
    link = resident.locator(f".st-key-sources-{turn}").get_by_role(
        "link", name="Open the original of source 1"
    )
    assert link.get_attribute("href") == "https://quillfield.example/police/drones"

    staff.get_by_role("tab", name="Documents").click()
    shot(staff, "staff-documents.png")
    staff_delete(staff, "quillfield-drones")

    turn, kind = ask(resident, question)  # the same resident session asks again
    assert kind == "refusal"
    assert "don't mention Quillfield" in resident.locator(f".st-key-refusal-{turn}").inner_text()
    assert not card_titles(resident, turn)


def test_hostile_document_renders_inert(server, new_page):
    staff = new_page()
    staff_login(staff, server)
    assert "brindlemoor-notice.md — added as brindlemoor-notice" in staff_upload(
        staff, "brindlemoor-notice.md", HOSTILE
    )
    page = new_page()
    open_chat(page, server)
    turn, kind = ask(page, "Can Brindlemoor residents withdraw consent for doorbell camera footage?")
    assert kind == "answer"
    page.wait_for_timeout(500)  # give any injected script a chance to run (it must not)
    reply = page.locator('[data-testid="stChatMessage"]').last
    text = reply.inner_text()
    assert "[click](javascript:alert(1))" in text
    assert "<script>alert(1)</script>" in text  # the title and quote show the literal text
    assert page.get_by_text("Brindlemoor camera notice <script>alert(1)</script>").first.is_visible()
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if h.strip().lower().startswith(("javascript", "data:"))], hrefs
    links = reply.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert links and all(h.startswith("source?doc=brindlemoor-notice&") for h in links), (
        links
    )  # only its views
    assert reply.locator("script, img, iframe, b").count() == 0
    assert page.evaluate("[...document.scripts].some(s => s.textContent.includes('alert(1)'))") is False
    view, _ = open_view(answer_mark(page, turn))  # the document view shows it as text too
    view.wait_for_timeout(500)
    assert view.get_by_role(
        "heading", name="Brindlemoor camera notice <script>alert(1)</script>"
    ).is_visible()
    shown = view.locator('[data-testid="stMain"]').inner_text()
    assert "[click](javascript:alert(1))" in view.locator("mark").inner_text()
    assert "<script>alert(1)</script>" in shown and "<img src=x onerror=alert(2)>" in shown
    assert view.locator('[data-testid="stMain"]').locator("img, iframe, b").count() == 0
    assert view.evaluate("[...document.scripts].some(s => s.textContent.includes('alert('))") is False
    view_links = view.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in view_links if h.strip().lower().startswith(("javascript", "data:"))], view_links
    view.close()
    page.get_by_role("combobox", name="Place").click()  # a jurisdiction is an option, shown as text
    option = page.get_by_role("option", name="Brindlemoor, VT [town](javascript:alert(3))")
    option.wait_for()
    assert option.locator("a").count() == 0
    page.keyboard.press("Escape")
    staff.get_by_role("tab", name="Documents").click()  # staff see the title as text too
    panel = staff.get_by_role("tabpanel")
    panel.get_by_role("combobox", name="Document to change").click()
    panel.get_by_role("combobox", name="Document to change").fill("brindlemoor-notice")
    staff.get_by_role("option", name=re.compile("brindlemoor-notice")).click()
    confirm = panel.locator("label").filter(has_text="(brindlemoor-notice) from answers")
    confirm.wait_for()
    wait_idle(staff)
    assert "Yes, remove “Brindlemoor camera notice <script>alert(1)</script>”" in confirm.inner_text()
    assert panel.get_by_label("Title (optional)").input_value() == (
        "Brindlemoor camera notice <script>alert(1)</script>"
    )
    assert panel.locator("a[href], script, b").count() == 0
    staff_delete(staff, "brindlemoor-notice")


# --- accessibility and mobile ----------------------------------------------------------------------


def test_pages_work_at_375px_and_are_accessible(server, new_page):
    page = new_page(PHONE)
    open_chat(page, server)
    turn, kind = ask(page, "What is Flock Safety?")
    assert kind == "answer" and card_titles(page, turn)
    ask(page, "Who won the 2024 World Series?")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
    assert chat_box(page).is_visible()
    page.locator(f".st-key-answer-{turn}").scroll_into_view_if_needed()
    shot(page, "chat-375.png")
    assert page.locator("h1").count() == 1
    assert page.evaluate(UNLABELLED_JS) == []
    assert page.evaluate(CONTRAST_JS) == []

    staff = new_page(PHONE)
    staff.goto(server.url + "/staff")
    staff.get_by_role("heading", name="Staff: manage documents", level=1).wait_for()
    assert staff.evaluate(UNLABELLED_JS) == []
    staff_login(staff, server)
    assert staff.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(staff, "staff-375.png")
    for tab in ("Add files", "Add a web page", "Documents"):
        staff.get_by_role("tab", name=tab).click()
        wait_idle(staff)
        assert staff.evaluate(UNLABELLED_JS) == [], tab
        assert staff.evaluate(CONTRAST_JS) == [], tab


def test_desktop_contrast_and_labels(server, new_page):
    page = new_page()
    open_chat(page, server)
    assert page.evaluate(UNLABELLED_JS) == []
    assert page.evaluate(CONTRAST_JS) == []
    ask(page, "What does a CCOPS ordinance require?")
    assert page.evaluate(CONTRAST_JS) == []


def test_server_log_holds_no_questions(server):
    log = server.log.read_text(errors="replace")
    assert ASKED, "run with the other tests of this module"
    for question in ASKED:
        assert question not in log
    assert "Traceback" not in log, log


def test_starting_the_app_asks_no_one_for_its_public_address(tmp_path, corpus_store):
    """`make run` as it is (no `--server.address`): Streamlit's banner must not look up the public IP."""
    env = cli_env(corpus_store.settings.data_dir)
    streamlit = Path(sys.executable).with_name("streamlit")
    log = tmp_path / "streamlit.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(streamlit), "run", str(ROOT / "streamlit_app.py"), "--server.port", str(free_port())],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "URL:" not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(2)  # the lookup, when made, comes right after the first URL line
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert "URL: http://localhost:" in text
    assert "External URL" not in text and "external IP" not in text, text


def test_usage_statistics_are_off():
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert re.search(r"^gatherUsageStats\s*=\s*false", config, re.M)
    assert os.environ.get("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false").lower() == "false"
