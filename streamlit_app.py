"""The web app: the residents' chat, the document view its citations open, and the staff page.
Thin over `bot/`; see app_pages/ (not `pages/`, which Streamlit would also read as a legacy
multipage app and show its own page list on a direct link).

Heavy objects (model, store, index) load once per process (`bot.interfaces.resources`) and are shared
by both pages; nothing about a visitor or a question is written anywhere.
"""

from __future__ import annotations

import streamlit as st

from bot.core.settings import SettingsError, get_settings

# An emoji favicon is drawn in the browser; a ":material/...:" one would be fetched from Google.
st.set_page_config(page_title="Plainsight", page_icon="🔎", layout="centered")
try:
    get_settings()
except SettingsError as exc:  # say which PLAINSIGHT_* value is wrong instead of a traceback
    st.error(f"Plainsight cannot start: {exc}")
    st.stop()
st.navigation(
    [
        st.Page("app_pages/chat.py", title="Ask a question", icon=":material/forum:", default=True),
        st.Page("app_pages/staff.py", title="Staff", icon=":material/badge:", url_path="staff"),
        # Opened from a citation (`/source?doc=...&chunk=...&q=...`), so not listed in the navigation.
        st.Page(
            "app_pages/source.py",
            title="Where it says this",
            icon=":material/format_quote:",
            url_path="source",
            visibility="hidden",
        ),
    ]
).run()
