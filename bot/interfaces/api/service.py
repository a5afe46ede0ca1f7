"""The one service an API process runs, built at start-up, and how a route gets it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from bot.chain import AnswerChain
from bot.core.settings import Settings
from bot.core.store import Store
from bot.interfaces.api.security import RateLimiter


@dataclass
class Service:
    """What one API process holds: settings, the chain (and its store), limits."""

    settings: Settings
    chain: AnswerChain | None = None
    limiter: RateLimiter = field(init=False)
    probe: list[float] = field(default_factory=list)  # a question vector for the health check

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.rate_limit_per_minute)

    @property
    def api_key(self) -> str:
        key = self.settings.api_key
        return key.get_secret_value().strip() if key else ""

    @property
    def store(self) -> Store:
        assert self.chain is not None, "the service has not started"
        return self.chain.store

    def start(self) -> None:
        if self.chain is None:
            self.chain = AnswerChain(self.settings, Store(self.settings))
        self.probe = self.chain.store.embeddings.embed_query("warm up")
        self.chain.index.search("warm up", 1, vector=self.probe)  # load the model, build BM25 first


def get_service(request: Request) -> Service:
    """The app's service (`create_app` sets it), so routes live on routers, not in a closure."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
