"""Delivery of the monthly report: the exactly-once ledger and the transports."""

from syncer.deliver.email import build_message, message_id_for, send_email
from syncer.deliver.ledger import (
    Claim,
    DeliveryUncertain,
    claim,
    delivery_status,
    mark_failed,
    mark_sent,
)

__all__ = [
    "Claim",
    "DeliveryUncertain",
    "build_message",
    "claim",
    "delivery_status",
    "mark_failed",
    "mark_sent",
    "message_id_for",
    "send_email",
]
