"""Every delivery channel, listed once.

``nrr report --send`` and ``--format``, the daemon, ``nrr doctor``, ``nrr preview``, the
settings and the log redactor all read this list; a new channel is its renderer, its
module in ``syncer/deliver/`` (a ``Channel``, see ``syncer.deliver.channel``) and its
entry here. The order is the order of ``--send``'s help, the doctor's lines and the
preview's files.
"""

from __future__ import annotations

from syncer.deliver.channel import Channel, SnapshotView, raw_view
from syncer.deliver.email import EMAIL
from syncer.deliver.slack import SLACK

CHANNELS: tuple[Channel, ...] = (EMAIL, SLACK)


def channel_names() -> tuple[str, ...]:
    return tuple(channel.name for channel in CHANNELS)


def channel_named(name: str) -> Channel:
    """The channel called ``name`` (``KeyError`` if there is none: check ``channel_names``)."""
    return {channel.name: channel for channel in CHANNELS}[name]


def channel_view(name: str, snapshot_json: str) -> SnapshotView:
    """A ledger row's snapshot as its channel's reader saw it (its JSON for a channel no
    longer listed)."""
    try:
        channel = channel_named(name)
    except KeyError:
        return raw_view(snapshot_json)
    return channel.view(snapshot_json)
