"""The sharing obligations engine: which duties apply to a document, and the rule that says so.

The rules are data, in ``carnet/sharing/data/obligations.csv`` (explained in ``docs/sharing.md``), read and
checked once. Loading fails loudly (``ValueError``) on a malformed row, a type code that is not in the shipped
value sets (JDV_J07 / JDV_J66), a duplicate rule id, or two rows that could both decide the same type on the
same day. Combining, made explicit:

- a rule decides a type on the days of its period, both ends included (« à compter du 31 décembre 2022 »
  covers the 31st); before, it is *not yet in force*; after its last day, *no longer in force*;
- any exclusion of the rule that holds in the context removes all of its duties; every one that holds is said;
- a type that no rule names has no duty (*not listed*); a type the arrêté recalls as mandatory under another
  text has no duty here either (*other text*) and the answer names that row;
- a code that is in neither value set is refused (:class:`~carnet.errors.ValidationError`): it is not a type.

``obligations(type_code=..., context=..., on_date=...)`` answers; ``answer.duties`` is the set to act on.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Iterable, Iterator
from importlib import resources

from carnet.errors import ValidationError
from carnet.record.valuesets import value_sets
from carnet.sharing.model import (
    DUTY_LABELS,
    EXCLUSION_LABELS,
    Answer,
    Context,
    Duty,
    DutyAnswer,
    Effect,
    Exclusion,
    Outcome,
    Reason,
    Rule,
    RuleOutcome,
    french_date,
)

__all__ = [
    "COLUMNS",
    "ObligationsTable",
    "default_table",
    "obligations",
    "parse_rules",
    "type_label",
]

COLUMNS = (
    "rule_id",
    "label_fr",
    "type_codes",
    "in_force_from",
    "in_force_until",
    "exclusions",
    "effect",
    "duties",
    "source",
    "to_check",
    "note",
)
_RULE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Among the rules naming a type, the one that explains a duty: one that applies, else one in force but excluded,
# else the next to come into force, else the last that ended, else a recall of another text.
_PRIORITY = {
    Outcome.APPLIES: 0,
    Outcome.EXCLUDED: 1,
    Outcome.NOT_YET_IN_FORCE: 2,
    Outcome.NO_LONGER_IN_FORCE: 3,
    Outcome.OTHER_TEXT: 4,
}


def _fail(line: int, message: str) -> ValueError:
    return ValueError(f"obligations de partage, ligne {line} : {message}")


def _date(value: str, column: str, line: int) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    if not _ISO_DATE.fullmatch(value):
        raise _fail(line, f"« {column} » doit être une date AAAA-MM-JJ, pas {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(line, f"« {column} » : date impossible {value!r}") from None


def _words(value: str) -> list[str]:
    return value.split()


def _choices(allowed: dict[str, str], value: str, column: str, line: int) -> list[str]:
    words = _words(value)
    unknown = [w for w in words if w not in allowed]
    if unknown:
        raise _fail(line, f"« {column} » : {', '.join(unknown)} inconnu (attendu : {', '.join(allowed)})")
    if len(set(words)) != len(words):
        raise _fail(line, f"« {column} » : valeur répétée")
    return words


def _exclusions(value: str, line: int) -> frozenset[Exclusion]:
    words = _choices({e.value: e.value for e in Exclusion}, value, "exclusions", line)
    return frozenset(Exclusion(w) for w in words)


def _duties(value: str, line: int) -> frozenset[Duty]:
    words = _choices({d.value: d.value for d in Duty}, value, "duties", line)
    return frozenset(Duty(w) for w in words)


def _known_type(code: str) -> bool:
    vs = value_sets()
    return code in vs.type_code or code in vs.type_code_dmp


def parse_rules(text: str) -> list[Rule]:
    """Read the CSV text (lines starting with ``#`` are comments); raise ValueError on a malformed row."""
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in numbered), newline=""))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"obligations de partage : colonnes attendues {', '.join(COLUMNS)}")
    rules: list[Rule] = []
    for raw in reader:
        # The file line of this record (comments skipped; a quoted field never spans lines in this file).
        line = numbered[reader.line_num - 1][0] if reader.line_num - 1 < len(numbered) else reader.line_num
        if None in raw or any(value is None for value in raw.values()):
            raise _fail(line, f"{len(COLUMNS)} colonnes attendues")
        rule_id = raw["rule_id"].strip()
        if not _RULE_ID.fullmatch(rule_id):
            raise _fail(line, f"identifiant de règle invalide {rule_id!r} (minuscules, chiffres, tirets)")
        codes = _words(raw["type_codes"])
        if not codes:
            raise _fail(line, f"{rule_id} : aucun code de type")
        if len(set(codes)) != len(codes):
            raise _fail(line, f"{rule_id} : code de type répété")
        unknown = [c for c in codes if not _known_type(c)]
        if unknown:
            raise _fail(line, f"{rule_id} : {', '.join(unknown)} absent de JDV_J07 et de JDV_J66")
        effect_text = raw["effect"].strip()
        if effect_text not in {e.value for e in Effect}:
            raise _fail(line, f"{rule_id} : « effect » doit valoir duties ou other_text, pas {effect_text!r}")
        effect = Effect(effect_text)
        start = _date(raw["in_force_from"], "in_force_from", line)
        end = _date(raw["in_force_until"], "in_force_until", line)
        exclusions = _exclusions(raw["exclusions"], line)
        duties = _duties(raw["duties"], line)
        if effect is Effect.DUTIES:
            if start is None:
                raise _fail(line, f"{rule_id} : date d'entrée en vigueur obligatoire")
            if end is not None and end < start:
                raise _fail(line, f"{rule_id} : fin ({end}) avant le début ({start})")
            if not duties:
                raise _fail(line, f"{rule_id} : aucun devoir")
        elif start is not None or end is not None or exclusions or duties:
            raise _fail(line, f"{rule_id} : une ligne other_text n'a ni dates, ni exclusions, ni devoirs")
        to_check = raw["to_check"].strip().lower()
        if to_check not in ("yes", "no"):
            raise _fail(line, f"{rule_id} : « to_check » doit valoir yes ou no, pas {to_check!r}")
        label, source = raw["label_fr"].strip(), raw["source"].strip()
        if not label or not source:
            raise _fail(line, f"{rule_id} : libellé et source obligatoires")
        rules.append(
            Rule(
                id=rule_id,
                label_fr=label,
                type_codes=tuple(codes),
                in_force_from=start,
                in_force_until=end,
                exclusions=exclusions,
                effect=effect,
                duties=duties,
                source=source,
                to_check=to_check == "yes",
                note=raw["note"].strip(),
            )
        )
    return rules


def _overlap(a: Rule, b: Rule) -> bool:
    """True when two rules could both decide a type on the same day (an other_text row covers every day)."""
    if a.effect is Effect.OTHER_TEXT or b.effect is Effect.OTHER_TEXT:
        return True
    assert a.in_force_from is not None and b.in_force_from is not None
    a_end, b_end = a.in_force_until or dt.date.max, b.in_force_until or dt.date.max
    return a.in_force_from <= b_end and b.in_force_from <= a_end


def type_label(type_code: str) -> str:
    """The French label of a type code (J07, else J66), or the code when unknown."""
    vs = value_sets()
    found = vs.type_code.get(type_code, include_expired=True) or vs.type_code_dmp.get(type_code, include_expired=True)
    return found.display if found is not None else type_code


class ObligationsTable:
    """The checked table. ``answer(type_code=..., context=..., on_date=...) -> Answer``."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        seen: set[str] = set()
        self._by_type: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"obligations de partage : règle {rule.id} en double")
            seen.add(rule.id)
            for code in rule.type_codes:
                for other in self._by_type.get(code, ()):
                    if _overlap(rule, other):
                        raise ValueError(
                            f"obligations de partage : {rule.id} et {other.id} décident du type {code} "
                            "sur une même période"
                        )
                self._by_type.setdefault(code, []).append(rule)

    @classmethod
    def from_text(cls, text: str) -> ObligationsTable:
        """A table from CSV text in the shipped format."""
        return cls(parse_rules(text))

    @classmethod
    def from_package(cls) -> ObligationsTable:
        """The shipped ``obligations.csv``."""
        text = resources.files("carnet.sharing").joinpath("data", "obligations.csv").read_text("utf-8")
        return cls.from_text(text)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError when there is none)."""
        found = next((r for r in self.rules if r.id == rule_id), None)
        if found is None:
            raise KeyError(rule_id)
        return found

    def listed_types(self) -> frozenset[str]:
        """Every type code a rule of the arrêté names (other_text rows left out)."""
        return frozenset(c for r in self.rules if r.effect is Effect.DUTIES for c in r.type_codes)

    def rules_for(self, type_code: str) -> tuple[Rule, ...]:
        """The rows naming ``type_code``, in file order."""
        return tuple(self._by_type.get(type_code, ()))

    def answer(self, *, type_code: str, context: Context, on_date: dt.date) -> Answer:
        """Which duties apply to a document of ``type_code`` in ``context`` on ``on_date``, and why."""
        code = type_code.strip()
        if not _known_type(code):
            raise ValidationError(
                f"type de document inconnu : {code!r} n'est ni dans JDV_J07-XdsTypeCode-CISIS ni dans "
                "JDV_J66-TypeCode-DMP",
                field="type_code",
            )
        label = type_label(code)
        outcomes = tuple(_evaluate(rule, context, on_date) for rule in self.rules_for(code))
        per_duty = tuple(_duty_answer(duty, code, label, outcomes) for duty in Duty)
        return Answer(
            type_code=code, type_label=label, context=context, on_date=on_date, per_duty=per_duty, rules=outcomes
        )


def _evaluate(rule: Rule, context: Context, on_date: dt.date) -> RuleOutcome:
    if rule.effect is Effect.OTHER_TEXT:
        return RuleOutcome(
            rule,
            Outcome.OTHER_TEXT,
            (),
            Reason(
                Outcome.OTHER_TEXT,
                f"hors de cet arrêté : {rule.label_fr}, déjà obligatoire en vertu d'un autre texte (règle {rule.id})",
                f"outside this arrêté: already mandatory under another text (rule {rule.id})",
            ),
        )
    assert rule.in_force_from is not None
    if on_date < rule.in_force_from:
        since = french_date(rule.in_force_from)
        return RuleOutcome(
            rule,
            Outcome.NOT_YET_IN_FORCE,
            (),
            Reason(
                Outcome.NOT_YET_IN_FORCE,
                f"pas encore en vigueur : à compter du {since} (règle {rule.id})",
                f"not yet in force until {rule.in_force_from.isoformat()} (rule {rule.id})",
            ),
        )
    if rule.in_force_until is not None and on_date > rule.in_force_until:
        ended = rule.in_force_until + dt.timedelta(days=1)
        return RuleOutcome(
            rule,
            Outcome.NO_LONGER_IN_FORCE,
            (),
            Reason(
                Outcome.NO_LONGER_IN_FORCE,
                f"plus en vigueur depuis le {french_date(ended)} (règle {rule.id})",
                f"no longer in force since {ended.isoformat()} (rule {rule.id})",
            ),
        )
    excluded = tuple(e for e in Exclusion if e in rule.exclusions and context.has(e))
    if excluded:
        return RuleOutcome(
            rule,
            Outcome.EXCLUDED,
            excluded,
            Reason(
                Outcome.EXCLUDED,
                f"exclu : {' ; '.join(EXCLUSION_LABELS[e][0] for e in excluded)} (règle {rule.id})",
                f"excluded: {'; '.join(EXCLUSION_LABELS[e][1] for e in excluded)} (rule {rule.id})",
            ),
        )
    return RuleOutcome(
        rule,
        Outcome.APPLIES,
        (),
        Reason(
            Outcome.APPLIES,
            f"obligatoire : {rule.label_fr} (règle {rule.id})",
            f"mandatory (rule {rule.id})",
        ),
    )


def _rank(outcome: RuleOutcome) -> tuple[int, int]:
    rule = outcome.rule
    if outcome.outcome is Outcome.NOT_YET_IN_FORCE and rule.in_force_from is not None:
        return (_PRIORITY[outcome.outcome], rule.in_force_from.toordinal())  # the soonest first
    if outcome.outcome is Outcome.NO_LONGER_IN_FORCE and rule.in_force_until is not None:
        return (_PRIORITY[outcome.outcome], -rule.in_force_until.toordinal())  # the latest first
    return (_PRIORITY[outcome.outcome], 0)


def _duty_answer(duty: Duty, code: str, label: str, outcomes: tuple[RuleOutcome, ...]) -> DutyAnswer:
    candidates = [o for o in outcomes if o.rule.effect is Effect.OTHER_TEXT or duty in o.rule.duties]
    if not candidates:
        if outcomes:  # listed, but no rule of the type has this duty
            reason = Reason(
                Outcome.NOT_LISTED,
                f"aucune règle ne prévoit de « {DUTY_LABELS[duty][0]} » pour le type {code} ({label})",
                f"no rule sets the duty to {DUTY_LABELS[duty][1]} for type {code}",
            )
        else:
            reason = Reason(
                Outcome.NOT_LISTED,
                f"non listé : le type {code} ({label}) ne figure pas dans l'arrêté du 26 avril 2022 modifié",
                f"not listed: type {code} is not in the arrêté of 26 April 2022 as amended",
            )
        return DutyAnswer(duty=duty, applies=False, rule_id=None, reason=reason)
    best = min(candidates, key=_rank)  # min is stable: at equal rank, the first row of the file
    return DutyAnswer(duty=duty, applies=best.outcome is Outcome.APPLIES, rule_id=best.rule.id, reason=best.reason)


@functools.cache
def default_table() -> ObligationsTable:
    """The shipped table, read and checked once."""
    return ObligationsTable.from_package()


def obligations(*, type_code: str, context: Context, on_date: dt.date) -> Answer:
    """The duties that apply to a document of ``type_code`` in ``context`` on ``on_date`` (shipped table)."""
    return default_table().answer(type_code=type_code, context=context, on_date=on_date)
