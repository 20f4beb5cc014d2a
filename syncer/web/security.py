"""Who may see the dashboard, and the headers every answer carries.

Financial data: every page needs a login. Either a password whose argon2 hash is
``WEB_PASSWORD_HASH`` (the password itself is never stored), then a signed session
cookie (HttpOnly, SameSite=strict, Secure over TLS); or, behind an SSO proxy, the user
name the proxy puts in ``WEB_AUTH_HEADER``, believed only from ``WEB_TRUSTED_PROXIES``.
Failed logins are throttled per client address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections import deque
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Five failed logins per address in a minute, then that address waits.
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 60
# A session lasts a working day; then the password again.
SESSION_SECONDS = 12 * 3600

# Everything the pages use is served by the daemon itself: no inline script, no
# third-party request, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash to put in ``WEB_PASSWORD_HASH``."""
    return _HASHER.hash(password)


def password_matches(password: str, stored_hash: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from (constant time in argon2)."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def trusted(address: str | None, proxies: Sequence[str]) -> bool:
    """Whether a request came from one of ``proxies`` (addresses or networks)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if ip in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            continue
    return False


def session_key(password_hash: str | None) -> str:
    """What signs the session cookie: derived from the password's hash, so every replica
    behind one address and every restart accept the same cookies, and a new password
    ends every session; a random key when there is no password (an SSO proxy's header
    needs no cookie)."""
    if password_hash is None:
        return secrets.token_urlsafe(32)
    return hmac.new(b"stripe-nrr dashboard session", password_hash.encode(), hashlib.sha256).hexdigest()


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[str]) -> str:
    """Who is logging in: the connecting address, or, when that is a trusted proxy, the
    address the proxy received the request from (the last of ``X-Forwarded-For``). Behind a
    proxy every login comes from the proxy: counted by it, one person's failures would make
    everyone wait."""
    return proxy_says(peer, forwarded_for, proxies) or peer or "?"


def proxy_says(peer: str | None, header: str | None, proxies: Sequence[str]) -> str | None:
    """What a forwarding header says when the request came from one of ``proxies``: its
    last entry, the one that proxy added (earlier ones came with the request, from anyone);
    None from any other address, or without the header."""
    if not header or not trusted(peer, proxies):
        return None
    return header.split(",")[-1].strip() or None


class LoginThrottle:
    """Failed logins per client address over the last ``FAILURE_WINDOW_SECONDS``."""

    def __init__(self, limit: int = MAX_FAILURES, window: int = FAILURE_WINDOW_SECONDS) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, address: str, now: float) -> bool:
        with self._lock:
            recent = self._recent(address, now)
            return len(recent) >= self.limit

    def failed(self, address: str, now: float) -> None:
        with self._lock:
            self._recent(address, now).append(now)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
