"""Calling the fake Stripe over HTTP in the sandbox tests, as any client of Stripe would."""

from __future__ import annotations

from typing import Any

import httpx

from syncer.sandbox.fake_stripe import DEFAULT_API_KEY

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def ok(resp: httpx.Response) -> Any:
    """The JSON of a 200 answer."""
    assert resp.status_code == 200, resp.text
    return resp.json()


def walk(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every object of a list, forwards with ``starting_after``."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = ok(client.get(path, params={**params, **(
            {"starting_after": cursor} if cursor else {})}))
        out += page["data"]
        if not page["has_more"]:
            return out
        cursor = page["data"][-1]["id"]
