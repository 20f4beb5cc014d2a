"""One batch of customers' facts, indexed per customer: what a month asks of a customer
(its MRR at an instant, its plan, its gaps without MRR, what changed it, its churns)."""

from __future__ import annotations

from collections.abc import Mapping

from reports.facts import Cause, ChurnEvent, CustomerFacts, MrrSpan
from reports.metrics.mrr import sum_in_force


def _plan_label(main: str, others: int) -> str:
    return f"{main} + {others} more" if others else main


# Instants at which CustomerIndex keeps everyone's MRR: in a history, a month's closing
# (the next month's opening) and the closing a year before it (its trailing twelve months).
_MRR_INSTANTS_KEPT = 2


class CustomerIndex:
    """The facts of a batch of customers grouped once per customer, so that many months
    cost linear time."""

    def __init__(self, batch: CustomerFacts, plan_names: Mapping[str, str]) -> None:
        self.batch = batch
        self.names = {c.id: c.label for c in batch.customers}
        self.plan_names = plan_names
        self.spans: dict[str, list[MrrSpan]] = {}
        self.by_subscription: dict[str, list[MrrSpan]] = {}
        for s in batch.spans:
            self.spans.setdefault(s.customer, []).append(s)
            self.by_subscription.setdefault(s.subscription, []).append(s)
        for spans in self.spans.values():
            spans.sort(key=lambda s: (s.start, s.item))
        # The first instant each customer had MRR: tells new from reactivation.
        self.first_positive: dict[str, int] = {}
        for cus, spans in self.spans.items():
            starts = [s.start for s in spans if s.mrr > 0 and (s.end is None or s.end > s.start)]
            if starts:
                self.first_positive[cus] = min(starts)
        self.churns: dict[str, list[ChurnEvent]] = {}
        for c in batch.churns:
            self.churns.setdefault(c.customer, []).append(c)
        for events in self.churns.values():
            events.sort(key=lambda c: (c.at, c.subscription))
        self.currencies = {s.currency for s in batch.spans}
        self._mrr_at: dict[int, dict[str, dict[str, int]]] = {}

    def mrr(self, customer: str, at: int) -> dict[str, int]:
        return sum_in_force(self.spans.get(customer, ()), at, sorted_by_start=True)

    def mrr_of_everyone(self, at: int) -> dict[str, dict[str, int]]:
        """The MRR at ``at`` of every customer who has some, kept for the next calls: in a
        history each month's opening is the last month's closing (half the MRR sums of a
        history). Only two instants are kept: an index may hold the whole account
        (``history``), and each instant kept is a dict of every customer (the trailing
        twelve months read a year back, computed afresh)."""
        cached = self._mrr_at.get(at)
        if cached is None:
            cached = {cus: mrr for cus, spans in self.spans.items() if (mrr := sum_in_force(spans, at, sorted_by_start=True))}
            if len(self._mrr_at) >= _MRR_INSTANTS_KEPT:
                del self._mrr_at[next(iter(self._mrr_at))]  # the one computed first
            self._mrr_at[at] = cached
        return cached

    def plan(self, customer: str, at: int) -> tuple[str, int] | None:
        """The customer's main plan at ``at`` (the product bringing the most MRR) and how
        many other products it pays for; None without paying items."""
        by_name: dict[str, int] = {}
        for s in self.spans.get(customer, ()):
            if s.price and s.mrr > 0 and s.start <= at and (s.end is None or at < s.end):
                name = self.plan_names.get(s.price, s.price)
                by_name[name] = by_name.get(name, 0) + s.mrr
        if not by_name:
            return None
        main = min(by_name, key=lambda n: (-by_name[n], n))
        return main, len(by_name) - 1

    def plan_change(self, customer: str, opening: int, closing: int) -> str | None:
        """"Starter → Pro" when the main plan changed, else the plan now (or before, for a
        churn), with "+ N more" for add-ons."""
        before, after = self.plan(customer, opening), self.plan(customer, closing)
        if before is None or after is None:
            shown = after or before
            return _plan_label(*shown) if shown else None
        return _plan_label(*after) if before[0] == after[0] else f"{before[0]} → {_plan_label(*after)}"

    def positive_during(self, customer: str, start: int, end: int) -> bool:
        """Whether the customer had MRR at some instant of ``[start, end)``."""
        for s in self.spans.get(customer, ()):
            if s.start >= end:
                break
            if s.mrr > 0 and (s.end is None or (s.end > start and s.end > s.start)):
                return True
        return False

    def days_without_mrr(self, customer: str, start: int, end: int) -> int | None:
        """For a customer back in ``[start, end)`` after a gap: whole days of the gap (§2)."""
        left = [s.end for s in self.spans.get(customer, ()) if s.mrr > 0 and s.end is not None and s.end <= start]
        back = [s.start for s in self.spans.get(customer, ()) if s.mrr > 0 and start <= s.start < end]
        if not left or not back:
            return None
        return (min(back) - max(left)) // 86400

    def causes_during(self, customer: str, start: int, end: int) -> list[str]:
        """What changed the customer's spans inside ``[start, end)``, in order."""
        spans = self.spans.get(customer, [])
        begun = {(s.item, s.start) for s in spans}
        changes: list[tuple[int, str]] = []
        for s in spans:
            if start <= s.start < end:
                changes.append((s.start, _cause_word(s.cause)))
            if s.end is not None and start <= s.end < end and (s.item, s.end) not in begun:
                changes.append((s.end, "cancellation"))
        words: list[str] = []
        for _, word in sorted(changes):
            if word not in words:
                words.append(word)
        return words

    def latest_churn(self, customer: str, start: int, end: int) -> ChurnEvent | None:
        """The customer's last churn event inside ``[start, end)``."""
        found: ChurnEvent | None = None
        for event in self.churns.get(customer, ()):
            if start <= event.at < end:
                found = event
        return found

    def last_zero_cause(self, customer: str, start: int, end: int) -> Cause | None:
        """The cause of the latest span inside the month that set an item to 0."""
        found: Cause | None = None
        for s in self.spans.get(customer, ()):
            if start <= s.start < end and s.mrr == 0:
                found = s.cause
        return found


def _cause_word(cause: Cause) -> str:
    # METRICS.md §1.11: movements caused by a pause carry reason=paused.
    return {Cause.PAUSE: "paused", Cause.RESUME: "resumed"}.get(cause, str(cause))

