"""Exactly-once delivery: the right to send a report is claimed in the database first.

A send goes ``claim`` → (send) → ``mark_sent`` / ``mark_failed``. The claim writes
``sending`` *before* anything leaves the process, and the message's id (the email
Message-ID, see ``syncer.deliver.email.message_id_for``) is derived from the row's
generation, so it is known before sending too.

Why a stale ``sending`` row is not simply re-sent: a process that dies between "the
server accepted the mail" and "the ledger says sent" leaves exactly such a row, and we
cannot tell that case from "died before sending". Re-sending automatically could mail
the board twice; not re-sending could mail nobody. We choose to ask a person: ``claim``
raises ``DeliveryUncertain`` ("unknown: may have been sent"), and ``--force`` takes the
row over. A forced take-over of a stale row keeps the generation, hence the same
Message-ID and the same frozen snapshot, so a receiving server or mail client that
saw the first copy can recognise the second as a duplicate. A ``sending`` row that is
*not* stale belongs to a live process (or to a crash in this very run): it is skipped,
never re-sent, whatever ``force`` says.

Retries of a ``pending``/``failed`` row send the snapshot frozen at the first claim,
never a recomputed one. The daemon retries a failed row with backoff (``backoff_since``:
``retry_wait`` after the last attempt, doubling up to six hours), so a refusal that only
a person can fix (a wrong SMTP password, a revoked Slack token) is not hammered every
tick. A failure recorded before the daemon started is retried at once (a restart is how
a fixed setting arrives), and a manual ``nrr report --send`` always retries at once.

``--force`` on a ``sent`` (or failed) row is a deliberate new send: generation + 1, the
caller's fresh snapshot, ``forced`` recorded.

``send_report`` is that loop, once for every channel (``syncer.deliver.channel``): the
channel renders the snapshot and sends one claimed target; what is claimed, skipped,
marked sent, failed or "may have been sent" is decided here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncer.app.logging import redact
from syncer.db.deliveries import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    Delivery,
    finish,
    get_delivery,
    insert_sending,
    list_deliveries,
    transition,
)
from syncer.db.store import Store
from syncer.deliver.channel import Channel, Outcome, SendUncertain
from syncer.errors import GiveUp, NrrError

if TYPE_CHECKING:
    from reports.metrics import MonthReport


def delivery_key(month: str, edition: str = "final") -> str:
    """The ledger's month column for an edition of a month's report.

    A preliminary edition (REPORT_PRELIMINARY) is its own delivery, recorded as
    ``YYYY-MM/preliminary``: it never blocks the final one, and the month string, which
    the email Message-ID is derived from, keeps their Message-IDs apart.
    """
    return month if edition == "final" else f"{month}/{edition}"


def unsent_targets(store: Store, *, account: str, month: str, channel: str, targets: Sequence[str]) -> list[str]:
    """The targets with no ``sent`` row for this ledger month and channel (cheap: lets the
    daemon skip rendering a report that has already gone everywhere)."""
    with store.reading() as conn:
        sent = {d.target for d in list_deliveries(conn, account=account, month=month)
                if d.channel == channel and d.state == SENT}
    return [t for t in targets if t not in sent]


# A healthy send takes seconds (SMTP timeouts are 30 s); past this the claimer is gone.
STALE_AFTER_SECONDS = 15 * 60
MAX_ERROR_CHARS = 500
# The daemon's wait after a failed attempt: 5 min, 10, 20, … at most 6 h.
RETRY_BASE_SECONDS = 5 * 60
RETRY_MAX_SECONDS = 6 * 3600


def retry_wait(attempts: int) -> int:
    """Seconds the daemon waits after the ``attempts``-th failed attempt."""
    return int(min(RETRY_BASE_SECONDS * 2 ** max(0, min(attempts, 30) - 1), RETRY_MAX_SECONDS))


class DeliveryUncertain(GiveUp):
    """A send was interrupted after its claim: it may or may not have gone out."""


@dataclass(frozen=True)
class Claim:
    """The right to send one report once; pass it back to ``mark_sent``/``mark_failed``."""

    id: int
    account: str
    month: str
    channel: str
    target: str
    generation: int
    attempt: int  # 1 for the first claim of this generation
    snapshot_json: str  # what to send: the frozen snapshot, not a recomputed one
    forced: bool
    recovered: bool = False  # taken over from a stale ``sending`` row (may be a duplicate)


def claim(
    store: Store, *, account: str, month: str, channel: str, target: str, snapshot_json: str, now: int,
    force: bool = False, stale_after: int = STALE_AFTER_SECONDS, backoff_since: int | None = None,
) -> Claim | None:
    """Claim the right to send, or None when it is already sent or being sent (or failed
    at or after ``backoff_since`` less than ``retry_wait`` ago; ``skip_reason`` says which).

    Raises ``DeliveryUncertain`` for a stale ``sending`` row without ``force``.
    """
    with store.transaction() as conn:
        # The INSERT comes first: on SQLite it takes the write lock for the whole
        # transaction, so the read below cannot be invalidated by another writer.
        if insert_sending(
            conn, account=account, month=month, channel=channel, target=target,
            snapshot_json=snapshot_json, now=now, forced=force,
        ):
            row = get_delivery(conn, account=account, month=month, channel=channel, target=target)
            assert row is not None
            return _claim_of(row)
        row = get_delivery(conn, account=account, month=month, channel=channel, target=target)
        if row is None:  # deleted between the two statements; let the next tick retry
            return None
        values = _next_claim(row, snapshot_json=snapshot_json, now=now, force=force, stale_after=stale_after,
                             backoff_since=backoff_since)
        if values is None or not transition(conn, row, from_states=(row.state,), values=values):
            return None
        fresh = get_delivery(conn, account=account, month=month, channel=channel, target=target)
        assert fresh is not None
        return _claim_of(fresh, recovered=row.state == SENDING)


def _next_claim(
    row: Delivery, *, snapshot_json: str, now: int, force: bool, stale_after: int, backoff_since: int | None = None,
) -> dict[str, object] | None:
    """The values that claim ``row``, None to skip it; raises for an uncertain send."""
    if row.state == SENDING:
        if now - row.updated_at < stale_after:
            return None  # a live sender, or our own run's send whose record failed
        if not force:
            raise DeliveryUncertain(
                f"{row.channel} delivery of {row.month} to {row.target} is unknown: may have been sent "
                f"(a process stopped while sending {now - row.updated_at} s ago); "
                "check whether it arrived, then use --force to send it again"
            )
        # Same generation: same Message-ID and snapshot, so the copy is recognisable.
        return {"state": SENDING, "attempts": row.attempts + 1, "forced": True, "updated_at": now, "last_error": None}
    if force:
        return {
            "state": SENDING, "generation": row.generation + 1, "attempts": 1, "forced": True,
            "snapshot": snapshot_json, "updated_at": now, "sent_at": None, "last_error": None,
        }
    if row.state == FAILED and not force and _backing_off(row, now, backoff_since):
        return None
    if row.state in (PENDING, FAILED):
        # A retry: the snapshot stays the frozen one.
        return {"state": SENDING, "attempts": row.attempts + 1, "updated_at": now}
    return None  # sent


def _backing_off(row: Delivery, now: int, since: int | None) -> bool:
    return since is not None and row.updated_at >= since and now < row.updated_at + retry_wait(row.attempts)


def _claim_of(row: Delivery, *, recovered: bool = False) -> Claim:
    assert row.id is not None
    return Claim(
        id=row.id, account=row.account, month=row.month, channel=row.channel, target=row.target,
        generation=row.generation, attempt=row.attempts, snapshot_json=row.snapshot, forced=row.forced,
        recovered=recovered,
    )


def mark_sent(store: Store, claim: Claim, *, now: int) -> bool:
    """Record that the claimed send went out; False if the claim had been taken over."""
    with store.transaction() as conn:
        return finish(
            conn, row_id=claim.id, generation=claim.generation,
            values={"state": SENT, "sent_at": now, "updated_at": now, "last_error": None},
        )


def mark_failed(store: Store, claim: Claim, error: BaseException | str, *, now: int) -> bool:
    """Record that the send failed (and did not go out); the next claim retries it."""
    with store.transaction() as conn:
        return finish(
            conn, row_id=claim.id, generation=claim.generation,
            values={"state": FAILED, "updated_at": now, "last_error": one_line_error(error)},
        )


def mark_uncertain(store: Store, claim: Claim, error: BaseException | str) -> bool:
    """Record why the claimed send may or may not have gone out. The row stays ``sending``
    with its claim time, so it is never retried by itself (see the module docstring)."""
    with store.transaction() as conn:
        return finish(conn, row_id=claim.id, generation=claim.generation,
                      values={"last_error": one_line_error(f"may have been sent: {error}")})


def uncertain_detail(error: BaseException | str, *, month: str, channel: str, edition: str) -> str:
    """What to tell a person about a send left "may have been sent" by ``mark_uncertain``."""
    again = f"nrr report --month {month} --send {channel} --force" if edition == "final" else "--force"
    return (f"{error}; not retried automatically: check whether it arrived; after "
            f"{STALE_AFTER_SECONDS // 60} minutes, {again} sends it again")


def one_line_error(error: BaseException | str) -> str:
    """An error as one bounded line with registered secrets scrubbed."""
    text = error if isinstance(error, str) else (str(error) or type(error).__name__)
    line = redact(" ".join(text.split()))
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def skip_reason(store: Store, *, account: str, month: str, channel: str, target: str, now: int) -> str:
    """Why ``claim`` returned None for this target, as an outcome's detail."""
    row = delivery_status(store, account=account, month=month, channel=channel, target=target)
    if row is None or row.state == SENT:
        return "already sent (use --force to send again)"
    if row.state == SENDING:
        if row.last_error:  # mark_uncertain: a person decides
            return f"{row.last_error}; check whether it arrived, then use --force"
        return "being sent by another process"
    if row.state == FAILED:
        wait = max(0, row.updated_at + retry_wait(row.attempts) - now)
        return (f"failed {row.attempts} time(s), last: {row.last_error or 'unknown'}; "
                f"next try in {wait // 60} min (nrr report --send retries now)")
    return "waiting to be sent"


def delivery_status(store: Store, *, account: str, month: str, channel: str, target: str) -> Delivery | None:
    """The ledger row, for saying why a claim was skipped."""
    with store.reading() as conn:
        return get_delivery(conn, account=account, month=month, channel=channel, target=target)


# --------------------------------------------------------------------------- the loop


def send_report(
    channel: Channel, settings: Any, store: Store, account: str, reports: Sequence[MonthReport], *, now: int,
    force: bool = False, dry_run: bool = False, edition: str = "final", backoff_since: int | None = None,
    targets: Sequence[str] | None = None, **options: Any,
) -> list[Outcome]:
    """Send the last of ``reports`` (the others are its trend) through ``channel`` to each
    of its targets (or ``targets``: an account's own) not already sent to: claim → send →
    mark (``backoff_since``: the daemon's backoff after a failure; ``options`` go to the
    channel's ``send``)."""
    channel.require(settings)
    month = delivery_key(reports[-1].month, edition)
    fresh = channel.render(settings, reports)

    def explain(exc: SendUncertain) -> str:
        return uncertain_detail(exc, month=reports[-1].month, channel=channel.name, edition=edition)

    outcomes = []
    uncertain: DeliveryUncertain | None = None
    for target in channel.targets(settings) if targets is None else targets:
        if dry_run:
            outcomes.append(Outcome(target, "dry-run", "rendered, not sent"))
            continue
        try:
            got = claim(store, account=account, month=month, channel=channel.name, target=target,
                        snapshot_json=fresh, now=now, force=force, backoff_since=backoff_since)
        except DeliveryUncertain as exc:
            # One target awaiting a person's decision must not hold the others back
            # (a failed one behind it would never be retried); it is raised once they are done.
            uncertain = uncertain or exc
            continue
        if got is None:
            outcomes.append(Outcome(target, "skipped", skip_reason(
                store, account=account, month=month, channel=channel.name, target=target, now=now)))
            continue
        outcomes.append(send_claimed(channel, settings, store, got, now=now, report_month=reports[-1].month,
                                     explain_uncertain=explain, **options))
    if uncertain is not None:
        raise uncertain
    return outcomes


def send_claimed(
    channel: Channel, settings: Any, store: Store, got: Claim, *, now: int, report_month: str,
    explain_uncertain: Callable[[SendUncertain], str], **options: Any,
) -> Outcome:
    """Send what ``got`` claimed through ``channel`` and record how it went (the send and
    mark halves of claim → send → mark, for any snapshot a channel can send)."""
    try:
        incomplete = channel.send(settings, got, report_month=report_month, **options)
    except SendUncertain as exc:
        # Not mark_failed: a failed row is retried by the next tick, and this one may have
        # been delivered. The row stays ``sending``, the "may have been sent" state:
        # skipped while fresh, then DeliveryUncertain until --force.
        mark_uncertain(store, got, exc)
        return Outcome(got.target, "failed", explain_uncertain(exc))
    except NrrError as exc:
        mark_failed(store, got, exc, now=now)
        return Outcome(got.target, "failed", str(exc))
    mark_sent(store, got, now=now)
    return Outcome(got.target, "sent", "; ".join(d for d in ("forced" if got.forced else "", incomplete or "") if d))
