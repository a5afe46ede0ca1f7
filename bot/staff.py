"""What the staff page does, without Streamlit: log in, add files or a web page, replace, delete.

* The password is compared in constant time (`hmac.compare_digest`), and every failed attempt
  doubles a process-wide waiting time (up to a minute) during which no attempt is checked, so
  guessing is slow no matter how many browser sessions try.
* A web page is fetched with httpx (timeout, redirects limited, size limited while reading) and
  read as HTML, PDF, text or Markdown according to its content type; its URL becomes `source_url`.
* Every file gets a `FileResult`; a failure carries the reason and the batch goes on.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.safe_text import web_url
from bot.store import Store
from ingest.loaders import DOC_TYPES, SUPPORTED, slugify
from ingest.pipeline import FileResult, ingest_document

# content type -> the file extension whose loader reads it
CONTENT_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/csv": ".csv",
    "application/json": ".json",
}
FETCH_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
FETCH_DEADLINE = 60.0  # seconds for the whole download, however slowly the server trickles
MAX_REDIRECTS = 5
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
FORM_FIELDS = ("doc_id", "title", "source_url", "publisher", "published", "jurisdiction", "doc_type",
               "topics", "language")  # fmt: skip


def check_password(given: str, expected: str | None) -> bool:
    """Constant-time comparison; never true when no password is configured."""
    if not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class LoginThrottle:
    """Process-wide slow-down after failed logins: 2 s, 4 s, 8 s, ... at most `cap` seconds."""

    def __init__(self, base: float = 2.0, cap: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.base, self.cap, self.clock = base, cap, clock
        self.failures = 0
        self.until = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Seconds before the next attempt may be checked (0 when it may be checked now)."""
        with self._lock:
            return max(0.0, self.until - self.clock())

    def failed(self) -> float:
        """Record a failure; returns the new waiting time."""
        with self._lock:
            self.failures += 1
            delay = min(self.cap, self.base * 2 ** (self.failures - 1))
            self.until = self.clock() + delay
            return delay

    def succeeded(self) -> None:
        with self._lock:
            self.failures, self.until = 0, 0.0


def attempt_login(given: str, expected: str | None, throttle: LoginThrottle) -> tuple[bool, str]:
    """(logged in, message for the person at the keyboard)."""
    if not expected:
        return False, "Staff login is disabled: PLAINSIGHT_STAFF_PASSWORD is not set."
    wait = throttle.wait()
    if wait > 0:
        return False, f"Too many failed attempts. Try again in {wait:.0f} seconds."
    if check_password(given, expected):
        throttle.succeeded()
        return True, "Logged in."
    delay = throttle.failed()
    return False, f"Wrong password. You can try again in {delay:.0f} seconds."


def form_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Metadata fields typed by staff -> the `meta` for `ingest_document` (blanks left out).

    Raises ValueError with a reason when a field is malformed.
    """
    meta: dict[str, Any] = {}
    for key in FORM_FIELDS:
        value = values.get(key)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, "", []):
            continue
        meta[key] = value
    if "topics" in meta and isinstance(meta["topics"], str):
        meta["topics"] = [t.strip() for t in meta["topics"].split(",") if t.strip()]
    if "published" in meta and not DATE.match(str(meta["published"])):
        raise ValueError("published must be a date written YYYY-MM-DD (or YYYY-MM, or YYYY)")
    if "doc_type" in meta and meta["doc_type"] not in DOC_TYPES:
        raise ValueError(f"document type must be one of {', '.join(sorted(DOC_TYPES))}")
    if "source_url" in meta and not web_url(meta["source_url"]):
        raise ValueError("source URL must start with http:// or https://")
    return meta


def ingest_upload(
    store: Store, name: str, data: bytes, meta: dict[str, Any], replace: bool = False
) -> FileResult:
    """One uploaded file -> the store, refused with a reason when too large or unreadable."""
    max_bytes = int(store.settings.max_file_mb * 1e6)
    if len(data) > max_bytes:
        return FileResult(
            name, "failed", reason=f"file is {len(data) / 1e6:.3g} MB, over the {max_bytes / 1e6:g} MB limit"
        )
    try:
        return ingest_document(store, name, data, meta, replace=replace)
    except Exception as exc:  # the batch goes on; the person sees what went wrong
        return FileResult(name, "failed", reason=f"could not be indexed ({type(exc).__name__}: {exc})")


def ingest_uploads(
    store: Store,
    files: Iterable[tuple[str, bytes]],
    meta: dict[str, Any],
    replace: bool = False,
    on_file: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Several uploaded files with the same metadata; a `doc_id` only makes sense for one file."""
    files = list(files)
    results = []
    for name, data in files:
        if meta.get("doc_id") and len(files) > 1:
            result = FileResult(
                name, "failed", reason="a document ID applies to one file; leave it empty for a batch"
            )
        else:
            result = ingest_upload(store, name, data, meta, replace)
        results.append(result)
        if on_file:
            on_file(result)
    return results


class FetchError(Exception):
    """A web address that cannot be ingested, with the reason."""


@dataclass(frozen=True)
class Fetched:
    """A downloaded web document: a file name whose extension says how to read it, and its bytes."""

    url: str
    name: str
    content_type: str
    data: bytes


def file_name_for(url: str, extension: str) -> str:
    """A readable file name (and so default doc_id) from a URL: host and path, slugged."""
    parts = urlsplit(url)
    path = re.sub(r"\.(html?|pdf|txt|md|markdown|csv|json|php|aspx?)$", "", parts.path, flags=re.I)
    stem = slugify(f"{parts.hostname or ''} {path}")[:80].strip("-") or "web-page"
    return stem + extension


def fetch_url(
    url: str,
    max_bytes: int,
    timeout: httpx.Timeout | float = FETCH_TIMEOUT,
    deadline: float = FETCH_DEADLINE,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """Download `url` (http/https only), refusing anything over `max_bytes` or unreadable."""
    if not web_url(url):
        raise FetchError("the address must start with http:// or https://")
    started = time.monotonic()
    try:
        with httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            transport=transport,
            headers={"User-Agent": "Plainsight document fetcher"},
        ) as client:
            with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise FetchError(f"the server answered HTTP {response.status_code}")
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                extension = CONTENT_TYPES.get(content_type)
                if extension is None:
                    raise FetchError(
                        f"content type '{content_type or 'none'}' is not a supported document "
                        "(HTML, PDF, text, Markdown, CSV or JSON)"
                    )
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(_too_big(int(declared), max_bytes))
                data = bytearray()
                for part in response.iter_bytes():
                    data.extend(part)
                    if len(data) > max_bytes:
                        raise FetchError(_too_big(len(data), max_bytes, at_least=True))
                    if time.monotonic() - started > deadline:
                        raise FetchError(f"the download took longer than {deadline:g} seconds")
                final = str(response.url)
    except httpx.TimeoutException as exc:
        raise FetchError("the server did not answer in time") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError(f"more than {MAX_REDIRECTS} redirects") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"could not download ({type(exc).__name__}: {exc})") from exc
    if not web_url(final):
        raise FetchError("the address redirected somewhere that is not http or https")
    return Fetched(url, file_name_for(url, extension), content_type, bytes(data))


def _too_big(size: int, limit: int, at_least: bool = False) -> str:
    prefix = "more than " if at_least else ""
    return f"the document is {prefix}{size / 1e6:.3g} MB, over the {limit / 1e6:g} MB limit"


def ingest_url(
    store: Store,
    url: str,
    meta: dict[str, Any],
    replace: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> FileResult:
    """Fetch a web document and ingest it with `source_url` set to the address given."""
    url = url.strip()
    try:
        fetched = fetch_url(url, int(store.settings.max_file_mb * 1e6), transport=transport)
    except FetchError as exc:
        return FileResult(url, "failed", reason=str(exc))
    result = ingest_upload(store, fetched.name, fetched.data, {**meta, "source_url": url}, replace)
    return FileResult(url, result.status, result.doc_id, result.chunks, result.reason)


def supported_extensions() -> list[str]:
    """File extensions the uploader accepts (without dots)."""
    return sorted(ext.lstrip(".") for ext in SUPPORTED)
