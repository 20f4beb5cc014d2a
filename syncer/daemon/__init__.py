"""The daemon: leader election, health, scheduling."""
