"""Reading one file so that nothing in it can abort the batch: its own process, its own limits.

Parsers are large C and Python libraries fed files from strangers. Whatever one of them does on a
bad file, the result is that file's failure with a reason and the batch goes on:

* any exception becomes a reason: an `IngestError` says what the person can do; anything else is
  ours to fix and says so ("could not read: ImportError in the HTML reader — please report this");
* by default files are read in a separate process (`python -m ingest.reader`, started once and
  reused), because only another process can be stopped mid-parse: at `read_timeout_s` it is
  killed and restarted, its address space is capped at `read_memory_mb`, and a crash in C code
  (a segfault in a PDF library) costs one file, not the run. The ingesting process never holds a
  parser's peak memory, and the reader is restarted when it has grown, so an ingest's memory stays
  flat however many files it reads;
* warnings the parsers log (pypdf's "Ignoring wrong pointing object 22 0") are collected per file
  and come back tagged with its name, instead of appearing untagged on stderr.

`read_isolated=False` (setting) reads in-process, with the same reasons but no hard limits.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import re
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.limits import IngestError, Limits

Progress = Callable[[int, int], None]
FORMATS = {
    ".html": "HTML", ".htm": "HTML", ".pdf": "PDF", ".docx": "Word", ".csv": "CSV", ".json": "JSON",
    ".md": "Markdown", ".markdown": "Markdown", ".txt": "text", ".png": "image", ".jpg": "image",
    ".jpeg": "image", ".tif": "image", ".tiff": "image",
}  # fmt: skip
MAX_WARNINGS = 5  # distinct warnings reported per file; the rest are counted
RECYCLE_RSS_MB = 500  # a reader process that has grown past this is replaced after the file
HEADER = struct.Struct("!Q")
STARTUP_S = 120  # for a reading process to start and take the file, before its clock runs
GRACE_S = 1  # past read_timeout_s, before the reading process is stopped
ROOT = str(Path(__file__).resolve().parent.parent)


def unexpected(file_name: str, exc: BaseException) -> str:
    """The reason for a failure that is our bug or a broken install, not the person's file."""
    fmt = FORMATS.get(Path(file_name).suffix.lower(), "file")
    if isinstance(exc, RecursionError):
        return f"could not read: the file nests too deeply for the {fmt} reader (RecursionError)"
    if isinstance(exc, MemoryError):
        return (
            "could not read: the file needs more memory than the reader may use (PLAINSIGHT_READ_MEMORY_MB)"
        )
    return f"could not read: {exc.__class__.__name__} in the {fmt} reader — please report this"


class _Collector(logging.Handler):
    """Warnings logged or warned while one file is read, counted by message."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()  # by message with its numbers masked
        self.first: dict[str, str] = {}  # the first message of each kind, as said

    def add(self, message: str) -> None:
        text = " ".join(message.split())[:300]
        kind = re.sub(r"\d+", "#", text)
        self.seen[kind] += 1
        self.first.setdefault(kind, text)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.add(record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed log record is not the file's failure
            pass

    def lines(self) -> list[str]:
        out = [
            f"{self.first[k]} (and {n - 1} more like it)" if n > 1 else self.first[k]
            for k, n in self.seen.most_common(MAX_WARNINGS)
        ]
        if len(self.seen) > MAX_WARNINGS:
            out.append(f"and {len(self.seen) - MAX_WARNINGS} other kinds of warning")
        return out


def read_here(
    file_name: str, data: bytes, meta: dict[str, Any] | None, limits: Limits, progress: Progress | None = None
) -> tuple[Any, list[str]]:
    """Parse in this process: (LoadedDocument or failure reason, warnings)."""
    from ingest.loaders import load_bytes

    collector = _Collector()
    root = logging.getLogger()
    root.addHandler(collector)
    showwarning = warnings.showwarning

    def show(message, category, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - warnings' hook
        collector.add(str(message))

    warnings.showwarning = show
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show
            result: Any = load_bytes(file_name, data, meta, limits=limits, progress=progress)
    except IngestError as exc:
        result = str(exc)
    except Exception as exc:  # noqa: BLE001 - one file's problem never aborts the batch
        result = unexpected(file_name, exc)
    finally:
        warnings.showwarning = showwarning
        root.removeHandler(collector)
    return result, collector.lines()


# --- the reading process -----------------------------------------------------------------------


def _send(stream, message: Any) -> None:
    payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    blob = memoryview(HEADER.pack(len(payload)) + payload)
    while blob:  # an unbuffered pipe may take less than all of it
        blob = blob[stream.write(blob) or 0 :]
    stream.flush()


def _read_exact(stream, size: int) -> bytes:
    """`size` bytes from an unbuffered pipe (whose reads may return less), or EOFError. Unbuffered,
    because a buffered reader may hold the next message where `select` cannot see it."""
    parts, got = [], 0
    while got < size:
        part = stream.read(size - got)
        if not part:
            raise EOFError
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _receive(stream) -> Any:
    (size,) = HEADER.unpack(_read_exact(stream, HEADER.size))
    return pickle.loads(_read_exact(stream, size))


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def serve() -> None:
    """The reading process: one request at a time on stdin, replies on stdout."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library that prints must not corrupt the replies
    logging.basicConfig(level=logging.WARNING, handlers=[logging.NullHandler()])
    import ingest.loaders  # noqa: F401 - the parsers load before any file's clock starts

    while True:
        try:
            file_name, data, meta, limits = _receive(requests)
        except EOFError:
            return
        _send(replies, ("started",))
        cap = int(limits.read_memory_mb * 1e6)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (cap, resource.RLIM_INFINITY))
        except (ValueError, OSError):
            pass
        result, found = read_here(
            file_name, data, meta, limits, lambda done, total: _send(replies, ("progress", done, total))
        )
        del data
        _send(replies, ("done", result, found, _rss_mb()))


class Reader:
    """The parent's handle on one reading process, restarted after a timeout, a crash or growth."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
        }
        env.setdefault("OMP_THREAD_LIMIT", "1")
        return subprocess.Popen(
            [sys.executable, "-m", "ingest.reader"],
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )

    def close(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def read(
        self, file_name: str, data: bytes, meta: dict[str, Any] | None, limits: Limits,
        progress: Progress | None = None,
    ) -> tuple[Any, list[str]]:  # fmt: skip
        with self.lock:
            try:
                return self._read(file_name, data, meta, limits, progress)
            except OSError:  # the reading process cannot be started here: read in this one
                self.close()
                return read_here(file_name, data, meta, limits, progress)

    def _read(self, file_name, data, meta, limits, progress):  # noqa: ANN001
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        process = self.process
        try:
            _send(process.stdin, (file_name, data, meta, limits))
        except BrokenPipeError:
            return self._died(file_name, limits)
        # The clock starts when the reader has the file, so a reader still starting up (imports take
        # seconds) is not charged for it; the grace lets the reader's own checks speak first.
        deadline = time.monotonic() + STARTUP_S
        replies = select.poll()  # not select(): it fails once a process holds over 1,024 descriptors
        replies.register(process.stdout, select.POLLIN | select.POLLHUP | select.POLLERR)
        while True:
            left = deadline - time.monotonic()
            if not replies.poll(max(left, 0) * 1000):
                self.close()
                return (
                    f"reading took longer than {limits.read_timeout_s:g} s, the limit "
                    "(PLAINSIGHT_READ_TIMEOUT_S); split the file or raise the limit",
                    [],
                )
            try:
                message = _receive(process.stdout)
            except (EOFError, pickle.UnpicklingError, OSError):
                return self._died(file_name, limits)
            if message[0] == "started":
                deadline = time.monotonic() + limits.read_timeout_s + GRACE_S
                continue
            if message[0] == "progress":
                if progress:
                    progress(message[1], message[2])
                continue
            _, result, found, rss = message
            if rss > RECYCLE_RSS_MB:
                self.close()
            return result, found

    def _died(self, file_name: str, limits: Limits) -> tuple[str, list[str]]:
        process = self.process
        self.close()
        code = process.wait() if process is not None else None
        if code is not None and code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit code {code}"
        fmt = FORMATS.get(Path(file_name).suffix.lower(), "file")
        return (
            f"could not read: the {fmt} reader crashed on this file ({how}; it may need more than "
            f"{limits.read_memory_mb} MB, PLAINSIGHT_READ_MEMORY_MB) — please report this",
            [],
        )


_reader = Reader()


def read_document(
    file_name: str, data: bytes, meta: dict[str, Any] | None, limits: Limits, isolated: bool = True,
    progress: Progress | None = None,
) -> tuple[Any, list[str]]:  # fmt: skip
    """One file's bytes -> (LoadedDocument or the reason it failed, its warnings)."""
    if isolated:
        return _reader.read(file_name, data, meta, limits, progress)
    return read_here(file_name, data, meta, limits, progress)


if __name__ == "__main__":
    serve()
