"""Delivery of the monthly report: one module per channel (its settings, transport and
doctor check), the registry that lists them, and the exactly-once ledger they all send
through."""
