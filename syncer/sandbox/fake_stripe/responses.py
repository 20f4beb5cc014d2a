"""Answers: a response, and Stripe's error envelope."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from syncer.sandbox.generator import JSON


class StripeError(Exception):
    """An error answer, in Stripe's envelope."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.headers = list(headers)

    def body(self) -> bytes:
        err: JSON = {}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        err["message"] = self.message
        if self.param:
            err["param"] = self.param
        err["type"] = self.type
        return json.dumps({"error": err}).encode()


def invalid(message: str, *, param: str | None = None, code: str | None = None,
            status: int = 400) -> StripeError:
    return StripeError(status, "invalid_request_error", message, param=param, code=code)


def missing(object_name: str, obj_id: str, *, param: str | None = None,
            status: int = 404) -> StripeError:
    return invalid(f"No such {object_name}: '{obj_id}'", param=param, code="resource_missing",
                   status=status)


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None
    content_type: str = "application/json"


RESET = Response(0, b"", fault="reset")  # sentinel: abort the connection


def unknown_url(path: str) -> StripeError:
    """Stripe's 404 for a path it does not know."""
    return invalid(f"Unrecognized request URL (GET: {path}). Please see "
                   "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                   status=404)


def json_response(obj: JSON) -> Response:
    """A 200 answering ``obj``, serialised as Stripe does (no spaces)."""
    return Response(200, json.dumps(obj, separators=(",", ":")).encode())
