"""The composition root: the CLI, settings, logging, use cases and operations; the only code that reads the environment or the clock."""
