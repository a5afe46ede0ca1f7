"""What the staff page does, without Streamlit: log in, add files or a web page, replace, delete.

* The password is compared in constant time (`hmac.compare_digest`), and every failed attempt
  doubles a process-wide waiting time (up to a minute) during which no attempt is checked, so
  guessing is slow no matter how many browser sessions try.
* A web page is fetched by `ingest.web` (the API's and the CLI's fetcher too: public addresses
  only, one deadline, size capped while reading) and read according to its content type; the
  address typed becomes `source_url` and names the document.
* Metadata is checked by `ingest.web.check_metadata`, as the API checks it.
* Every file gets a `FileResult`; a failure carries the reason and the batch goes on. A store
  that another process is writing to is such a reason (the upload waited for it and gave up).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from bot.core.store import Store, StoreError
from ingest.limits import file_too_large, max_file_bytes
from ingest.loaders import SUPPORTED
from ingest.pipeline import FileResult, ingest_document
from ingest.web import check_metadata


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

    Raises ValueError with a reason when a field is malformed (the API's checks)."""
    return check_metadata(values)


def ingest_upload(
    store: Store, name: str, data: bytes, meta: dict[str, Any], replace: bool = False
) -> FileResult:
    """One uploaded file -> the store, refused with a reason when too large or unreadable."""
    max_bytes = max_file_bytes(store.settings)
    if len(data) > max_bytes:
        return FileResult(name, "failed", reason=file_too_large(len(data), max_bytes))
    try:
        return ingest_document(store, name, data, meta, replace=replace)
    except StoreError as exc:  # another process is writing: say who, and to try again
        return FileResult(name, "failed", reason=str(exc))
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


def supported_extensions() -> list[str]:
    """File extensions the uploader accepts (without dots)."""
    return sorted(ext.lstrip(".") for ext in SUPPORTED)
