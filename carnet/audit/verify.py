"""``carnet audit verify``: recompute every chain and name the first entry that was altered, removed or moved.

Chains are read one after the other, each in ``chain_seq`` order, and every entry is checked against the one
before it:

* its position follows the previous one (a gap means entries were removed);
* its ``prev_hash`` is the previous entry's hash (otherwise it was moved, or inserted, or the one before it
  was rewritten together with its hash);
* its hash, recomputed from its fields, is the stored one (otherwise it was altered);

and, at the end of each chain, the chain head (``audit_chain_heads``) must name the last entry present: a head
further on than the last entry means the tail of the chain was cut off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy.orm import Session

from carnet.audit.model import GENESIS_HASH, BadEntry, VerifyReport, chain_key_of, entry_hash, hash_fields
from carnet.audit.store import AuditRepository, AuditRow

__all__ = ["verify"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _check_entry(row: AuditRow, expected_seq: int, prev_hash: str) -> BadEntry | None:
    key = row.chain_key
    if row.chain_seq > expected_seq:
        missing = (
            f"la position {expected_seq} est manquante"
            if row.chain_seq == expected_seq + 1
            else f"les positions {expected_seq} à {row.chain_seq - 1} sont manquantes"
        )
        return BadEntry(
            key,
            expected_seq,
            None,
            f"entrée supprimée : {missing} (la chaîne reprend à l'entrée n° {row.id}, position {row.chain_seq})",
        )
    if row.chain_seq < expected_seq:
        return BadEntry(key, row.chain_seq, row.id, "position en double ou hors séquence : entrée déplacée")
    if row.prev_hash != prev_hash:
        return BadEntry(
            key,
            row.chain_seq,
            row.id,
            "chaînage rompu : l'entrée ne suit pas celle qui la précède (entrée déplacée ou insérée, "
            "ou entrée précédente réécrite avec son empreinte)",
        )
    if row.chain_key != chain_key_of(row.patient_id):
        return BadEntry(key, row.chain_seq, row.id, "entrée modifiée : elle n'appartient pas à la chaîne de ce patient")
    if not _HEX64.fullmatch(row.hash or "") or entry_hash(row.prev_hash, hash_fields(row)) != row.hash:
        return BadEntry(
            key, row.chain_seq, row.id, "entrée modifiée : son empreinte recalculée ne correspond pas à l'empreinte"
        )
    return None


def _check_tail(
    key: str, last_seq: int, last_hash: str, last_id: int | None, heads: dict[str, tuple[int, str]]
) -> BadEntry | None:
    head = heads.get(key)
    if head is None:
        return BadEntry(key, last_seq, last_id, "tête de chaîne absente : la fin de la chaîne ne peut être prouvée")
    head_seq, head_hash = head
    if head_seq > last_seq:
        lost = "la dernière entrée" if head_seq == last_seq + 1 else f"les {head_seq - last_seq} dernières entrées"
        return BadEntry(
            key,
            last_seq + 1,
            None,
            f"fin de chaîne tronquée : {lost} (positions {last_seq + 1} à {head_seq}) ont été supprimées ; "
            f"la tête de chaîne annonce {head_seq} entrées, {last_seq} sont présentes",
        )
    if head_seq < last_seq:
        return BadEntry(
            key,
            last_seq,
            last_id,
            f"entrées ajoutées hors du registre : la tête de chaîne s'arrête à la position {head_seq}",
        )
    if head_hash != last_hash:
        return BadEntry(
            key, last_seq, last_id, "dernière entrée remplacée : son empreinte diffère de celle de la tête de chaîne"
        )
    return None


def verify(session: Session) -> VerifyReport:
    """Recompute every chain, in order; stop at the first bad entry (``VerifyReport.first_bad``)."""
    repo = AuditRepository(session)
    heads = repo.heads()
    with repo.all_in_chain_order() as rows:
        checked, chains, seen, bad = _walk(rows, heads)
    if bad is None:
        bad = _orphan_heads(heads, seen)
    return VerifyReport(bad is None, checked, bad, chains)


def _walk(rows: Iterable[AuditRow], heads: dict[str, tuple[int, str]]) -> tuple[int, int, set[str], BadEntry | None]:
    checked = 0
    chains = 0
    seen: set[str] = set()
    key: str | None = None
    seq, prev, last_id = 0, GENESIS_HASH, None
    for row in rows:
        if row.chain_key != key:
            if key is not None:
                bad = _check_tail(key, seq, prev, last_id, heads)
                if bad is not None:
                    return checked, chains, seen, bad
            key, seq, prev, last_id = row.chain_key, 0, GENESIS_HASH, None
            seen.add(key)
            chains += 1
        bad = _check_entry(row, seq + 1, prev)
        if bad is not None:
            return checked, chains, seen, bad
        checked += 1
        seq, prev, last_id = row.chain_seq, row.hash, row.id
    if key is not None:
        return checked, chains, seen, _check_tail(key, seq, prev, last_id, heads)
    return checked, chains, seen, None


def _orphan_heads(heads: dict[str, tuple[int, str]], seen: set[str]) -> BadEntry | None:
    """A head announcing entries for a chain that has none left: the whole chain was removed."""
    for orphan in sorted(set(heads) - seen):
        head_seq, _ = heads[orphan]
        if head_seq > 0:
            return BadEntry(
                orphan,
                1,
                None,
                f"chaîne entièrement supprimée : la tête de chaîne annonce {head_seq} entrées, aucune n'est présente",
            )
    return None
