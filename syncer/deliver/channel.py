"""What a delivery channel declares: the one shape every channel module fills in.

A channel is its renderer (pure, in ``reports/render/``), its module here (this
declaration, its settings, its transport and its doctor check) and one entry in
``syncer.deliver.registry``. Everything else reads the registry: the ledger's
claim → send → mark loop (``syncer.deliver.ledger.send_report``), ``nrr report --send``
and ``--format``, the daemon, ``nrr doctor``, ``nrr preview``, the settings (which compose
every channel's settings model) and the log redactor (every channel's secret shapes).

``settings`` arguments are the application's ``Settings``, which inherits each channel's
settings model: a channel reads only the fields it declared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from syncer.errors import GiveUp

if TYPE_CHECKING:
    from reports.metrics import MonthReport
    from syncer.app.checks import Check

# ``nrr report --format NAME``: the month and the one before it (for changes in points).
Format = Callable[["MonthReport", "MonthReport | None"], str]


class SendUncertain(GiveUp):
    """A transport lost the connection after the report went out and before the answer:
    it may have been delivered, so the ledger keeps it "may have been sent" and nothing
    re-sends it by itself (a person checks, then uses --force)."""


@dataclass(frozen=True)
class Outcome:
    """What became of one target of one send."""

    target: str
    status: str  # sent | skipped | failed | dry-run
    detail: str = ""


@dataclass(frozen=True)
class SnapshotView:
    """A frozen snapshot as its reader saw it (the dashboard's deliveries page)."""

    text: str  # the plain-text version
    html: str | None = None  # the HTML version, its images referenced by their names in ``images``
    images: Mapping[str, bytes] = field(default_factory=dict)  # name (``chart.png``) → PNG


def raw_view(snapshot_json: str) -> SnapshotView:
    """Any snapshot: its JSON, indented (a channel without a view of its own, or a
    snapshot that is not a report, such as the instant alerts were enabled)."""
    try:
        return SnapshotView(json.dumps(json.loads(snapshot_json), indent=2, ensure_ascii=False))
    except ValueError:
        return SnapshotView(snapshot_json)


@dataclass(frozen=True)
class Channel:
    """One delivery channel, declared once in its module.

    ``send(settings, claim, *, report_month, **options)`` sends the claimed snapshot
    (``claim.snapshot_json``, made by ``render``) to ``claim.target`` and returns what did
    not follow it (a part that failed after the report itself went out) or None; it
    raises ``SendUncertain`` when the report may have gone out, another ``NrrError`` when
    it did not. ``options`` are the caller's (tests: a TLS context, a sleep).
    """

    name: str  # the --send word and the ledger's channel column: never rename
    # Its settings: fields named as their environment variables (SMTP_HOST → smtp_host)
    # with their validators. Validator names must be unique across channels (pydantic
    # keeps one validator per name), hence the channel-name prefix.
    settings: type[BaseModel]
    needs: str  # what to set to use it, for the daemon's "no channel" warning
    targets: Callable[[Any], tuple[str, ...]]  # where it sends; () when it is not set up
    require: Callable[[Any], None]  # ConfigError naming what a send still lacks
    render: Callable[[Any, Sequence[MonthReport]], str]  # the snapshot frozen in the ledger
    send: Callable[..., str | None]
    check: Callable[..., list[Check]]  # ``nrr doctor``'s lines; sends nothing
    preview: Callable[[Sequence[MonthReport]], dict[str, bytes]]  # ``nrr preview``'s files
    formats: Mapping[str, Format] = field(default_factory=dict)  # ``nrr report --format``
    secret_settings: tuple[str, ...] = ()  # never echoed; their values are redacted in logs
    # Shapes of its credentials, redacted wherever they appear (whoever set them): group 1
    # is kept, to tell which kind of secret it was, the rest is replaced.
    secret_shapes: tuple[re.Pattern[str], ...] = ()
    # Targets of the report of other accounts than REPORT_ACCOUNT's (``platform``, ``all``
    # or an account id → where that account's report goes); none unless it has such a setting.
    targets_by_account: Callable[[Any], Mapping[str, tuple[str, ...]]] = field(default=lambda _settings: {})
    # A frozen snapshot (``render``'s, or an alert's) as its reader saw it.
    view: Callable[[str], SnapshotView] = raw_view
