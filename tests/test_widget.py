"""The embeddable widget in Chromium: a page on another origin loads `/widget.js` from the API and
asks a question; the answer shows [n] markers and its sources, each with its kind and a link to its
passage's view on the app (`view_url`). Document text that looks like HTML stays text, and a link
is only ever http(s). A page whose origin is not allowed gets no
answer (CORS), and says so.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from live_server import serve_app, static_site

from bot.chain import AnswerChain
from bot.core.settings import Settings
from bot.core.store import Store
from bot.interfaces.api import create_app
from ingest.pipeline import ingest_document

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

POLICY = b"""---
doc_id: lakeside-alpr
title: "Lakeside Police license plate reader policy"
publisher: Lakeside Police Department
published: 2024-06-01
jurisdiction: "Lakeside, CT"
doc_type: policy
source_url: https://lakeside.example.gov/alpr-policy.pdf
---
# Retention

The Lakeside Police Department keeps license plate reader data for ninety days and then deletes it.
Lakeside shares plate data with other Connecticut agencies only for an active criminal investigation.
"""

HOSTILE = b"""---
doc_id: brookfield-cameras
title: "<img src=x onerror=\\"window.__pwned=1\\"> Brookfield camera log"
publisher: "<b>Brookfield</b> records office"
jurisdiction: "Brookfield, CT"
doc_type: report
source_url: "javascript:window.__pwned=2"
---
# Brookfield cameras

Brookfield police keep traffic camera footage for <img src=x onerror="window.__pwned=3">thirty days
before it is overwritten, according to the <script>window.__pwned=4</script> records office.
"""


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: install it with `apt-get install -y chromium` (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def chain(tmp_path_factory, embeddings):
    store = Store(Settings(data_dir=tmp_path_factory.mktemp("widget") / "data"), embeddings=embeddings)
    for name, data in (("lakeside.md", POLICY), ("brookfield.md", HOSTILE)):
        assert ingest_document(store, name, data).status == "added"
    return AnswerChain(store.settings, store)


@pytest.fixture(scope="module")
def sites(tmp_path_factory, chain):
    """(allowed page URL, refused page URL): one page on two origins, the API on a third."""
    folder = tmp_path_factory.mktemp("site")
    with static_site(folder) as allowed, static_site(folder) as refused:
        settings = Settings(
            data_dir=chain.store.settings.data_dir, cors_origins=allowed, rate_limit_per_minute=0
        )
        with serve_app(create_app(settings, chain)) as api:
            (folder / "index.html").write_text(
                "<!doctype html><html><head><meta charset='utf-8'><title>Lakeside news</title></head>"
                "<body><h1>Lakeside town news</h1><p>Council meets Tuesday.</p>"
                f'<script src="{api}/widget.js" async></script></body></html>',
                encoding="utf-8",
            )
            yield f"{allowed}/index.html", f"{refused}/index.html"


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def ask(page, question: str) -> None:
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")


def test_widget_answers_with_citations_and_sources(page, sites):
    page.goto(sites[0])
    page.get_by_role("button", name="Ask Plainsight").click()
    ask(page, "How long does Lakeside keep plate reader data?")

    source = page.locator(".src").first
    source.wait_for(timeout=60_000)
    answer = page.locator(".a").first.text_content()
    assert "ninety days" in answer and "[1]" in answer
    assert source.locator(".t").text_content() == "[1] Lakeside Police license plate reader policy"
    assert "official · Lakeside Police Department" in source.locator(".m").text_content()  # its kind first
    quote = source.locator("blockquote").text_content()
    assert "ninety days" in quote
    original, view = source.get_by_role("link", name="Open the original"), source.locator("a.view")
    assert original.get_attribute("href") == "https://lakeside.example.gov/alpr-policy.pdf"
    assert view.text_content() == "Show where it says this"  # the passage, highlighted, on the app
    href = view.get_attribute("href")
    assert href.startswith(f"{Settings().app_url}/source?doc=lakeside-alpr&chunk=lakeside-alpr%23")
    assert parse_qs(urlsplit(href).query)["q"] == [quote]
    for link in (original, view):
        assert link.get_attribute("rel") == "noopener noreferrer nofollow"
        assert link.get_attribute("target") == "_blank"

    ask(page, "And who does it share the data with?")  # a follow-up: history goes with it
    page.locator(".a").nth(1).filter(has_text="[1]").wait_for(timeout=60_000)
    assert "criminal investigation" in page.locator(".a").nth(1).text_content()
    assert page.errors == []


def test_document_text_is_never_rendered_as_html(page, sites):
    page.goto(sites[0])
    page.get_by_role("button", name="Ask Plainsight").click()
    ask(page, "How long do Brookfield police keep traffic camera footage?")

    source = page.locator(".src").first
    source.wait_for(timeout=60_000)
    assert source.locator(".t").text_content().startswith('[1] <img src=x onerror="window.__pwned=1">')
    assert "<b>Brookfield</b>" in source.locator(".m").text_content()
    assert "<img src=x" in source.locator("blockquote").text_content()
    assert source.locator("a.original").count() == 0, "a javascript: source is not a link"
    (href,) = source.locator("a").evaluate_all("els => els.map(e => e.href)")  # only its view
    assert href.startswith(f"{Settings().app_url}/source?doc=brookfield-cameras&")
    widget = page.locator("#plainsight-widget")
    assert widget.locator("img").count() == 0 and widget.locator("b").count() == 0
    assert widget.locator("script").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []


def test_page_on_an_origin_not_allowed_gets_no_answer(page, sites):
    page.goto(sites[1])
    page.get_by_role("button", name="Ask Plainsight").click()
    ask(page, "How long does Lakeside keep plate reader data?")

    error = page.locator(".a.error")
    error.wait_for(timeout=60_000)
    assert error.text_content() == "Could not reach the answering service."
    assert page.locator(".src").count() == 0
