"""The HTTP API: the same `AnswerChain` and `Answer` object as the CLI and the page, over HTTP.

Public (rate-limited per client, CORS allow-list from settings):

* `POST /v1/ask` -> the answer object; `POST /v1/ask/stream` -> server-sent events
  (`token` pieces, then `answer` with the full object and its citations, then `done`);
* `GET /v1/search?q=&k=&jurisdiction=` -> ranked passages (the CLI's `search --json` schema);
* `GET /v1/documents/{doc_id}/passages/{chunk_id}?quote=` -> a cited passage in its document, and
  `GET /v1/documents/{doc_id}/pages/{n}.png?quote=` -> its PDF page with the quote marked (the only
  public routes under `/v1/documents`: every indexed document is public);
* `GET /healthz`; `GET /widget.js` (the embeddable chat); `GET /docs`, `GET /openapi.json`.

Staff (`Authorization: Bearer <PLAINSIGHT_API_KEY>`; answered 403 while no key is configured):

* `POST /v1/documents` (multipart upload with metadata, or a URL), `GET /v1/documents`,
  `GET /v1/documents/{doc_id}`, `GET /v1/documents/{doc_id}/original` (the exact file it was read
  from), `DELETE /v1/documents/{doc_id}`;
* `POST /v1/embeddings` (OpenAI-compatible, served from this process's model) and `GET /v1/models`,
  so other tools, and other Plainsight processes (`PLAINSIGHT_EMBEDDINGS_URL`), can share the model.

One process builds one store and one chain (at start-up, in the lifespan) and answers in a thread
pool. Request bodies are capped before they are read; questions are never logged (run with the
access log off, as `plainsight serve` does, because a search URL carries its query), nor echoed in
an error: a malformed request is answered with where and why, without its input, and an
unexpected failure is logged by its error type alone. Text that is not valid Unicode (a lone
surrogate such as "\ud800" from JSON) is mended with U+FFFD rather than failing later.

Staff writes go through the store's writer lock (`Store.writing`): while another process writes
to the embedded store, an upload waits `PLAINSIGHT_WRITE_LOCK_TIMEOUT` at most and is then
answered 503 with who holds the store. URLs are fetched by `ingest.web`, which refuses addresses
inside the network.
"""

from bot.interfaces.api.app import create_app, serve
from bot.interfaces.api.security import RateLimiter

__all__ = ["RateLimiter", "create_app", "serve"]
