"""A real OpenAI-compatible chat-completions server on 127.0.0.1, scripted by each test.

It speaks just enough of the protocol for LangChain's `ChatOpenAI` (through the `openai` client):
`POST /v1/chat/completions` answered as one JSON `chat.completion`, or, when the body says
`"stream": true`, as Server-Sent Events with one `chat.completion.chunk` per few words, a final
chunk with `finish_reason: "stop"`, a usage chunk when `stream_options.include_usage` asks for
one, and `data: [DONE]`.

A test scripts the replies (`server.script(["first", "second"])` or `server.script(fn)` where
`fn(request_json) -> str`) and reads back every request body from `server.requests`. Anything
unexpected (an unknown path, no scripted reply left, a scripting function that raised) is recorded
in `server.errors` and answered with HTTP 400, which the client does not retry.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Reply = Callable[[dict[str, Any]], str]
WORDS_PER_CHUNK = 3


def pieces(text: str, words: int = WORDS_PER_CHUNK) -> list[str]:
    """`text` cut into pieces of a few words; joined, they are exactly `text`."""
    tokens = re.findall(r"\s*\S+\s*|\s+", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)] or [""]


def messages_of(request: dict[str, Any], role: str) -> list[str]:
    """The text of every message with `role` in a recorded request body."""
    found = []
    for message in request.get("messages", []):
        if message.get("role") != role:
            continue
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        found.append(content or "")
    return found


class OpenAIStub:
    """The running server: `base_url`, `script(...)`, and what it received in `requests`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._replies: deque[str] = deque()
        self._fn: Reply | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-stub", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, replies: str | Sequence[str] | Reply) -> OpenAIStub:
        """Replies to give in order, or a function of the request body that returns the reply."""
        with self._lock:
            if callable(replies):
                self._fn, self._replies = replies, deque()
            else:
                self._fn = None
                self._replies = deque([replies] if isinstance(replies, str) else replies)
        return self

    def start(self) -> OpenAIStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def _next_reply(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.requests.append(body)
            fn = self._fn
            if fn is None:
                if not self._replies:
                    raise LookupError("no scripted reply left")
                return self._replies.popleft()
        return fn(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _fail(self, message: str) -> None:
                stub.errors.append(message)
                self._send_json(400, {"error": {"message": message, "type": "invalid_request_error"}})

            def do_GET(self) -> None:
                self._fail(f"unexpected GET {self.path}")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._fail(f"unexpected POST {self.path}")
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError as exc:
                    self._fail(f"body is not JSON: {exc}")
                    return
                try:
                    reply = str(stub._next_reply(body))
                except Exception as exc:  # a failed check inside a scripted function
                    self._fail(f"{type(exc).__name__}: {exc}")
                    return
                if body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._complete(body, reply)

            def _base(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
                return {
                    "id": f"chatcmpl-stub{len(stub.requests)}",
                    "object": kind,
                    "created": int(time.time()),
                    "model": body.get("model", "stub"),
                }

            def _usage(self, body: dict[str, Any], reply: str) -> dict[str, int]:
                prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                completion = len(reply.split())
                return {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                }

            def _complete(self, body: dict[str, Any], reply: str) -> None:
                self._send_json(
                    200,
                    {
                        **self._base(body, "chat.completion"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": self._usage(body, reply),
                    },
                )

            def _stream(self, body: dict[str, Any], reply: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                base = self._base(body, "chat.completion.chunk")

                def event(payload: dict[str, Any] | str) -> None:
                    data = payload if isinstance(payload, str) else json.dumps(payload)
                    self.wfile.write(f"data: {data}\n\n".encode())
                    self.wfile.flush()

                for n, piece in enumerate(pieces(reply)):
                    delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
                    event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    event({**base, "choices": [], "usage": self._usage(body, reply)})
                event("[DONE]")
                self.close_connection = True

        return Handler


@contextmanager
def serve() -> Iterator[OpenAIStub]:
    """A started stub server, shut down on exit."""
    server = OpenAIStub().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def openai_server() -> Iterator[OpenAIStub]:
    """A fresh stub server per test; `.base_url`, `.script(...)`, `.requests`, `.errors`."""
    with serve() as server:
        yield server
