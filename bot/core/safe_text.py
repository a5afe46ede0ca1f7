"""Showing untrusted text (documents, answers, questions) safely in Markdown, and which URLs may link.

Streamlit renders `st.markdown` (and `st.write_stream`, `st.info`, ...) as GitHub-flavoured
Markdown. Text from documents must never become a link, an image, a heading or HTML there, so
every ASCII punctuation character is backslash-escaped: CommonMark treats "\\x" as the literal
character for all of them, which disarms links, autolinks, emphasis, HTML, math and lists alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
_BLANK_LINE = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"\s+")
_UNSAFE_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>\"'`\\]")
_MARK = re.compile(r"\[(\d+)\]")  # a citation mark in an answer's text
# A relative address on this host: no scheme (no ":"), no "//host", nothing that ends a Markdown link.
_LINK_TARGET = re.compile(r"[A-Za-z0-9_.~%?&=+-][A-Za-z0-9_.~%?&=/+-]*")


def escape_markdown(text: str) -> str:
    """`text` as Markdown that displays exactly these characters and nothing else.

    Escaping is per character, so escaping pieces one by one (while streaming) gives the same
    result as escaping the whole text.
    """
    return _PUNCTUATION.sub(r"\\\1", text)


def plain_markdown(text: str) -> str:
    """Escaped Markdown for a passage: paragraphs kept, other whitespace folded to one space.

    Folding whitespace also stops leading spaces from turning a line into a code block.
    """
    return linked_markdown(text, {})


def linked_markdown(text: str, links: Mapping[int, str]) -> str:
    """`plain_markdown(text)` whose citation marks [n] link to `links[n]`.

    The targets are the app's own relative addresses, percent-encoded; any other (a scheme, another
    host, a character that could close or extend the link) is not linked and its mark stays text.
    """

    def paragraph(p: str) -> str:
        out, last = [], 0
        for m in _MARK.finditer(p):
            url = links.get(int(m.group(1)), "")
            if _LINK_TARGET.fullmatch(url):
                out += [escape_markdown(p[last : m.start()]), f"[{escape_markdown(m.group())}]({url})"]
                last = m.end()
        return "".join(out) + escape_markdown(p[last:])

    paragraphs = (_SPACES.sub(" ", p).strip() for p in _BLANK_LINE.split(text))
    return "\n\n".join(paragraph(p) for p in paragraphs if p)


def quoted_markdown(text: str) -> str:
    """Escaped Markdown block quote of a passage."""
    body = plain_markdown(text)
    return "\n>\n".join("> " + p for p in body.split("\n\n")) if body else ""


def web_url(url: str | None) -> str | None:
    """`url` if it is a plain http(s) address that is safe to link to, else None."""
    url = (url or "").strip()
    if not url or _UNSAFE_URL_CHARS.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
