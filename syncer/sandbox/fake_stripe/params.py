"""Query parameters: Stripe's form encoding parsed, and each value's type checked."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from syncer.sandbox.fake_stripe.responses import invalid

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SUBKEY = re.compile(r"\[([^\[\]]*)\]")


def parse_params(query: str) -> dict[str, Any]:
    """Stripe's form encoding of a GET query into plain values.

    ``a=1`` → ``{"a": "1"}``; ``a[]=x&a[]=y`` and ``a[0]=x&a[1]=y`` (stripe-python's
    form) → lists; ``a[gte]=1`` → ``{"a": {"gte": "1"}}``.
    """
    scalars: dict[str, Any] = {}
    lists: dict[str, list[tuple[int, int, str]]] = {}
    for order, (key, value) in enumerate(parse_qsl(query, keep_blank_values=True)):
        m = _KEY.fullmatch(key)
        if m is None:
            raise invalid(f"Invalid parameter name: {key}")
        base, rest = m.groups()
        subs = _SUBKEY.findall(rest)
        if not subs:
            scalars[base] = value
        elif len(subs) > 1:
            raise invalid(f"Received unknown parameter: {key}", param=key,
                          code="parameter_unknown")
        elif subs[0] == "" or subs[0].isdigit():
            index = int(subs[0]) if subs[0] else 1 << 30
            lists.setdefault(base, []).append((index, order, value))
        else:
            nested = scalars.setdefault(base, {})
            if not isinstance(nested, dict):
                raise invalid(f"Invalid hash: {base}", param=base)
            nested[subs[0]] = value
    for base, values in lists.items():
        if base in scalars:
            raise invalid(f"Invalid array: {base}", param=base)
        scalars[base] = [v for _, _, v in sorted(values)]
    return scalars


def int_param(value: Any, name: str) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise invalid(f"Invalid integer: {value}", param=name)
    return int(value)


def bool_param(value: Any, name: str) -> bool:
    if value not in ("true", "false"):
        raise invalid(f"Invalid boolean: {value}", param=name)
    return value == "true"


def str_param(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value}", param=name)
    return value


def list_param(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise invalid(f"Invalid array: {name}", param=name)


def created_range(value: Any) -> tuple[int | None, int | None]:
    """``created`` / ``created[gte|gt|lte|lt]`` as an inclusive [lo, hi] range."""
    if isinstance(value, str):
        t = int_param(value, "created")
        return t, t
    if not isinstance(value, dict):
        raise invalid("Invalid created", param="created")
    lo: int | None = None
    hi: int | None = None
    for op, raw in value.items():
        t = int_param(raw, f"created[{op}]")
        if op == "gte":
            lo = t if lo is None else max(lo, t)
        elif op == "gt":
            lo = t + 1 if lo is None else max(lo, t + 1)
        elif op == "lte":
            hi = t if hi is None else min(hi, t)
        elif op == "lt":
            hi = t - 1 if hi is None else min(hi, t - 1)
        else:
            raise invalid(f"Received unknown parameter: created[{op}]",
                          param=f"created[{op}]", code="parameter_unknown")
    return lo, hi
