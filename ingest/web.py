"""The one URL fetcher (API, staff page and CLI), which cannot be pointed inside the network.

A staff member's URL is fetched by the server, and whatever it returns becomes searchable by
anyone, so a URL that reaches the server's own network would publish it: the server's `/healthz`,
a router's admin page, a cloud metadata endpoint. So:

* Every address the host name resolves to must be a public internet address: loopback, private,
  link-local, multicast, reserved and unspecified addresses are refused, IPv4 and IPv6 alike,
  including `0.0.0.0`, IPv4-mapped IPv6 (`::ffff:127.0.0.1`), 6to4, Teredo and NAT64 forms of
  them, and names that resolve there (`localhost`, a DNS record pointing at 10.0.0.1).
* The check is made where the connection is opened (an httpcore network backend), and the socket
  is connected to the address that was checked, not to a second lookup, so a name that answers
  a public address first and a private one next (DNS rebinding) gains nothing. Host and TLS
  server name stay the URL's host name, so certificates are verified as usual.
* Redirects are followed here, one at a time, so every hop goes through the same check.
* One deadline covers the whole download (lookups, connections, redirects, body): a watchdog
  shuts the sockets when it passes, so a server that trickles a byte a second cannot hold a
  request open. The size cap applies to the declared length and to the bytes as they arrive.
* `PLAINSIGHT_FETCH_ALLOW_HOSTS` names hosts (host names or addresses, compared with the URL's
  host) that may be fetched anyway: a trusted intranet server, or a test's loopback server.
* The document is named after the URL the staff gave, never the one a redirect led to, so a
  redirect cannot change which document an ingest replaces, nor its `source_url`.

`check_metadata` is the one set of checks for metadata typed by staff (API form fields or JSON,
the staff page's form).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from bot.core.safe_text import web_url
from bot.core.vocabulary import DOC_TYPES, SOURCE_KINDS
from ingest.limits import file_too_large, max_file_bytes
from ingest.loaders import SUPPORTED, slugify

if TYPE_CHECKING:
    from bot.core.settings import Settings
    from bot.core.store import Store
    from ingest.pipeline import FileResult

CONTENT_TYPES = {  # content type -> the file extension whose loader reads it
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/csv": ".csv",
    "application/json": ".json",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
MAX_REDIRECTS = 5
READ_TIMEOUT = 20.0  # seconds without a byte; the overall deadline is the caller's
USER_AGENT = "Plainsight document fetcher"
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
FORM_FIELDS = ("doc_id", "title", "source_url", "publisher", "published", "jurisdiction", "doc_type",
               "topics", "language", "source_kind")  # fmt: skip
NAT64 = ipaddress.ip_network("64:ff9b::/96")
KINDS = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
)


class FetchError(Exception):
    """A web address that cannot be ingested, with the reason (`too_large`: over the size cap)."""

    def __init__(self, reason: str, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


@dataclass(frozen=True)
class Fetched:
    """A downloaded document: a file name whose extension says how to read it, and its bytes."""

    url: str  # as given
    name: str
    content_type: str
    data: bytes
    final_url: str = ""  # where the redirects ended


def address_kind(address: str) -> str | None:
    """Why `address` is not a public internet address ("loopback", "private", ...), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):  # IPv4 wrapped in IPv6 is judged as that IPv4
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip.sixtofour:
            ip = ip.sixtofour
        elif ip.teredo:
            ip = ip.teredo[1]
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for test, kind in KINDS:
        if getattr(ip, test):
            return kind
    return None if ip.is_global else "not globally routable"


def name_for(url: str, extension: str) -> str:
    """A readable file name (and so default doc_id) from a URL: host and path, slugged."""
    parts = urlsplit(url)
    path = re.sub(r"\.(html?|pdf|txt|md|markdown|csv|json|docx|php|aspx?)$", "", parts.path, flags=re.I)
    stem = slugify(f"{parts.hostname or ''} {path}")[:80].strip("-") or "web-page"
    return stem + extension


def check_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Metadata typed by staff -> the `meta` for ingesting (blanks left out, topics split).

    Raises ValueError with a reason when a field is malformed."""
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
    if "source_kind" in meta and meta["source_kind"] not in SOURCE_KINDS:
        raise ValueError(f"kind of source must be one of {', '.join(SOURCE_KINDS)}")
    if "source_url" in meta and not web_url(str(meta["source_url"])):
        raise ValueError("source URL must start with http:// or https://")
    return meta


class _Guard:
    """One download's rules: which hosts skip the address check, its deadline, its sockets."""

    def __init__(self, allow_hosts: Iterable[str], seconds: float) -> None:
        self.allow = {h.strip().lower().strip("[]").rstrip(".") for h in allow_hosts if h.strip()}
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.expire()
            raise FetchError(self.late())
        return left

    def late(self) -> str:
        return f"the download took longer than {self.seconds:g} seconds"

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def track(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._sockets.append(sock)
                if self.expired:
                    sock.shutdown(socket.SHUT_RDWR)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to, all public (or the host allowed), else FetchError."""
        name = host.lower().strip("[]").rstrip(".")
        found = _resolve(name, port, self.remaining())
        if name in self.allow:
            return found
        for address in found:
            kind = address_kind(address)
            if kind:
                shown = host if host.strip("[]") == address else f"{host} ({address})"
                article = "an" if kind[0] in "aeiou" else "a"
                raise FetchError(
                    f"{shown} is {article} {kind} address, not a public web server; fetching it is refused "
                    "(an administrator can allow a trusted host with PLAINSIGHT_FETCH_ALLOW_HOSTS)"
                )
        return found


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    """getaddrinfo within `timeout` seconds (it cannot be interrupted, so it runs in a thread)."""
    box: dict[str, Any] = {}

    def lookup() -> None:
        try:
            box["found"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=lookup, name="plainsight-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise FetchError(f"looking up {host} took too long")
    if "error" in box or not box.get("found"):
        raise FetchError(f"{host} could not be found (no such host)")
    return list(dict.fromkeys(info[4][0] for info in box["found"]))


class _CheckedBackend(httpcore.NetworkBackend):
    """httpcore's sockets, connected only to addresses `_Guard` has checked."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        error: Exception | None = None
        for address in self.guard.addresses(host, port):
            wait = min(timeout or READ_TIMEOUT, self.guard.remaining())
            try:
                stream = self.inner.connect_tcp(address, port, wait, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            self.guard.track(stream.get_extra_info("socket"))
            return stream
        raise error or httpcore.ConnectError(f"could not connect to {host}")

    def connect_unix_socket(self, *args, **kwargs):
        raise FetchError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self, guard: _Guard) -> None:
        super().__init__(trust_env=False, retries=0)  # no proxy from the environment
        ssl_context = httpx.create_ssl_context(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, max_connections=4, network_backend=_CheckedBackend(guard)
        )


def fetch(
    url: str,
    max_bytes: int,
    *,
    timeout: float = 60.0,
    allow_hosts: Iterable[str] = (),
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """Download `url` (http/https) within `timeout` seconds and `max_bytes`, from public addresses
    only (see the module docstring). `transport` replaces the network (tests only: a mock
    transport has no addresses to check)."""
    url = url.strip()
    if not web_url(url):
        raise FetchError("the address must start with http:// or https://")
    guard = _Guard(allow_hosts, timeout)
    watchdog = threading.Timer(timeout, guard.expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        with httpx.Client(
            transport=transport or _CheckedTransport(guard),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        ) as client:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                step = httpx.Timeout(min(READ_TIMEOUT, guard.remaining()))
                with client.stream("GET", current, timeout=step) as response:
                    if response.is_redirect:
                        current = urljoin(current, response.headers["location"].strip())
                        if not web_url(current):
                            raise FetchError("the address redirected somewhere that is not http or https")
                        continue
                    return _read(url, current, response, max_bytes, guard)
            raise FetchError(f"more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        if guard.expired:
            raise FetchError(guard.late()) from exc
        if isinstance(exc, httpx.TimeoutException):
            raise FetchError("the server did not answer in time") from exc
        raise FetchError(f"could not download ({type(exc).__name__})") from exc
    finally:
        watchdog.cancel()


def _read(url: str, final: str, response: httpx.Response, max_bytes: int, guard: _Guard) -> Fetched:
    if response.status_code >= 400:
        raise FetchError(f"the server answered HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    extension = CONTENT_TYPES.get(content_type)
    suffix = "." + urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in urlsplit(url).path else ""
    if extension is None and content_type in ("", "application/octet-stream") and suffix in SUPPORTED:
        extension = suffix  # a server that does not say what it sends: trust the address's suffix
    if extension is None:
        raise FetchError(
            f"content type '{content_type or 'none'}' is not a supported document "
            "(HTML, PDF, Word, text, Markdown, CSV or JSON)"
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(file_too_large(int(declared), max_bytes, "the document"), too_large=True)
    data = bytearray()
    for part in response.iter_bytes():
        data.extend(part)
        if len(data) > max_bytes:
            raise FetchError(
                file_too_large(len(data), max_bytes, "the document", at_least=True), too_large=True
            )
        guard.remaining()
    if guard.expired:  # the watchdog shut the socket: the body ended early, not complete
        raise FetchError(guard.late())
    return Fetched(url, name_for(url, extension), content_type, bytes(data), final)


def fetch_for(settings: Settings, url: str, transport: httpx.BaseTransport | None = None) -> Fetched:
    """`fetch` with the settings' size cap, deadline and allowed hosts."""
    return fetch(
        url,
        max_file_bytes(settings),
        timeout=settings.fetch_timeout,
        allow_hosts=settings.fetch_allow_host_list,
        transport=transport,
    )


def ingest_url(
    store: Store,
    url: str,
    meta: dict[str, Any],
    replace: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> FileResult:
    """Fetch a web document and ingest it with `source_url` set to the address given; a refused
    address, a failed download or a store another process is writing to is the result's reason."""
    from bot.core.store import StoreError
    from ingest.pipeline import FileResult, ingest_document

    url = url.strip()
    try:
        fetched = fetch_for(store.settings, url, transport)
        result = ingest_document(store, fetched.name, fetched.data, {**meta, "source_url": url}, replace)
    except (FetchError, StoreError) as exc:
        return FileResult(url, "failed", reason=str(exc))
    return FileResult(url, result.status, result.doc_id, result.chunks, result.reason)
