"""Audit trail: append-only, hash-chained record of every read and write of patient data (docs/audit.md).

``service`` writes entries (``record``, ``record_now``) and reads the holder's history; ``store`` holds the
tables and the chained append; ``verify`` recomputes the chains; ``fhir`` exports AuditEvents; ``cli`` is
``carnet audit``; ``model`` is the pure part (modes, canonical form, hash).
"""
