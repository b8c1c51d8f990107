"""Audit trail: append-only record of every read and write of patient data."""
