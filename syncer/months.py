"""Calendar months on epoch seconds, kept for the sandbox's imports: the arithmetic itself
is ``reports.month`` (one month arithmetic for everything)."""

from __future__ import annotations

from reports.month import add_months_to_instant as add_months

__all__ = ["add_months"]
