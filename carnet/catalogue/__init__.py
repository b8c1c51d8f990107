"""The catalogue of referenced apps: the referencing workflow and the holders' connections (docs/catalogue.md)."""
