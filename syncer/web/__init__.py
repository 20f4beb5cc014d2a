"""The read-only web dashboard (``nrr serve``): ``app`` (pages), ``security`` (who may see them)."""
