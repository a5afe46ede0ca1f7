"""The Streamlit app's process-wide objects, created once and shared by every page and session.

Both pages get the *same* `AnswerChain` (and so the same `Store`, embedding model and
`HybridIndex`): what staff add or delete is written through the store the residents' questions
read, and the index re-checks the registry on every search, so a deleted document is never cited
again. Nothing here holds anything about a visitor.
"""

from __future__ import annotations

import threading

import streamlit as st

from bot.chain import AnswerChain
from bot.core.settings import get_settings
from bot.interfaces.staff import LoginThrottle


@st.cache_resource(show_spinner="Opening the documents…")
def answer_chain() -> AnswerChain:
    """The one chain (store, model, index) of this process."""
    return AnswerChain(get_settings())


@st.cache_resource(show_spinner="Loading the search model (only the first visitor waits)…")
def warm_up() -> bool:
    """Load the embedding model and build the search index before the first question needs them."""
    chain = answer_chain()
    chain.store.embeddings.embed_query("warm up")
    chain.index.search("license plate readers", 1)
    return True


@st.cache_resource
def write_lock() -> threading.Lock:
    """Held while staff change the store, so two staff sessions never write at once."""
    return threading.Lock()


@st.cache_resource
def login_throttle() -> LoginThrottle:
    """Failed staff logins slow down every later attempt in this process."""
    return LoginThrottle()
