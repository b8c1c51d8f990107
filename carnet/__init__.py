"""Carnet: a patient health space with a shared medical record."""

__version__ = "0.1.0"
