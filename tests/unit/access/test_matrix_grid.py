"""The matrice d'habilitation as a grid, checked against expectations written out by hand from the rules.

Nothing below is computed from the CSV: the grid and the exceptions are transcribed from DESIGN.md ("médecins
read every type except the attestation de résidence; pharmaciens and infirmiers are somewhat more restricted;
other health professions read most types (chirurgiens-dentistes, for instance, not: …); social and
medico-social professionals have much narrower access") and the decisions recorded in docs/access-matrix.md.
"""

from __future__ import annotations

import pytest

from carnet.access.matrix import DEFAULT_DENY_RULE, GESTION_CLASS, Matrix, default_matrix, social_professions
from carnet.record.valuesets import CLASS_FOR_TYPE, value_sets

CATEGORIES = ("10", "11", "31", "42", "43", "44", "45", "52", "60", "90", "95")
CATEGORY_NAMES = {
    "10": "compte rendu",
    "11": "synthèse",
    "31": "imagerie",
    "42": "prescription",
    "43": "dispensation",
    "44": "plan/protocole de soins",
    "45": "traitement administré",
    "52": "certificat/déclaration",
    "60": "remboursement",
    "90": "document du patient",
    "95": "document de gestion",
}

# One line per profession code; Y = may read the category, N = may not.
#                                                           10 11 31 42 43 44 45 52 60 90 95
GRID: dict[str, tuple[str, str]] = {
    "10": ("médecin",                                     "Y  Y  Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    "21": ("pharmacien",                                  "Y  Y  N  Y  Y  Y  Y  Y  N  Y  Y"),
    "40": ("chirurgien-dentiste",                         "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "50": ("sage-femme",                                  "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "60": ("infirmier",                                   "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "69": ("infirmier psychiatrique",                     "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "70": ("masseur-kinésithérapeute",                    "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "80": ("pédicure-podologue",                          "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "91": ("orthophoniste",                               "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "92": ("orthoptiste",                                 "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "93": ("psychologue",                                 "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "94": ("ergothérapeute",                              "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "95": ("diététicien",                                 "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "96": ("psychomotricien",                             "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "98": ("manipulateur d'électroradiologie médicale",   "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "86": ("technicien de laboratoire médical",           "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "26": ("audioprothésiste",                            "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "28": ("opticien-lunetier",                           "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "81": ("orthoprothésiste",                            "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "82": ("podo-orthésiste",                             "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "83": ("orthopédiste-orthésiste",                     "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "84": ("oculariste",                                  "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "85": ("épithésiste",                                 "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    "31": ("assistant dentaire",                          "Y  Y  Y  Y  Y  Y  Y  Y  N  Y  Y"),
    # Social and medico-social professionals (TRE_R94): administrative documents only, plus the types below.
    "41": ("assistant de service social",                 "N  N  N  N  N  N  N  N  N  N  Y"),
    "42": ("auxiliaire de vie sociale",                   "N  N  N  N  N  N  N  N  N  N  Y"),
    "43": ("technicien de l'intervention sociale et familiale", "N  N  N  N  N  N  N  N  N  N  Y"),
    "44": ("conseiller en économie sociale et familiale", "N  N  N  N  N  N  N  N  N  N  Y"),
    "46": ("assistant familial",                          "N  N  N  N  N  N  N  N  N  N  Y"),
    "47": ("aide médico-psychologique",                   "N  N  N  N  N  N  N  N  N  N  Y"),
    "48": ("moniteur éducateur",                          "N  N  N  N  N  N  N  N  N  N  Y"),
    "49": ("éducateur de jeunes enfants",                 "N  N  N  N  N  N  N  N  N  N  Y"),
    "51": ("éducateur spécialisé",                        "N  N  N  N  N  N  N  N  N  N  Y"),
    "52": ("éducateur technique spécialisé",              "N  N  N  N  N  N  N  N  N  N  Y"),
    "53": ("accompagnant éducatif et social",             "N  N  N  N  N  N  N  N  N  N  Y"),
}  # fmt: skip

# Types no health profession but the médecin reads (DESIGN.md lists them for chirurgiens-dentistes).
NOT_FOR_OTHER_HEALTH_PROFESSIONS = {
    "75496-0": "demande d'acte de télémédecine",
    "83981-1": "lettre de liaison à la sortie d'une structure sociale ou médico-sociale",
    "88348-8": "lettre de liaison d'entrée en structure sociale ou médico-sociale",
    "28653-4": "document du secteur social / médico-social",
    "83901-9": "bilan psychologique",
    "68599-0": "synthèse psychiatrique",
    "18776-5": "plan personnalisé de soins (résidents d'EHPAD)",
    "80788-3": "projet personnalisé d'accompagnement (résidents d'EHPAD)",
    "ATTEST-RESID": "attestation de résidence",
}
# Pharmaciens and infirmiers are somewhat more restricted.
ALSO_NOT_FOR_PHARMACIENS_INFIRMIERS = {
    "34874-8": "compte rendu opératoire",
    "51969-4": "compte rendu de génétique moléculaire",
    "34794-8": "compte rendu de réunion de concertation pluridisciplinaire",
    "60568-3": "compte rendu d'anatomie et de cytologie pathologiques",
}
# What social and medico-social professionals read besides the administrative documents.
SOCIAL_MAY_READ = {
    "28653-4": "document du secteur social / médico-social",
    "34842-5": "grille d'évaluation médico-sociale",
    "83981-1": "lettre de liaison à la sortie d'une structure sociale ou médico-sociale",
    "88348-8": "lettre de liaison d'entrée en structure sociale ou médico-sociale",
    "80788-3": "projet personnalisé d'accompagnement",
    "BIL_AUTO": "bilan d'évaluation de la perte d'autonomie",
    "EXPPAT_1": "volontés et droits du patient",
}
PSYCHOLOGUE_READS = {"83901-9", "68599-0"}  # a psychologue reads psychological assessments and syntheses

# The space's data beyond documents (issue 8, docs/profile.md), class codes in the ``space:`` namespace: médecins
# read all; the other health professions the questionnaire, vitals, vaccinations and allergies, never the agenda
# (outside the DMP) nor the reimbursement data (médecins only, as category 60); social professions none of them.
SPACE_CATEGORIES = ("space:profile", "space:vitals", "space:vaccinations", "space:allergies", "space:agenda",
                    "space:reimbursements")  # fmt: skip
SPACE_FOR_HEALTH = "Y  Y  Y  Y  N  N"  # profile vitals vaccinations allergies agenda reimbursements
SPACE_FOR_MEDECIN = "Y  Y  Y  Y  Y  Y"
SPACE_FOR_SOCIAL = "N  N  N  N  N  N"

MEDECIN = "10"
PHARMACIENS_INFIRMIERS = ("21", "60", "69")
SOCIAL = ("41", "42", "43", "44", "46", "47", "48", "49", "51", "52", "53")
OTHER_HEALTH = tuple(code for code in GRID if code not in (MEDECIN, *PHARMACIENS_INFIRMIERS, *SOCIAL))


def _type_exceptions() -> dict[str, dict[str, bool]]:
    table: dict[str, dict[str, bool]] = {MEDECIN: {"ATTEST-RESID": False}}
    for code in OTHER_HEALTH:
        table[code] = {
            t: False for t in NOT_FOR_OTHER_HEALTH_PROFESSIONS if not (code == "93" and t in PSYCHOLOGUE_READS)
        }
    for code in PHARMACIENS_INFIRMIERS:
        table[code] = {t: False for t in (*NOT_FOR_OTHER_HEALTH_PROFESSIONS, *ALSO_NOT_FOR_PHARMACIENS_INFIRMIERS)}
    for code in SOCIAL:
        table[code] = {t: True for t in SOCIAL_MAY_READ}
    return table


TYPE_EXCEPTIONS = _type_exceptions()


def _cells() -> list[tuple[str, str, bool]]:
    cells = []
    for profession, (_, marks) in GRID.items():
        values = marks.split()
        assert len(values) == len(CATEGORIES), profession
        cells += [(profession, category, mark == "Y") for category, mark in zip(CATEGORIES, values, strict=True)]
    return cells


def _space_cells() -> list[tuple[str, str, bool]]:
    cells = []
    for profession in GRID:
        marks = SPACE_FOR_MEDECIN if profession == MEDECIN else SPACE_FOR_SOCIAL if profession in SOCIAL else (
            SPACE_FOR_HEALTH)  # fmt: skip
        values = marks.split()
        cells += [(profession, c, mark == "Y") for c, mark in zip(SPACE_CATEGORIES, values, strict=True)]
    return cells


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return default_matrix()


@pytest.mark.parametrize(
    ("profession", "category", "expected"),
    [
        pytest.param(p, c, e, id=f"{GRID[p][0]} × {CATEGORY_NAMES[c]}: {'lit' if e else 'ne lit pas'}")
        for p, c, e in _cells()
    ],
)
def test_each_profession_reads_each_category_as_the_grid_says(
    matrix: Matrix, profession: str, category: str, expected: bool
) -> None:
    allowed, rule_id = matrix.allows(profession, category)
    assert allowed is expected
    assert rule_id == f"matrix:{profession}:{category}"


@pytest.mark.parametrize(
    ("profession", "type_code", "expected"),
    [
        pytest.param(p, t, e, id=f"{GRID[p][0]} × {t}: {'lit' if e else 'ne lit pas'}")
        for p, exceptions in TYPE_EXCEPTIONS.items()
        for t, e in exceptions.items()
    ],
)
def test_each_type_exception_overrides_its_category(
    matrix: Matrix, profession: str, type_code: str, expected: bool
) -> None:
    class_code = CLASS_FOR_TYPE[type_code]
    allowed, rule_id = matrix.allows(profession, class_code, type_code)
    assert allowed is expected
    assert rule_id == f"matrix:{profession}:{class_code}:{type_code}"
    category_allows, _ = matrix.allows(profession, class_code)
    assert category_allows is not expected, "an exception row says the opposite of its category row"


def test_the_csv_and_the_expected_table_agree_row_for_row(matrix: Matrix) -> None:
    expected = {(p, c, "", e) for p, c, e in _cells()}
    expected |= {(p, c, "", e) for p, c, e in _space_cells()}
    expected |= {
        (p, CLASS_FOR_TYPE[t], t, e) for p, exceptions in TYPE_EXCEPTIONS.items() for t, e in exceptions.items()
    }
    actual = [(row.profession_code, row.class_code, row.type_code, row.read) for row in matrix.rows]
    assert len(actual) == len(set(actual)), "no duplicated row"
    assert set(actual) - expected == set(), "rows in the CSV that the expected table does not have"
    assert expected - set(actual) == set(), "rows of the expected table missing from the CSV"


def test_the_labels_of_the_csv_are_the_ones_of_the_grid(matrix: Matrix) -> None:
    assert {row.profession_code: row.profession_label for row in matrix.rows} == {p: g[0] for p, g in GRID.items()}


def test_every_code_of_the_csv_exists_in_the_official_value_sets(matrix: Matrix) -> None:
    vs = value_sets()
    social = social_professions()
    for row in matrix.rows:
        if row.profession_code in SOCIAL:
            assert row.profession_code in social, row
        else:
            assert row.profession_code in vs.profession, row
        # J06 lacks 95 "Document de gestion" (TRE_A03, used by ASS_X04): the one documented exception; the space's
        # data beyond documents has its own namespace, never a J06 code.
        assert row.class_code in vs.class_code or row.class_code in (GESTION_CLASS, *SPACE_CATEGORIES), row
        if row.type_code:
            assert row.type_code in vs.type_code, row
            assert CLASS_FOR_TYPE[row.type_code] == row.class_code, row


def test_health_and_social_profession_codes_never_collide() -> None:
    health = {code.code for code in value_sets().profession}
    social = {code.code for code in social_professions()}
    assert health.isdisjoint(social)


def test_nineteen_health_professions_are_in_the_table(matrix: Matrix) -> None:
    groups = {
        "médecin": {"10"},
        "pharmacien": {"21"},
        "chirurgien-dentiste": {"40"},
        "sage-femme": {"50"},
        "infirmier": {"60", "69"},
        "masseur-kinésithérapeute": {"70"},
        "pédicure-podologue": {"80"},
        "orthophoniste": {"91"},
        "orthoptiste": {"92"},
        "ergothérapeute": {"94"},
        "psychomotricien": {"96"},
        "diététicien": {"95"},
        "manipulateur d'électroradiologie médicale": {"98"},
        "technicien de laboratoire médical": {"86"},
        "audioprothésiste": {"26"},
        "opticien-lunetier": {"28"},
        "prothésistes et orthésistes pour l'appareillage": {"81", "82", "83", "84", "85"},
        "assistant dentaire": {"31"},
        "psychologue": {"93"},
    }
    assert len(groups) == 19
    health_codes = matrix.professions - set(SOCIAL)
    assert set().union(*groups.values()) == health_codes
    for left_out in ("32", "35", "36", "37", "38", "39"):  # not in the table: denied
        assert matrix.allows(left_out, "10") == (False, DEFAULT_DENY_RULE)


def test_medecins_read_every_type_except_the_attestation_de_residence(matrix: Matrix) -> None:
    types = [code.code for code in value_sets().type_code if CLASS_FOR_TYPE.get(code.code) in CATEGORIES]
    assert len(types) > 100
    refused = [t for t in types if not matrix.allows(MEDECIN, CLASS_FOR_TYPE[t], t)[0]]
    assert refused == ["ATTEST-RESID"]
    assert all(matrix.allows(MEDECIN, c)[0] for c in CATEGORIES)
    # Technical entries are not documents of the 11 categories: a style sheet (class 99), a detached signature.
    assert not matrix.allows(MEDECIN, "99", "FEUILLE-DE-STYLE")[0]
    assert not matrix.allows(MEDECIN, CLASS_FOR_TYPE["E1762"], "E1762")[0]


def test_the_eleventh_category_gathers_the_administrative_types() -> None:
    gestion = {code.code for code in value_sets().type_code if CLASS_FOR_TYPE.get(code.code) == GESTION_CLASS}
    assert gestion == {
        "ATTEST-ASS-COMPL",
        "ATTEST-RESID",
        "ATTEST-HEBGT",
        "ATTEST-DROITS-AM",
        "AUTORIS-SOINS",
        "DOCPAT09",
        "PIECE-IDENTITE",
        "FICHE-CONTACTS",
        "51851-4",
        "56446-8",
        "59284-0",
        "86531-1",
    }


def test_rows_beyond_a_stated_fact_are_marked_to_check(matrix: Matrix) -> None:
    by_profession: dict[str, set[bool]] = {}
    for row in matrix.rows:
        by_profession.setdefault(row.profession_code, set()).add(row.to_check)
        assert row.source, row
        if "extrapolated" in row.source or row.profession_code in SOCIAL:
            assert row.to_check, row
    assert by_profession[MEDECIN] == {False}
    for code in (*PHARMACIENS_INFIRMIERS, "93", *SOCIAL):
        assert by_profession[code] == {True}, code
    dentist_to_check = {row.type_code for row in matrix.rows if row.profession_code == "40" and row.to_check}
    assert dentist_to_check == {"", "18776-5", "80788-3", "88348-8", "28653-4", "ATTEST-RESID"}


def test_the_reason_reads_like_the_regulation(matrix: Matrix) -> None:
    verdict = matrix.verdict("60", "10", "34874-8")
    assert not verdict.allowed
    assert verdict.reason.code == "matrix_denied"
    assert verdict.reason.fr == (
        "un infirmier ne peut pas consulter un document « compte rendu opératoire » (matrice d'habilitation)"
    )
    assert "34874-8" in verdict.reason.en
    assert matrix.verdict("50", "11", "").reason.fr == (
        "la matrice d'habilitation permet à une sage-femme de consulter un document de la catégorie « synthèse »"
    )


HEADER = "profession_code,profession_label,class_code,type_code,read,source,to_check,note\n"


@pytest.mark.parametrize(
    ("rows", "query", "expected"),
    [
        pytest.param(
            "60,infirmier,10,,yes,t,no,\n60,infirmier,10,34874-8,no,t,no,\n",
            ("60", "10", "34874-8"),
            (False, "matrix:60:10:34874-8"),
            id="a type row overrides an allowing category row",
        ),
        pytest.param(
            "41,assistant,10,,no,t,no,\n41,assistant,10,28653-4,yes,t,no,\n",
            ("41", "10", "28653-4"),
            (True, "matrix:41:10:28653-4"),
            id="a type row overrides a denying category row",
        ),
        pytest.param(
            "60,infirmier,10,,yes,t,no,\n60,infirmier,10,34874-8,no,t,no,\n",
            ("60", "11", "34874-8"),
            (False, "matrix:60:10:34874-8"),
            id="a type row applies whatever class the document declares",
        ),
        pytest.param(
            "60,infirmier,10,,yes,t,no,\n60,infirmier,10,,no,t,no,\n60,infirmier,10,,yes,t,no,\n",
            ("60", "10", ""),
            (False, "matrix:60:10"),
            id="deny overrides allow at the same level",
        ),
        pytest.param(
            "60,infirmier,10,34874-8,yes,t,no,\n60,infirmier,10,34874-8,no,t,no,\n",
            ("60", "10", "34874-8"),
            (False, "matrix:60:10:34874-8"),
            id="deny overrides allow between type rows",
        ),
        pytest.param(
            "60,infirmier,10,,yes,t,no,\n", ("60", "11", ""), (False, DEFAULT_DENY_RULE), id="no category row"
        ),
        pytest.param("60,infirmier,10,,yes,t,no,\n", ("21", "10", ""), (False, DEFAULT_DENY_RULE), id="no profession"),
        pytest.param(
            "60,infirmier,10,,yes,t,no,\n", ("60", "10", "11488-4"), (True, "matrix:60:10"), id="type without row"
        ),
    ],
)
def test_combining_rules(rows: str, query: tuple[str, str, str], expected: tuple[bool, str]) -> None:
    assert Matrix.from_text("# a comment\n" + HEADER + rows).allows(*query) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(HEADER + "60,infirmier,10,,oui,t,no,\n", id="read is not yes/no"),
        pytest.param(HEADER + "60,infirmier,10,,yes,t,maybe,\n", id="to_check is not yes/no"),
        pytest.param(HEADER + ",infirmier,10,,yes,t,no,\n", id="no profession"),
        pytest.param("profession,class,read\n60,10,yes\n", id="wrong columns"),
    ],
)
def test_a_malformed_table_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="matrice d'habilitation"):
        Matrix.from_text(text)


def test_the_shipped_matrix_is_compiled_once() -> None:
    assert default_matrix() is default_matrix()
    assert len(default_matrix()) == len(default_matrix().rows) > 0
