"""What the dashboard's tests share: the password, a clock they move, and readers of the
pages' tables."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from syncer.web.security import hash_password

PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)
SECRET = "a-test-session-secret"


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def login(client: TestClient, password: str = PASSWORD) -> Any:
    return client.post("/login", data={"password": password})


def cells(html: str, table: str) -> list[list[str]]:
    """The text of each body cell of the table ``id="{table}"``, row by row."""
    body = re.search(rf'<table class="grid[^"]*" id="{table}">(.*?)</table>', html, re.S)
    assert body, table
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    found = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]
    return [c for c in found if c]  # not the header


def dollars(text: str) -> float:
    return float(text.replace("$", "").replace(",", "").replace("−", "-"))
