"""Measurements run by ``carnet bench …`` (imported lazily by the CLI, never at start-up)."""
