"""The sharing obligations as a grid, checked against expectations written out by hand from the texts.

Nothing below is computed from the CSV: the rows are transcribed from DESIGN.md ("Sharing obligations"),
seeds/000 (the list as amended on 23 May 2024) and seeds/001 (the initial list of 26 April 2022), with the
decisions of docs/sharing.md: both ends of a period are included, any exclusion that holds removes every duty,
the amendment is taken to apply from 27 May 2024 (the day after its publication).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from carnet.errors import ValidationError
from carnet.record.valuesets import value_sets
from carnet.sharing import Context, Duty, Outcome, default_table, obligations
from carnet.sharing.cli import sharing_app
from carnet.sharing.obligations import ObligationsTable, parse_rules

ALL = frozenset(Duty)
NONE: frozenset[Duty] = frozenset()
PLAIN = Context()
STAY = Context(hospital_stay=True)
GENETICS = Context(constitutional_genetics=True)
AGREEMENT = Context(prior_agreement=True)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# (type code, context, date, expected duties, deciding rule id, reason code)
GRID = [
    # Biology report: since 2022-12-31, not in a hospital stay; constitutional genetics excluded by the amendment.
    ("11502-2", PLAIN, "2022-12-30", NONE, "cr-biologie-initial", Outcome.NOT_YET_IN_FORCE),
    ("11502-2", PLAIN, "2022-12-31", ALL, "cr-biologie-initial", Outcome.APPLIES),
    ("11502-2", STAY, "2023-06-01", NONE, "cr-biologie-initial", Outcome.EXCLUDED),
    ("11502-2", GENETICS, "2024-05-26", ALL, "cr-biologie-initial", Outcome.APPLIES),
    ("11502-2", GENETICS, "2024-05-27", NONE, "cr-biologie", Outcome.EXCLUDED),
    ("11502-2", PLAIN, "2024-05-27", ALL, "cr-biologie", Outcome.APPLIES),
    ("11502-2", STAY, "2026-01-01", NONE, "cr-biologie", Outcome.EXCLUDED),
    # Imaging report: since 2022-12-31, not in a hospital stay.
    ("18748-4", PLAIN, "2022-12-30", NONE, "cr-imagerie", Outcome.NOT_YET_IN_FORCE),
    ("18748-4", PLAIN, "2022-12-31", ALL, "cr-imagerie", Outcome.APPLIES),
    ("18748-4", STAY, "2025-01-01", NONE, "cr-imagerie", Outcome.EXCLUDED),
    ("18748-4", GENETICS, "2025-01-01", ALL, "cr-imagerie", Outcome.APPLIES),
    # Prescription of health products: not subject to prior agreement, not in a hospital stay.
    ("57833-6", PLAIN, "2022-12-31", ALL, "presc-produits-sante", Outcome.APPLIES),
    ("57833-6", AGREEMENT, "2025-01-01", NONE, "presc-produits-sante", Outcome.EXCLUDED),
    ("57833-6", STAY, "2025-01-01", NONE, "presc-produits-sante", Outcome.EXCLUDED),
    # Operative report: since 2023-12-31, no exclusion at all.
    ("34874-8", PLAIN, "2023-12-30", NONE, "cr-operatoire", Outcome.NOT_YET_IN_FORCE),
    ("34874-8", PLAIN, "2023-12-31", ALL, "cr-operatoire", Outcome.APPLIES),
    ("34874-8", STAY, "2024-06-01", ALL, "cr-operatoire", Outcome.APPLIES),
    # Prescription of biology tests: since 2023-12-31, for acts outside a hospital stay.
    ("PRESC-BIO", PLAIN, "2023-12-30", NONE, "presc-biologie", Outcome.NOT_YET_IN_FORCE),
    ("PRESC-BIO", PLAIN, "2023-12-31", ALL, "presc-biologie", Outcome.APPLIES),
    ("PRESC-BIO", STAY, "2024-01-15", NONE, "presc-biologie", Outcome.EXCLUDED),
    # Prescriptions of physiotherapy, nursing, podiatry, speech therapy, orthoptics acts: from 2024-12-31.
    ("PRESC-KINE", PLAIN, "2024-12-30", NONE, "presc-actes-auxiliaires", Outcome.NOT_YET_IN_FORCE),
    ("PRESC-KINE", PLAIN, "2024-12-31", ALL, "presc-actes-auxiliaires", Outcome.APPLIES),
    ("PRESC-INF", PLAIN, "2024-12-31", ALL, "presc-actes-auxiliaires", Outcome.APPLIES),
    ("PRESC-PEDI", PLAIN, "2025-03-01", ALL, "presc-actes-auxiliaires", Outcome.APPLIES),
    ("PRESC-ORTHOPHO", PLAIN, "2025-03-01", ALL, "presc-actes-auxiliaires", Outcome.APPLIES),
    ("PRESC-ORTHOPTIE", PLAIN, "2025-03-01", ALL, "presc-actes-auxiliaires", Outcome.APPLIES),
    ("PRESC-ORTHOPTIE", STAY, "2025-03-01", NONE, "presc-actes-auxiliaires", Outcome.EXCLUDED),
    ("PRESC-KINE", AGREEMENT, "2025-03-01", ALL, "presc-actes-auxiliaires", Outcome.APPLIES),
    # Imaging request: initial version from 2023-12-31, deferred to 2025-12-31 by the amendment.
    ("55115-0", PLAIN, "2023-12-31", ALL, "demande-imagerie-initial", Outcome.APPLIES),
    ("55115-0", PLAIN, "2024-05-26", ALL, "demande-imagerie-initial", Outcome.APPLIES),
    ("55115-0", STAY, "2024-01-15", NONE, "demande-imagerie-initial", Outcome.EXCLUDED),
    ("55115-0", PLAIN, "2024-05-27", NONE, "demande-imagerie", Outcome.NOT_YET_IN_FORCE),
    ("55115-0", PLAIN, "2025-12-30", NONE, "demande-imagerie", Outcome.NOT_YET_IN_FORCE),
    ("55115-0", PLAIN, "2025-12-31", ALL, "demande-imagerie", Outcome.APPLIES),
    ("55115-0", STAY, "2026-01-01", NONE, "demande-imagerie", Outcome.EXCLUDED),
    # Letters to a professional: same history.
    ("96349-6", PLAIN, "2024-01-15", ALL, "lettres-professionnel-initial", Outcome.APPLIES),
    ("96349-6", PLAIN, "2025-06-01", NONE, "lettres-professionnel", Outcome.NOT_YET_IN_FORCE),
    ("96349-6", PLAIN, "2025-12-31", ALL, "lettres-professionnel", Outcome.APPLIES),
    ("96349-6", STAY, "2025-12-31", NONE, "lettres-professionnel", Outcome.EXCLUDED),
    # Certificates: initial version only, removed by the amendment.
    ("89601-9", PLAIN, "2023-12-30", NONE, "certificats-initial", Outcome.NOT_YET_IN_FORCE),
    ("89601-9", STAY, "2024-01-15", ALL, "certificats-initial", Outcome.APPLIES),
    ("CERT_DECL", PLAIN, "2024-05-26", ALL, "certificats-initial", Outcome.APPLIES),
    ("CERT_DECL", PLAIN, "2024-05-27", NONE, "certificats-initial", Outcome.NO_LONGER_IN_FORCE),
    # Discharge and admission letters: already mandatory under another text, no duty computed here.
    ("11490-0", PLAIN, "2025-01-01", NONE, "lettre-liaison-sortie", Outcome.OTHER_TEXT),
    ("18761-7", STAY, "2025-01-01", NONE, "lettre-liaison-entree", Outcome.OTHER_TEXT),
    # Known types the arrêté does not list.
    ("60591-5", PLAIN, "2026-01-01", NONE, None, Outcome.NOT_LISTED),
    ("57832-8", PLAIN, "2026-01-01", NONE, None, Outcome.NOT_LISTED),
    ("51969-4", PLAIN, "2026-01-01", NONE, None, Outcome.NOT_LISTED),
    ("11526-1", PLAIN, "2026-01-01", NONE, None, Outcome.NOT_LISTED),  # in J66 only
]


@pytest.mark.parametrize(("type_code", "context", "on", "expected", "rule_id", "reason"), GRID)
def test_grid(
    type_code: str, context: Context, on: str, expected: frozenset[Duty], rule_id: str | None, reason: Outcome
) -> None:
    answer = obligations(type_code=type_code, context=context, on_date=d(on))
    assert answer.duties == expected
    for item in answer.per_duty:
        assert (item.applies, item.rule_id, item.reason.code) == (bool(expected), rule_id, reason)
        assert item.reason.fr and item.reason.en


def test_every_rule_of_the_table_is_in_the_grid() -> None:
    assert {r.id for r in default_table()} == {row[4] for row in GRID if row[4] is not None}


def test_combined_exclusions_are_all_said() -> None:
    answer = obligations(
        type_code="57833-6", context=Context(hospital_stay=True, prior_agreement=True), on_date=d("2025-01-01")
    )
    assert answer.duties == NONE
    (outcome,) = answer.rules
    assert [e.value for e in outcome.excluded_by] == ["hospital_stay", "prior_agreement"]
    assert "séjour hospitalier" in outcome.reason.fr and "entente préalable" in outcome.reason.fr


def test_reasons_name_the_dates_in_french() -> None:
    answer = obligations(type_code="55115-0", context=PLAIN, on_date=d("2024-06-01"))
    assert answer.for_duty(Duty.DMP).reason.fr.startswith("pas encore en vigueur : à compter du 31 décembre 2025")
    assert "2025-12-31" in answer.for_duty(Duty.DMP).reason.en
    assert answer.listed and answer.other_text is None
    letter = obligations(type_code="11490-0", context=PLAIN, on_date=d("2025-01-01"))
    assert not letter.listed and letter.other_text is not None and letter.other_text.id == "lettre-liaison-sortie"


def test_unknown_code_is_refused_not_unlisted() -> None:
    with pytest.raises(ValidationError) as caught:
        obligations(type_code="99999-9", context=PLAIN, on_date=d("2025-01-01"))
    assert caught.value.field == "type_code"


# --- properties ---------------------------------------------------------------------------------------------

TYPES = sorted({c.code for c in value_sets().type_code} | {c.code for c in value_sets().type_code_dmp})
types = st.sampled_from(TYPES)
dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))
contexts = st.builds(Context, st.booleans(), st.booleans(), st.booleans())


@given(types, contexts, dates)
def test_an_unlisted_type_never_has_a_duty(type_code: str, context: Context, on: dt.date) -> None:
    answer = obligations(type_code=type_code, context=context, on_date=on)
    if type_code not in default_table().listed_types():
        assert answer.duties == NONE and not answer.listed


@given(types, contexts, dates, st.integers(min_value=1, max_value=5000))
def test_a_later_date_never_removes_a_duty_of_a_rule_without_end(
    type_code: str, context: Context, on: dt.date, days: int
) -> None:
    earlier = obligations(type_code=type_code, context=context, on_date=on)
    later = obligations(type_code=type_code, context=context, on_date=on + dt.timedelta(days=days))
    for item in earlier.per_duty:
        if item.applies and default_table().rule(str(item.rule_id)).in_force_until is None:
            assert later.applies(item.duty)


@given(types, contexts, dates)
def test_an_exclusion_only_ever_removes_duties(type_code: str, context: Context, on: dt.date) -> None:
    base = obligations(type_code=type_code, context=Context(), on_date=on)
    assert obligations(type_code=type_code, context=context, on_date=on).duties <= base.duties
    stay = Context(True, context.constitutional_genetics, context.prior_agreement)
    assert (
        obligations(type_code=type_code, context=stay, on_date=on).duties
        <= obligations(type_code=type_code, context=context, on_date=on).duties
    )


@given(types, contexts, dates)
def test_a_duty_that_applies_names_a_rule_in_force(type_code: str, context: Context, on: dt.date) -> None:
    for item in obligations(type_code=type_code, context=context, on_date=on).per_duty:
        if item.applies:
            rule = default_table().rule(str(item.rule_id))
            assert rule.in_force_on(on) and type_code in rule.type_codes
            assert not any(context.has(e) for e in rule.exclusions)


# --- the CSV's integrity --------------------------------------------------------------------------------------

HEADER = "rule_id,label_fr,type_codes,in_force_from,in_force_until,exclusions,effect,duties,source,to_check,note\n"
GOOD = "r-one,Libellé,11502-2,2022-12-31,,hospital_stay,duties,dmp mss_professionals mss_patient,texte,no,\n"


def test_the_shipped_table_loads_and_every_code_is_official() -> None:
    vs = value_sets()
    table = default_table()
    assert len(table) == 14
    for rule in table:
        assert rule.source
        for code in rule.type_codes:
            assert code in vs.type_code or code in vs.type_code_dmp


def test_a_good_row_parses() -> None:
    (rule,) = parse_rules(HEADER + GOOD)
    assert rule.id == "r-one" and rule.in_force_from == d("2022-12-31") and rule.duties == ALL


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (GOOD.replace("11502-2", "12345-6"), "absent de JDV_J07"),
        (GOOD.replace("2022-12-31", "31/12/2022"), "AAAA-MM-JJ"),
        (GOOD.replace("2022-12-31", "2022-02-30"), "date impossible"),
        (GOOD.replace("2022-12-31,", "2022-12-31,2021-01-01"), "avant le début"),
        (GOOD.replace("hospital_stay", "weekend"), "weekend inconnu"),
        (GOOD.replace("dmp mss", "dmp dmp mss"), "répétée"),
        (GOOD.replace(",duties,", ",maybe,"), "effect"),
        (GOOD.replace(",no,", ",perhaps,"), "to_check"),
        (GOOD.replace("r-one", "R One"), "identifiant"),
        (GOOD.replace("texte", ""), "source obligatoires"),
        (GOOD.replace("2022-12-31", ""), "entrée en vigueur obligatoire"),
        (GOOD.replace("dmp mss_professionals mss_patient", ""), "aucun devoir"),
        ("r-two,Libellé,11490-0,2022-12-31,,,other_text,,texte,no,\n", "other_text"),
        (GOOD.replace(",\n", ",,extra\n"), "colonnes"),
    ],
)
def test_a_bad_row_is_refused(row: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ObligationsTable.from_text(HEADER + row)


def test_duplicates_and_overlaps_are_refused() -> None:
    with pytest.raises(ValueError, match="en double"):
        ObligationsTable.from_text(HEADER + GOOD + GOOD.replace("11502-2", "18748-4"))
    with pytest.raises(ValueError, match="même période"):
        ObligationsTable.from_text(HEADER + GOOD + GOOD.replace("r-one", "r-two").replace("2022-12-31", "2030-01-01"))
    with pytest.raises(ValueError, match="même période"):
        ObligationsTable.from_text(HEADER + GOOD + "r-two,Libellé,11502-2,,,,other_text,,texte,no,\n")
    disjoint = GOOD.replace("2022-12-31,", "2020-01-01,2022-12-30").replace("r-one", "r-two")
    assert len(ObligationsTable.from_text(HEADER + GOOD + disjoint)) == 2
    with pytest.raises(ValueError, match="colonnes attendues"):
        ObligationsTable.from_text("rule_id,label_fr\n")


# --- CLI --------------------------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(sharing_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_prints_the_duties_and_the_rule_in_french() -> None:
    code, out, err = run("obligations", "--type", "PRESC-KINE", "--date", "2024-12-31")
    assert code == 0 and not err
    assert "au 31 décembre 2024" in out and "presc-actes-auxiliaires" in out
    assert "À faire : dmp, mss_professionals, mss_patient." in out


def test_cli_flags_set_the_context() -> None:
    code, out, _ = run("obligations", "--type", "57833-6", "--date", "2025-01-01", "--prior-agreement", "--json")
    data = json.loads(out)
    assert code == 0 and data["duties"] == [] and data["context"]["prior_agreement"] is True
    assert data["per_duty"]["dmp"]["reason"]["code"] == "excluded"


def test_cli_json_shape() -> None:
    code, out, _ = run("obligations", "--type", "11502-2", "--date", "2025-01-01", "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"type_code", "type_label", "date", "context", "listed", "duties", "per_duty", "rules"}
    assert data["duties"] == ["dmp", "mss_professionals", "mss_patient"]
    assert data["per_duty"]["mss_patient"] == {
        "applies": True,
        "rule_id": "cr-biologie",
        "reason": data["per_duty"]["mss_patient"]["reason"],
    }
    assert [r["rule_id"] for r in data["rules"]] == ["cr-biologie-initial", "cr-biologie"]
    assert data["rules"][0]["outcome"] == "no_longer_in_force"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--type", "11502-2", "--date", "01/01/2025"), "date illisible"),
        (("--type", "11502-2", "--date", "2025-02-30"), "date impossible"),
        (("--type", "NOPE", "--date", "2025-01-01"), "type de document inconnu"),
    ],
)
def test_cli_bad_input_exits_2_on_stderr(args: tuple[str, ...], message: str) -> None:
    code, out, err = run("obligations", *args)
    assert code == 2 and not out
    assert err.startswith("Erreur : ") and message in err and "Traceback" not in err


def test_cli_unlisted_type_says_so() -> None:
    code, out, _ = run("obligations", "--type", "60591-5", "--date", "2026-01-01")
    assert code == 0 and "non listé" in out and "Aucune obligation" in out


def test_cli_rules_lists_the_table() -> None:
    code, out, _ = run("rules")
    assert code == 0 and out.count("Source :") == 14 and "[à vérifier]" in out
    code, out, _ = run("rules", "--json")
    rules = json.loads(out)
    assert code == 0 and len(rules) == 14 and rules[0]["rule_id"] == "cr-biologie-initial"


def test_the_main_command_has_the_sharing_sub_app() -> None:
    from carnet.cli import app

    result = CliRunner().invoke(app, ["sharing", "obligations", "--type", "34874-8", "--date", "2023-12-31", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["duties"] == ["dmp", "mss_professionals", "mss_patient"]
    result = CliRunner().invoke(app, ["sharing", "obligations", "--type", "34874-8", "--date", "demain"])
    assert result.exit_code == 2 and "date illisible" in result.stderr and "Traceback" not in result.stderr


def test_the_main_command_registers_sharing() -> None:
    from carnet.cli import app

    result = CliRunner().invoke(app, ["sharing", "obligations", "--type", "34874-8", "--date", "2023-12-31"])
    assert result.exit_code == 0 and "cr-operatoire" in result.stdout
