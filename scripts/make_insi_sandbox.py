"""Generate carnet/identity/data/insi_sandbox.csv: the sandbox INSi's test identity base (run once, committed).

Every matricule is a syntactically valid NIR with a correct key, under the INS-NIR *test* OID. The two
identities of the CI-SIS example documents come first, unchanged.
"""

import csv
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "carnet" / "identity" / "data" / "insi_sandbox.csv"
TEST_OID = "1.2.250.1.213.1.4.10"


def key(first13: str) -> str:
    number = int(first13.replace("2A", "19").replace("2B", "18"))
    return f"{97 - number % 97:02d}"


FIXED = [
    # CI-SIS example identities (shared/reference/cda-examples)
    (
        "279035121518989",
        "PAT-TROIS",
        "DOMINIQUE MARIE-LOUISE",
        "F",
        "1979-03-28",
        "51215",
        "279035121518989",
        "ci-sis-example",
    ),
    ("277076322082910", "NESSI", "RUTH ISABELLE", "F", "1977-07-14", "63220", "277076322082910", "ci-sis-example"),
]

PLACES = ["75056", "69123", "13055", "31555", "33063", "44109", "59350", "67482", "2A004", "2B033", "97411", "35238"]
COUNTRIES = ["99100", "99109", "99127", "99134", "99350", "99351"]
WOMEN = [
    "MARIE",
    "CAMILLE",
    "LEA",
    "CHLOE",
    "MANON",
    "INES",
    "JEANNE",
    "ANNE-SOPHIE",
    "ZOE",
    "LOUISE",
    "AMINA",
    "ELODIE",
]
MEN = [
    "JEAN",
    "LUCAS",
    "HUGO",
    "THOMAS",
    "NICOLAS",
    "JEAN-PIERRE",
    "KARIM",
    "PAUL",
    "ARTHUR",
    "YANN",
    "MATHIS",
    "LOUIS",
]
NAMES = [
    "MARTIN",
    "BERNARD",
    "DUBOIS",
    "THOMAS",
    "ROBERT",
    "RICHARD",
    "PETIT",
    "DURAND",
    "LEROY",
    "MOREAU",
    "SIMON",
    "LAURENT",
    "LEFEBVRE",
    "MICHEL",
    "GARCIA",
    "DAVID",
    "BERTRAND",
    "ROUX",
    "VINCENT",
    "FOURNIER",
    "N'DIAYE",
    "LE GALL",
    "DUPONT--DURAND",
    "OLIVIER",
    "CHEVALIER",
]


def nir(sex: str, birth: str, place: str, order: int) -> str:
    year, month = birth[2:4], birth[5:7]
    first13 = ("1" if sex == "M" else "2") + year + month + place + f"{order:03d}"
    return first13 + key(first13)


def main() -> None:
    rng = random.Random(20261122)
    rows = list(FIXED)
    used = {r[0] for r in rows}
    for _ in range(60):
        sex = rng.choice("MF")
        first_names = " ".join(rng.sample(MEN if sex == "M" else WOMEN, rng.choice([1, 2, 2, 3])))
        birth = f"{rng.randint(1932, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        place = rng.choice(PLACES + COUNTRIES)
        value = nir(sex, birth, place, rng.randint(1, 999))
        if value in used:
            continue
        used.add(value)
        rows.append((value, rng.choice(NAMES), first_names, sex, birth, place, value, "synthetic"))
    # Children carried on a parent's Carte Vitale (the card's NIR is the parent's, the INS the child's own).
    parent = next(r for r in rows[2:] if "1978" <= r[4][:4] <= "1992")
    for first in ("LUCIE", "ADAM"):
        sex = "F" if first == "LUCIE" else "M"
        value = nir(sex, "2016-05-09", "75056", 400 + len(rows))
        rows.append((value, parent[1], first, sex, "2016-05-09", "75056", parent[0], "synthetic-minor-on-parent-card"))
    # Homonyms (same birth name, first name, sex, date) born in different places: a traits search without the
    # birth place returns several identities (INSi code 02).
    for place, order in (("69123", 611), ("13055", 612)):
        value = nir("M", "1985-06-15", place, order)
        rows.append((value, "MARTIN", "JEAN MICHEL", "M", "1985-06-15", place, value, "synthetic-homonym"))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "matricule",
                "oid",
                "birth_name",
                "birth_first_names",
                "sex",
                "birth_date",
                "birth_place",
                "carte_vitale_nir",
                "origin",
            ]
        )
        for value, name, firsts, sex, birth, place, card, origin in rows:
            writer.writerow([value, TEST_OID, name, firsts, sex, birth, place, card, origin])
    print(f"{len(rows)} identities written to {OUT}")


if __name__ == "__main__":
    main()
