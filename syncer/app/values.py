"""Small pure helpers for setting values, shared by ``syncer.app.settings`` and by the
settings each delivery channel declares with itself (``syncer.deliver.channel``)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic_settings import NoDecode

# A comma-separated variable read as a tuple by its own validator (not as JSON).
CommaList = Annotated[tuple[str, ...], NoDecode]


def show_input(part: str, limit: int = 40) -> str:
    """A user-supplied fragment quoted for an error message: one line, bounded length."""
    shown = part if len(part) <= limit else part[:limit] + "…"
    return repr(shown)


def parse_http_url(text: str, *, trailing_slash: bool) -> str:
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{show_input(url)} is not an http(s) URL")
    url = url.rstrip("/")
    return url + "/" if trailing_slash else url


def is_account_id(text: str) -> bool:
    """Whether ``text`` looks like a Stripe account id (``acct_…``)."""
    return re.fullmatch(r"acct_[A-Za-z0-9]+", text) is not None


def is_report_account(text: str) -> bool:
    """Whether ``text`` names whose report it is: ``platform``, ``all`` or an account id."""
    return text in ("platform", "all") or is_account_id(text)
