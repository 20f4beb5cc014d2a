"""Stripe-looking ids, unique per prefix and deterministic for a seed."""

from __future__ import annotations

import random

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_PAIRS = [a + b for a in _B62 for b in _B62]


def b62(n: int, width: int) -> str:
    """The last ``width`` base-62 digits of ``n`` (two digits per step: ids are hot)."""
    out = []
    for _ in range(width // 2):
        n, r = divmod(n, 3844)
        out.append(_B62_PAIRS[r])
    if width % 2:
        out.append(_B62[n % 62])
    return "".join(reversed(out))


class IdFactory:
    """Stripe-looking ids, unique per prefix and deterministic for a seed.

    Long ids (``in_1…``) mimic Stripe's: a scrambled counter, the account tag and a
    tail. The counter goes through an affine bijection modulo a power of 62, so the ids
    look random yet two counters never give the same id.
    """

    # ~ 62**k / golden ratio, odd and not a multiple of 31: invertible modulo 62**k
    _A5, _A14 = 566201229, 7664715031257921135575041

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"ids-{seed}")
        self.tag = "".join(rng.choice(_B62) for _ in range(10))
        self._b5 = rng.randrange(62**5)
        self._b14 = rng.randrange(62**14)
        # Tails only make ids look random (the head is what makes them unique).
        self._tails = [b62(rng.getrandbits(48), 8) for _ in range(4096)]
        self._counters: dict[str, int] = {}
        self._keys: dict[str, int] = {}

    def _next(self, prefix: str) -> tuple[int, int]:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        k = self._keys.get(prefix)
        if k is None:
            k = self._keys[prefix] = _prefix_key(prefix)
        return n, k

    def long(self, prefix: str) -> str:
        n, k = self._next(prefix)
        head = b62((n * self._A5 + self._b5 + k) % 916132832, 5)  # 62**5
        return f"{prefix}_1{head}{self.tag}{self._tails[(n + k) & 4095]}"

    def short(self, prefix: str) -> str:
        n, k = self._next(prefix)
        return f"{prefix}_{b62((n * self._A14 + self._b14 + k) % 62**14, 14)}"


def _prefix_key(prefix: str) -> int:
    # A stable offset per prefix (``hash()`` of a str changes between runs).
    return int.from_bytes(prefix.encode(), "big") * 2654435761
