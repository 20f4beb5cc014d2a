"""One line of ``nrr doctor``: what was checked, how it went and the exact fix.

Its own module because every part that can be checked makes these, the delivery
channels included (``syncer.deliver.channel``), and ``syncer.app.doctor`` runs them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from syncer.app.logging import redact

Status = Literal["pass", "fail", "warn", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix else ""
        return redact(f"{self.status.upper():<5} {self.name:<16} {self.detail}{fix}")

    def as_dict(self) -> dict[str, str]:
        return {k: redact(v) for k, v in asdict(self).items()}
