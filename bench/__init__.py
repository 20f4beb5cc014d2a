"""The benchmark (`make bench`): a development tool, not shipped in the wheel."""
