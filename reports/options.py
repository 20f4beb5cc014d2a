"""The metric settings (METRICS.md): their accepted values, defined once, and the set in force.

``syncer.app.settings`` reads them from the environment as these enums, the normalizer
applies the ones that shape facts, and every report prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from reports.errors import BadSetting
from reports.month import zone


class DiscountMode(StrEnum):
    """DISCOUNT_MODE: which discounts lower MRR (§1.6)."""

    ALL_ACTIVE = "all_active"
    FOREVER_ONLY = "forever_only"
    NONE = "none"


class ChurnRecognition(StrEnum):
    """CHURN_RECOGNITION: when a cancellation takes MRR away (§1.10)."""

    PERIOD_END = "period_end"
    REQUEST_TIME = "request_time"


class UsageInMrr(StrEnum):
    """USAGE_IN_MRR: whether metered usage counts as MRR (§1.5)."""

    NONE = "none"
    TRAILING_3M_AVERAGE = "trailing_3m_average"


_Choice = TypeVar("_Choice", DiscountMode, ChurnRecognition, UsageInMrr)


def _choice(name: str, value: str, allowed: type[_Choice]) -> _Choice:
    """``value`` as one of ``allowed``, or a one-line ``BadSetting`` naming ``name``."""
    try:
        return allowed(value)
    except ValueError:
        raise BadSetting(f"{name} must be one of {', '.join(allowed)}; got {value!r}") from None


@dataclass(frozen=True)
class MetricSettings:
    """The metric settings in force (METRICS.md); printed in every report.

    ``discount_mode``, ``usage_in_mrr`` and ``past_due_grace_days`` shape the MRR spans
    themselves (the normalizer applies them); the metrics only carry them to the report.
    The choices may be given as their text (``"forever_only"``): they are read into the
    enums, or refused with a ``BadSetting`` naming the variable.
    """

    discount_mode: DiscountMode = DiscountMode.ALL_ACTIVE
    churn_recognition: ChurnRecognition = ChurnRecognition.PERIOD_END
    past_due_grace_days: int = 30
    usage_in_mrr: UsageInMrr = UsageInMrr.NONE
    currency: str = "usd"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "discount_mode", _choice("DISCOUNT_MODE", self.discount_mode, DiscountMode))
        object.__setattr__(self, "churn_recognition",
                           _choice("CHURN_RECOGNITION", self.churn_recognition, ChurnRecognition))
        object.__setattr__(self, "usage_in_mrr", _choice("USAGE_IN_MRR", self.usage_in_mrr, UsageInMrr))
        if isinstance(self.past_due_grace_days, bool) or not isinstance(self.past_due_grace_days, int) \
                or self.past_due_grace_days < 0:
            raise BadSetting(f"PAST_DUE_GRACE_DAYS must be a whole number of days >= 0, got {self.past_due_grace_days!r}")
        if not re.fullmatch(r"[a-zA-Z]{3}", self.currency):
            raise BadSetting(f"REPORT_CURRENCY must be a three-letter ISO code like usd, got {self.currency!r}")
        zone(self.timezone)

    def metric_dict(self) -> dict[str, str | int]:
        """The four metric settings, as the JSON ``settings`` object shows them."""
        return {
            "discount_mode": str(self.discount_mode),
            "churn_recognition": str(self.churn_recognition),
            "past_due_grace_days": self.past_due_grace_days,
            "usage_in_mrr": str(self.usage_in_mrr),
        }
