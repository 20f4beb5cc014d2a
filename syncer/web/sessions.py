"""The session cookie, ``Secure`` exactly when the request came over TLS.

Starlette's ``SessionMiddleware`` fixes ``https_only`` when it is built, but one
dashboard may be reached over TLS (uvicorn's own, or a TLS proxy) and over plain HTTP
(a probe, a tunnel to 127.0.0.1). So two instances, one per answer, and a tiny ASGI
middleware that picks one per request from the request's scheme.

The scheme is the connection's (``https`` when uvicorn serves TLS), or what a proxy of
``WEB_TRUSTED_PROXIES`` says in ``X-Forwarded-Proto``. This is decided here rather than
by uvicorn's ``proxy_headers``: uvicorn would also replace the client's address with
``X-Forwarded-For``, and the SSO header check (``security.trusted``) must see the
address of the proxy itself, not of the person behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from syncer.web.security import proxy_says

_SCHEMES = frozenset({"http", "https"})


class TlsSessions:
    """``SessionMiddleware`` whose cookie says ``Secure`` on requests that came over TLS."""

    def __init__(self, app: ASGIApp, secret_key: str, *, trusted_proxies: Sequence[str], session_cookie: str,
                 max_age: int, same_site: Literal["lax", "strict", "none"]) -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        self.secure, self.plain = (
            SessionMiddleware(app, secret_key, session_cookie=session_cookie, max_age=max_age, same_site=same_site,
                              https_only=https_only)
            for https_only in (True, False)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["scheme"] = request_scheme(scope, self.trusted_proxies)
        chosen = self.secure if scope.get("scheme") == "https" else self.plain
        await chosen(scope, receive, send)


def request_scheme(scope: Scope, trusted_proxies: Sequence[str]) -> str:
    """``http`` or ``https``: the connection's, unless a trusted proxy forwarded another."""
    scheme = str(scope.get("scheme", "http"))
    client = scope.get("client")
    header = next((value.decode("latin-1") for name, value in scope.get("headers", ())
                   if name == b"x-forwarded-proto"), None)
    forwarded = (proxy_says(client[0] if client else None, header, trusted_proxies) or "").lower()
    return forwarded if forwarded in _SCHEMES else scheme
