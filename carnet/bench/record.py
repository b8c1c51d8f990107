"""``carnet bench record``: deposit throughput, and list / full-text search latency in a large document store.

Measured on SQLite (a file in a temporary folder) and/or PostgreSQL (``--postgres-url`` or a throwaway cluster),
schema from the real Alembic migrations, through the real :mod:`carnet.record.service` on a
:class:`carnet.bootstrap.Platform` (blobs in a :class:`~carnet.storage.blobs.FileBlobStore` in the temporary
folder), printed as it runs and returned as a dict (see ``docs/benchmarks.md``):

1. **Synthetic CDA R2 documents** of the main types (CR de biologie, CR d'imagerie, lettre de liaison, synthèse
   médicale, prescription, CR opératoire as a level-1 CDA carrying a small PDF), built on the header of the
   CI-SIS *VSM* example with ids, codes, title, author, dates and a French narrative replaced; a sample of each
   type is read back with :func:`carnet.record.service.check_document` before anything is measured (the bench
   stops on the first refused document, and checks that the rows it writes directly are the ones a deposit
   would write).
2. **Deposits**: documents through ``record.deposit`` (one unit of work and one commit each) for patients
   qualified through the real identity path (sandbox INSi + identity card) and synthetic qualified patients.
3. **A store** of N entries (default 1 000 000) spread over many patients, loaded with Core bulk inserts into
   ``documents`` and ``document_search`` (no blobs), plus one measured patient with 500 documents; then ANALYZE
   (and the FTS5 ``optimize`` on SQLite).
4. **Latency** of ``record.list_documents`` (first page of 50) and ``record.search_documents`` (words present in
   10–30 % of the patient's documents, with and without accents) for that patient, each call in its own unit of
   work with its commit (each one writes an audit entry), p50/p95/p99; every answer is checked.
5. **Growth**: with N ≥ 100 000 the store is loaded in stages (10 000, 100 000, N) and the latencies measured
   after each stage.

Everything is synthetic: INS-NIR **test** OID, invented professionals and organisations, no real person.
This module is imported only by the ``bench`` command.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bench.identity import _cpu_model, _header, _n, _percentile, _RowFactory
from carnet.errors import CarnetError, ValidationError
from carnet.identity.matricule import OID_INS_NIR_TEST

if TYPE_CHECKING:
    from sqlalchemy import Engine, Table

    from carnet.bootstrap import Platform

Echo = Callable[[str], None]

BACKENDS = ("sqlite", "postgresql", "both")

# Targets (docs/benchmarks.md).
TARGET_DEPOSITS_PER_S = 300.0
TARGET_LIST_P95_MS = 20.0
TARGET_SEARCH_P95_MS = 50.0

STAGES = (10_000, 100_000)  # intermediate store sizes measured when --documents ≥ GROWTH_FROM
GROWTH_FROM = 100_000
BATCH_ROWS = 5_000  # documents per executemany (and per transaction) when loading the store
DOCS_PER_PATIENT = (5, 50)  # documents of each patient of the store (uniform)
ACTIVE_PATIENTS = 2_000  # patients receiving documents at the same time (their documents are interleaved)
DEPOSITS_PER_PATIENT = 10  # deposits spread over deposits/10 patients (sandbox-qualified, then synthetic)
EXTRA_PATIENT_BASE = 50_000_000  # synthetic matricule numbers of the extra deposit patients (store: from 0)
WARMUP_QUERIES = 20  # untimed calls of each kind before the measure
PAGE = 50  # list_documents(limit=...)
FINDING_SHARE = 0.16  # chance that a document mentions a given searched word (plus natural occurrences)
CHECK_PER_KIND = 12  # documents of each type read back before the measure
SEED = 20261122

# The platform's own job (it may deposit for qualified identities, list and search every record) and the front
# desk that qualifies the sandbox identities.
SYSTEM = Actor(kind=ActorKind.SYSTEM, id="bench", auth_method=AuthMethod.SYSTEM, name="carnet bench record")
FRONT_DESK = Actor(
    kind=ActorKind.SECRETARIAT, id="CPE-BENCH-0001", auth_method=AuthMethod.CPE, acting_for="810000000001",
    name="Accueil (banc)",
)  # fmt: skip

PARIS = ZoneInfo("Europe/Paris")
# OID root of the synthetic documents: the 2.25 (UUID) arc, so no real organisation's arc is borrowed.
DOC_ROOT = "2.25.232862155291447406637393532357312095427"
STORE_BRANCH = 1  # DOC_ROOT.1.<n>.1: documents of the store; DOC_ROOT.2.<n>.1: deposited documents
DEPOSIT_BRANCH = 2
LOINC = "2.16.840.1.113883.6.1"

# --- vocabulary -----------------------------------------------------------------------------------------------

# The searched words. Each document mentions each of them with probability FINDING_SHARE through one of these
# sentences, and the generator never uses them (or a word they are a prefix of) elsewhere, except "échographie",
# which also names some imaging examinations. The queries mix accents, capitals and unaccented spellings.
FINDINGS: dict[str, tuple[str, ...]] = {
    "échographie": (
        "Une échographie de contrôle est prévue dans six mois.",
        "L'échographie réalisée en ville était sans particularité.",
    ),
    "fièvre": (
        "Épisode de fièvre à 38,5 °C la semaine précédente, résolutif sans traitement.",
        "Pas de fièvre rapportée depuis la dernière consultation.",
    ),
    "anémie": (
        "Anémie ferriprive connue, sous supplémentation orale.",
        "Anémie modérée à surveiller, bilan martial demandé.",
    ),
    "hypertension": (
        "Hypertension artérielle équilibrée sous bithérapie.",
        "Hypertension artérielle découverte récemment, automesure conseillée.",
    ),
    "diabète": (
        "Diabète de type 2 suivi en médecine de ville, HbA1c à 7,1 %.",
        "Diabète de type 1 sous pompe à insuline depuis 2016.",
    ),
    "tachycardie": (
        "Tachycardie sinusale transitoire au cours de l'examen.",
        "Palpitations avec tachycardie ressentie au repos.",
    ),
    "lombalgie": (
        "Lombalgie chronique mécanique, sans signe de gravité.",
        "Lombalgie aiguë après un effort de soulèvement.",
    ),
    "asthme": (
        "Asthme intermittent bien contrôlé par un traitement de secours.",
        "Asthme allergique connu depuis l'enfance.",
    ),
}
QUERIES = ("échographie", "fievre", "Anémie", "hypertension", "DIABÈTE", "tachycardie", "lombalgie", "asthme")

_FAMILIES = (
    "Lefèvre", "Bénard", "Noël", "Lemaître", "Béranger", "Côté", "Martin", "Bernard", "Dubois", "Durand",
    "Moreau", "Laurent", "Girard", "Rousseau", "Mercier", "Guérin", "Chevalier", "François", "Gauthier", "Perrin",
    "Le Goff", "Le Guen", "Kerbrat", "Quéré", "Ménard", "Texier", "Barthélemy", "Aubert", "Rolland", "Duval",
    "Ben Saïd", "Haddad", "Nguyen", "Da Costa", "Rodrigues", "Albertini", "Poirier", "Huet", "Brunet", "Hélias",
)  # fmt: skip
_GIVEN = (
    ("M", "Jérôme"), ("M", "Frédéric"), ("M", "Benoît"), ("M", "Clément"), ("M", "Joël"), ("M", "Stéphane"),
    ("M", "Hervé"), ("M", "Loïc"), ("M", "Rémi"), ("M", "Yannick"), ("M", "Karim"), ("M", "Thibault"),
    ("MME", "Hélène"), ("MME", "Éloïse"), ("MME", "Agnès"), ("MME", "Anaïs"), ("MME", "Maëlle"),
    ("MME", "Cécile"), ("MME", "Noémie"), ("MME", "Gaëlle"), ("MME", "Inès"), ("MME", "Sophie"),
    ("MME", "Nadège"), ("MME", "Léa"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Org:
    finess: str
    name: str
    street: str
    postal: str
    city: str
    facility: tuple[str, str]  # JDV_J02 (healthCareFacility/code)
    setting: tuple[str, str]  # JDV_J04 (standardIndustryClassCode)
    inpatient: bool


_PUBLIC = ("SA01", "Etablissement public de santé")
_PRIVATE = ("SA04", "Etablissement privé non PSPH")
_LAB = ("SA29", "Laboratoire d'analyses et de biologie médicale")
_GROUP = ("SA08", "Cabinet de groupe")
_SOLO = ("SA07", "Cabinet individuel")
_CENTRE = ("SA05", "Centre de santé")
_HOSPITAL_SETTING = ("ETABLISSEMENT", "Etablissement de santé")
_CITY_SETTING = ("AMBULATOIRE", "Ambulatoire")

_ORG_ROWS: dict[str, tuple[tuple[str, str, str, str, tuple[str, str]], ...]] = {
    "hôpital": (
        ("Centre hospitalier universitaire de Rennes", "2 rue Henri Le Guilloux", "35000", "RENNES", _PUBLIC),
        ("Centre hospitalier de Saint-Brieuc", "10 rue Marcel Proust", "22000", "SAINT-BRIEUC", _PUBLIC),
        ("Hôpital de la Croix-Rousse", "103 grande rue de la Croix-Rousse", "69004", "LYON", _PUBLIC),
        ("Centre hospitalier de Valence", "179 boulevard du Maréchal Juin", "26000", "VALENCE", _PUBLIC),
        ("Centre hospitalier d'Ajaccio", "27 avenue de l'Impératrice Eugénie", "20000", "AJACCIO", _PUBLIC),
        ("Clinique des Cèdres", "21 rue Albert Rémy", "31700", "CORNEBARRIEU", _PRIVATE),
        ("Polyclinique du Parc", "5 allée des Tilleuls", "49300", "CHOLET", _PRIVATE),
        ("Clinique Sainte-Anne de Lannion", "8 rue de Kérampont", "22300", "LANNION", _PRIVATE),
    ),
    "laboratoire": (
        ("Laboratoire de biologie médicale de l'Estuaire", "14 quai de la Fosse", "44000", "NANTES", _LAB),
        ("Laboratoire Bioseine", "3 place du Vieux-Marché", "76000", "ROUEN", _LAB),
        ("Laboratoire des Lilas", "42 avenue Faidherbe", "93310", "LE PRÉ-SAINT-GERVAIS", _LAB),
        ("Laboratoire Océane", "7 rue de Siam", "29200", "BREST", _LAB),
    ),
    "imagerie": (
        ("Cabinet de radiologie des Tilleuls", "12 boulevard Gambetta", "87000", "LIMOGES", _GROUP),
        ("Centre d'imagerie médicale du Val", "4 rue des Écoles", "57000", "METZ", _GROUP),
        ("Imagerie du Ponant", "25 rue Jean Jaurès", "29000", "QUIMPER", _GROUP),
    ),
    "cabinet": (
        ("Cabinet médical des Acacias", "9 rue Pasteur", "63000", "CLERMONT-FERRAND", _SOLO),
        ("Maison de santé pluriprofessionnelle du Trégor", "1 rue de l'Église", "22700", "PERROS-GUIREC", _GROUP),
        ("Centre de santé le Belvédère", "3 rue Petit Pont", "75005", "PARIS", _CENTRE),
        ("Cabinet médical de la Halle", "16 place du Marché", "84000", "AVIGNON", _SOLO),
        ("Cabinet médical Saint-Éloi", "31 rue Nationale", "59000", "LILLE", _GROUP),
    ),
}


def _orgs() -> dict[str, list[_Org]]:
    out: dict[str, list[_Org]] = {}
    number = 0
    for category, rows in _ORG_ROWS.items():
        orgs = []
        for name, street, postal, city, facility in rows:
            number += 1
            inpatient = category == "hôpital"
            setting = _HOSPITAL_SETTING if inpatient else _CITY_SETTING
            orgs.append(_Org(f"{postal[:2]}0{number:06d}", name, street, postal, city, facility, setting, inpatient))
        out[category] = orgs
    return out


@dataclass(frozen=True, slots=True)
class _Author:
    id: str  # idNatPs: "8" + RPPS number (11 digits, Luhn key)
    prefix: str
    given: str
    family: str
    specialty: str  # JDV_J01
    specialty_display: str
    org: _Org


def _luhn_key(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


Block = tuple[str, Any]  # ("p", text) | ("list", [items]) | ("table", (header, rows))
Section = tuple[str, list[Block]]


def _num(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


# Biology: (analyte, unit, low, high, reference, decimals).
_HEMATO = (
    ("Hémoglobine", "g/dL", 10.4, 16.8, "12,0 – 16,0", 1),
    ("Hématocrite", "%", 33.0, 50.0, "37 – 47", 1),
    ("Leucocytes", "G/L", 3.2, 13.5, "4,0 – 10,0", 1),
    ("Polynucléaires neutrophiles", "G/L", 1.2, 9.8, "1,8 – 7,5", 2),
    ("Lymphocytes", "G/L", 0.7, 4.5, "1,0 – 4,0", 2),
    ("Plaquettes", "G/L", 110, 480, "150 – 400", 0),
    ("Volume globulaire moyen", "fL", 72, 104, "80 – 100", 0),
    ("Ferritine", "µg/L", 8, 420, "15 – 150", 0),
)  # fmt: skip
_BIOCHEM = (
    ("Glycémie à jeun", "mmol/L", 3.9, 9.8, "4,1 – 5,9", 2),
    ("Hémoglobine glyquée (HbA1c)", "%", 4.8, 9.5, "4,0 – 6,0", 1),
    ("Créatininémie", "µmol/L", 45, 180, "45 – 90", 0),
    ("Débit de filtration glomérulaire (CKD-EPI)", "mL/min/1,73 m²", 28, 120, "> 90", 0),
    ("Sodium", "mmol/L", 131, 146, "136 – 145", 0),
    ("Potassium", "mmol/L", 3.2, 5.6, "3,5 – 5,1", 1),
    ("Protéine C réactive (CRP)", "mg/L", 0.5, 85, "< 5", 1),
    ("Aspartate aminotransférase (ASAT)", "UI/L", 12, 95, "< 35", 0),
    ("Alanine aminotransférase (ALAT)", "UI/L", 9, 110, "< 45", 0),
    ("Gamma-glutamyltransférase (GGT)", "UI/L", 10, 160, "< 55", 0),
    ("Cholestérol total", "g/L", 1.4, 3.1, "< 2,00", 2),
    ("LDL-cholestérol", "g/L", 0.6, 2.2, "< 1,60", 2),
    ("Triglycérides", "g/L", 0.5, 3.4, "< 1,50", 2),
    ("Vitamine D (25-OH)", "ng/mL", 8, 55, "30 – 100", 0),
    ("Bilirubine totale", "µmol/L", 4, 38, "< 21", 0),
    ("Albumine", "g/L", 29, 48, "35 – 50", 1),
)  # fmt: skip
_HORMONES = (
    ("TSH ultrasensible", "mUI/L", 0.2, 7.5, "0,4 – 4,0", 2),
    ("T4 libre", "pmol/L", 8, 24, "12 – 22", 1),
    ("Troponine Ic ultrasensible", "ng/L", 2, 60, "< 26", 0),
    ("NT-proBNP", "pg/mL", 30, 2400, "< 125", 0),
    ("PSA total", "ng/mL", 0.2, 9.5, "< 4,0", 2),
)  # fmt: skip
_BIO_CONTEXT = (
    "Bilan demandé par le médecin traitant dans le cadre du suivi annuel.",
    "Bilan préopératoire avant une intervention programmée.",
    "Contrôle biologique après modification du traitement.",
    "Bilan demandé pour une asthénie persistante depuis trois semaines.",
    "Surveillance d'un traitement par anticoagulant oral direct.",
    "Prélèvement réalisé au domicile par l'infirmière libérale.",
)
_BIO_COMMENTS = (
    "Résultats à interpréter en fonction du contexte clinique.",
    "Discrète élévation de la CRP, sans hyperleucocytose.",
    "Ferritine basse évocatrice d'une carence martiale.",
    "Bilan lipidique au-dessus des objectifs thérapeutiques.",
    "Fonction rénale stable par rapport au précédent bilan.",
    "Légère cytolyse à contrôler dans un mois.",
    "Hypokaliémie modérée : contrôle recommandé après supplémentation.",
    "Aucune anomalie significative sur ce bilan.",
)

# Imaging: (examination, technique).
_EXAMS = (
    ("Radiographie du thorax de face et de profil", "Clichés en inspiration profonde, debout."),
    ("Scanner thoraco-abdomino-pelvien avec injection", "Acquisition hélicoïdale après injection d'iode."),
    ("IRM du genou droit", "Séquences pondérées T1, T2 et densité de protons avec saturation du signal graisseux."),
    ("IRM cérébrale sans et avec injection de gadolinium", "Séquences FLAIR, diffusion et T1 après injection."),
    ("Échographie abdominale", "Examen réalisé à jeun, sonde convexe."),
    ("Mammographie bilatérale de dépistage", "Deux incidences par sein, complétées d'une tomosynthèse."),
    ("Scanner du rachis lombaire", "Acquisition sans injection, reconstructions sagittales et coronales."),
    ("Échographie-doppler des troncs supra-aortiques", "Étude en mode B, couleur et pulsé."),
    ("Radiographie du bassin et des hanches", "Cliché de bassin de face debout et hanches de profil."),
    ("Ostéodensitométrie", "Absorptiométrie biphotonique au rachis lombaire et à la hanche gauche."),
    ("Scanner des sinus", "Acquisition en coupes fines sans injection."),
    ("IRM de l'épaule gauche", "Séquences multiplanaires, sans arthrographie."),
)
_IMG_INDICATIONS = (
    "Douleur persistante depuis plusieurs semaines malgré un traitement antalgique.",
    "Bilan d'extension d'une lésion découverte fortuitement.",
    "Toux chronique chez un ancien fumeur.",
    "Traumatisme récent lors d'une chute de sa hauteur.",
    "Surveillance annuelle prévue par le spécialiste.",
    "Céphalées inhabituelles résistantes au paracétamol.",
    "Dépistage organisé.",
)
_IMG_FINDINGS = (
    "Pas d'épanchement pleural ni de pneumothorax.",
    "Parenchyme sans anomalie décelable.",
    "Nodule de 6 mm du lobe inférieur droit, à contrôler.",
    "Discopathie L4-L5 sans conflit radiculaire.",
    "Foie de taille normale, d'échostructure homogène.",
    "Lithiase vésiculaire non compliquée.",
    "Épanchement articulaire de faible abondance.",
    "Fissure méniscale interne de grade 2.",
    "Absence de lésion ischémique récente.",
    "Densité osseuse dans les limites de la normale pour l'âge.",
    "Plaque athéromateuse non sténosante du bulbe carotidien droit.",
    "Coxarthrose débutante bilatérale.",
    "Sinusite maxillaire gauche.",
    "Tendinopathie du supra-épineux sans rupture transfixiante.",
)
_IMG_CONCLUSIONS = (
    "Examen sans particularité.",
    "Aspect rassurant, pas de contrôle nécessaire.",
    "Anomalie à contrôler dans six mois par le même examen.",
    "Avis spécialisé recommandé.",
    "Aspect stable par rapport à l'examen précédent.",
)

# Discharge letters: (service, reason of admission).
_STAYS = (
    ("cardiologie", "Douleur thoracique avec élévation de la troponine."),
    ("pneumologie", "Exacerbation de bronchopneumopathie chronique obstructive."),
    ("gériatrie", "Chute à domicile avec perte d'autonomie."),
    ("chirurgie orthopédique", "Fracture du col du fémur gauche."),
    ("gastro-entérologie", "Hémorragie digestive haute."),
    ("neurologie", "Déficit moteur transitoire du membre supérieur droit."),
    ("médecine interne", "Altération de l'état général et amaigrissement."),
    ("néphrologie", "Insuffisance rénale aiguë sur déshydratation."),
)
_STAY_SUMMARY = (
    "Évolution favorable sous traitement, sans complication.",
    "Réalisation d'une coronarographie avec pose d'un stent actif.",
    "Prise en charge kinésithérapique quotidienne pendant le séjour.",
    "Adaptation du traitement diurétique.",
    "Endoscopie digestive haute : ulcère bulbaire traité.",
    "Bilan étiologique complet sans cause retrouvée.",
    "Réhydratation intraveineuse avec normalisation de la fonction rénale.",
    "Intervention chirurgicale sans incident, reprise de l'appui à J2.",
    "Séjour marqué par une confusion nocturne résolutive.",
)
_FOLLOW_UP = (
    "Consultation de suivi dans trois mois avec le spécialiste.",
    "Kinésithérapie à domicile, dix séances.",
    "Contrôle biologique à J8 chez le médecin traitant.",
    "Retour à domicile avec passage infirmier quotidien.",
    "Réévaluation du traitement lors de la prochaine consultation.",
)

# Medicines: (name and strength, dosage).
_DRUGS = (
    ("Amlodipine 5 mg", "1 comprimé le matin"),
    ("Metformine 1000 mg", "1 comprimé matin et soir au cours des repas"),
    ("Paracétamol 1 g", "1 comprimé jusqu'à 3 fois par jour si douleur"),
    ("Atorvastatine 20 mg", "1 comprimé le soir"),
    ("Lévothyroxine 75 µg", "1 comprimé le matin à jeun"),
    ("Ramipril 5 mg", "1 comprimé le matin"),
    ("Amoxicilline 1 g", "1 comprimé 3 fois par jour pendant 7 jours"),
    ("Oméprazole 20 mg", "1 gélule le matin"),
    ("Salbutamol 100 µg/dose", "2 bouffées si gêne respiratoire"),
    ("Bisoprolol 2,5 mg", "1 comprimé le matin"),
    ("Furosémide 40 mg", "1 comprimé le matin"),
    ("Apixaban 5 mg", "1 comprimé matin et soir"),
    ("Tramadol 50 mg", "1 gélule toutes les 6 heures si besoin"),
    ("Ibuprofène 400 mg", "1 comprimé 3 fois par jour pendant 5 jours"),
    ("Escitalopram 10 mg", "1 comprimé le matin"),
    ("Colécalciférol 100 000 UI", "1 ampoule tous les trois mois"),
    ("Prednisolone 20 mg", "2 comprimés le matin pendant 5 jours"),
    ("Macrogol 4000", "1 sachet par jour"),
)
_DURATIONS = ("pendant 1 mois", "pendant 3 mois", "renouvelable 2 fois", "traitement de fond", "pendant 10 jours")
_INSTRUCTIONS = (
    "Ne pas dépasser la dose prescrite.",
    "À prendre au cours du repas.",
    "Ne pas conduire en cas de somnolence.",
    "Prévenir le médecin en cas d'éruption cutanée.",
    "Substitution par un générique autorisée.",
)
_PRESC_CONTEXT = (
    "Renouvellement du traitement habituel.",
    "Traitement d'une infection respiratoire basse.",
    "Poussée douloureuse d'arthrose du genou.",
    "Adaptation thérapeutique après le dernier bilan.",
    "Traitement symptomatique d'une gastro-entérite.",
)

# Medical summaries.
_PROBLEMS = (
    "Hypothyroïdie substituée.",
    "Fibrillation atriale paroxystique sous anticoagulant.",
    "Gonarthrose bilatérale.",
    "Syndrome d'apnées du sommeil appareillé.",
    "Bronchopneumopathie chronique obstructive de stade 2.",
    "Dyslipidémie sous statine.",
    "Insuffisance rénale chronique de stade 3a.",
    "Glaucome chronique à angle ouvert.",
    "Polyarthrite rhumatoïde en rémission.",
    "Épisode dépressif récurrent.",
    "Obésité de grade 1.",
)
_HISTORY = (
    "Appendicectomie dans l'enfance.",
    "Cholécystectomie en 2011.",
    "Fracture du poignet droit en 2018.",
    "Césarienne en 2009.",
    "Pneumopathie communautaire en 2020.",
    "Zona thoracique en 2017.",
    "Prothèse totale de genou gauche en 2021.",
    "Infarctus du myocarde en 2015, angioplastie.",
)
_ALLERGIES = (
    "Aucune allergie connue.",
    "Allergie à la pénicilline (urticaire).",
    "Intolérance aux anti-inflammatoires non stéroïdiens.",
    "Allergie aux acariens.",
    "Allergie à l'iode suspectée, non confirmée.",
)
_RISKS = (
    "Tabagisme sevré depuis 2015.",
    "Tabagisme actif, 10 cigarettes par jour.",
    "Consommation d'alcool occasionnelle.",
    "Activité physique régulière, marche quotidienne.",
    "Surpoids, IMC à 27.",
    "Sédentarité.",
)
_VIGILANCE = (
    "Risque de chute : domicile adapté.",
    "Fonction rénale à surveiller avant toute prescription.",
    "Directives anticipées rédigées, remises au médecin traitant.",
    "Vaccinations à jour, rappel diphtérie-tétanos-poliomyélite en 2027.",
    "Aidant principal : conjoint.",
)

# Operative reports: (intervention, course).
_OPERATIONS = (
    ("Cholécystectomie par cœlioscopie", "Dissection du triangle de Calot, clip du canal cystique."),
    ("Prothèse totale de hanche gauche", "Voie d'abord postéro-latérale, implants cimentés."),
    ("Cure de hernie inguinale droite", "Mise en place d'une plaque prothétique selon Lichtenstein."),
    ("Appendicectomie par cœlioscopie", "Appendice inflammatoire sans perforation."),
    ("Arthroscopie du genou droit", "Méniscectomie partielle interne."),
    ("Thyroïdectomie totale", "Repérage et préservation des nerfs récurrents."),
    ("Résection transurétrale de prostate", "Copeaux adressés en anatomopathologie."),
    ("Pose de chambre implantable", "Abord jugulaire interne droit sous contrôle échoguidé."),
)
_ANESTHESIA = ("anesthésie générale", "rachianesthésie", "anesthésie locorégionale")
_OP_INDICATIONS = (
    "Coliques hépatiques récidivantes.",
    "Coxarthrose invalidante.",
    "Hernie symptomatique.",
    "Syndrome appendiculaire.",
    "Blocages du genou.",
    "Goitre multinodulaire.",
    "Troubles mictionnels.",
    "Chimiothérapie programmée.",
)
_OP_OUTCOMES = (
    "Suites opératoires simples, sortie prévue à J1.",
    "Lever précoce, reprise de l'alimentation le soir même.",
    "Surveillance de la cicatrice, ablation des fils à J10.",
    "Antalgiques de palier 1, pas d'anticoagulation préventive.",
)


# --- document types -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Kind:
    key: str
    label: str
    type_code: str
    type_system: str
    type_display: str
    templates: tuple[tuple[str, str | None], ...]
    level: int
    weight: float
    orgs: tuple[str, ...]  # organisation categories of its authors
    specialties: tuple[tuple[str, str], ...]


_GP = (
    ("G15_10/SM26", "Médecin - Qualifié en Médecine Générale (SM)"),
    ("G15_10/SM54", "Médecin - Médecine Générale (SM)"),
)
KINDS = (
    _Kind(
        "bio", "CR de biologie", "11502-2", LOINC, "CR d'examens biologiques",
        (("1.3.6.1.4.1.19376.1.3.3", None), ("1.2.250.1.213.1.1.1.55", None)), 3, 0.30,
        ("laboratoire", "laboratoire", "hôpital"), (("G15_10/SM03", "Médecin - Biologie médicale (SM)"),),
    ),
    _Kind(
        "img", "CR d'imagerie", "18748-4", LOINC, "CR d'imagerie médicale",
        (("1.2.840.10008.9.1", None), ("1.2.250.1.213.1.1.1.45", "2024.01")), 3, 0.16,
        ("imagerie", "hôpital"), (("G15_10/SM44", "Médecin - Radio-diagnostic (SM)"),),
    ),
    _Kind(
        "ldl", "lettre de liaison", "11490-0", LOINC, "Lettre de liaison à la sortie d'un établissement de soins",
        (("1.2.250.1.213.1.1.1.29", "2022.01"),), 3, 0.12,
        ("hôpital",),
        (
            ("G15_10/SM04", "Médecin - Cardiologie et maladies vasculaires (SM)"),
            ("G15_10/SM41", "Médecin - Pneumologie (SM)"),
            ("G15_10/SM18", "Médecin - Gériatrie (SM)"),
            ("G15_10/SM24", "Médecin - Gastro-entérologie et hépatologie (SM)"),
            ("G15_10/SM32", "Médecin - Neurologie (SM)"),
            ("G15_10/SM27", "Médecin - Médecine interne (SM)"),
            ("G15_10/SM30", "Médecin - Néphrologie (SM)"),
        ),
    ),
    _Kind(
        "vsm", "synthèse médicale (VSM)", "SYNTH", "1.2.250.1.213.1.1.4.12", "Synthèse",
        (("1.2.250.1.213.1.1.1.13", "201310"),), 3, 0.08, ("cabinet",), _GP,
    ),
    _Kind(
        "presc", "prescription", "57833-6", LOINC, "Prescription de produits de santé",
        (("1.3.6.1.4.1.19376.1.9.1.1.1", None), ("1.2.250.1.213.1.1.1.39", "2022.01")), 3, 0.24,
        ("cabinet", "cabinet", "hôpital"),
        (*_GP, ("G15_10/SM04", "Médecin - Cardiologie et maladies vasculaires (SM)")),
    ),
    _Kind(
        "cro", "CR opératoire (niveau 1, PDF)", "34874-8", LOINC, "CR opératoire",
        (("1.3.6.1.4.1.19376.1.2.20", None),), 1, 0.10, ("hôpital",),
        (
            ("G15_10/SM05", "Médecin - Chirurgie générale (SM)"),
            ("G15_10/SM08", "Médecin - Chirurgie orthopédique et Traumatologie (SM)"),
            ("G15_10/SM12", "Médecin - Chirurgie urologique (SM)"),
            ("G15_10/SM14", "Médecin - Chirurgie viscérale et digestive (SM)"),
        ),
    ),
)  # fmt: skip
AUTHORS_PER_KIND = 300


@dataclass(frozen=True, slots=True)
class PatientRef:
    """What a document says about its patient (recordTarget)."""

    id: str
    matricule: str
    oid: str
    birth_name: str
    first_names: str
    sex: str
    birth_date: dt.date


@dataclass(slots=True)
class GeneratedDocument:
    """One synthetic document: what the CDA says, the bytes, and the text a deposit indexes."""

    number: int
    unique_id: str
    kind: _Kind
    title: str
    author: _Author
    created: dt.datetime
    service_start: dt.datetime
    service_stop: dt.datetime | None
    content: bytes = b""
    narrative: str = ""  # what render.narrative_text gives for the document
    folded: str = ""  # what DocumentRepository.index_text stores (search_text of title + narrative)
    sha256: str = ""


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S%z")


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


class _FoldTable(dict[int, str]):
    """``str.translate`` table folding like ``carnet.record.store.search_text``, learning each new character."""

    def __missing__(self, key: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(key).replace("œ", "oe").replace("Œ", "OE"))
        value = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
        self[key] = value
        return value


class Folder:
    """``carnet.record.store.search_text`` as one ``str.translate``: the same result (checked at start), many
    times faster on long narratives."""

    def __init__(self) -> None:
        self._table = _FoldTable()

    def __call__(self, text: str) -> str:
        return " ".join(text.translate(self._table).split())


_TOKEN = re.compile(r"[^\W_]+")


class DocumentFactory:
    """Deterministic synthetic documents (one ``random.Random`` per factory)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fold = Folder()
        orgs = _orgs()
        rng = random.Random(seed ^ 0x5EED)
        self.authors: dict[str, list[_Author]] = {}
        serial = 0
        for kind in KINDS:
            pool = []
            for _ in range(AUTHORS_PER_KIND):
                serial += 1
                rpps = f"1{serial * 7919 % 10**9:09d}"
                prefix, given = rng.choice(_GIVEN)
                specialty, display = rng.choice(kind.specialties)
                org = rng.choice(orgs[rng.choice(kind.orgs)])
                pool.append(_Author(f"8{rpps}{_luhn_key(rpps)}", prefix, given, rng.choice(_FAMILIES), specialty,
                                    display, org))  # fmt: skip
            self.authors[kind.key] = pool
        self._weights = [k.weight for k in KINDS]
        self._start = dt.datetime(2012, 1, 1, tzinfo=PARIS)
        self._days = (dt.date(2026, 10, 31) - dt.date(2012, 1, 1)).days

    # narrative

    def _findings(self) -> list[Block]:
        rng = self.rng
        return [("p", rng.choice(sentences)) for sentences in FINDINGS.values() if rng.random() < FINDING_SHARE]

    def _results_table(self, analytes: Sequence[tuple[str, str, float, float, str, int]], count: int) -> Block:
        rng = self.rng
        rows = []
        for name, unit, low, high, reference, decimals in rng.sample(list(analytes), count):
            rows.append([name, _num(rng.uniform(low, high), decimals), unit, reference])
        return ("table", (["Analyse", "Résultat", "Unité", "Valeurs de référence"], rows))

    def _sections(self, kind: str, created: dt.datetime) -> tuple[str, list[Section]]:
        rng = self.rng
        findings = self._findings()
        if kind == "bio":
            sections: list[Section] = [
                ("Renseignements cliniques", [("p", rng.choice(_BIO_CONTEXT)), *findings]),
                ("Hématologie", [self._results_table(_HEMATO, rng.randint(3, 6))]),
                ("Biochimie", [self._results_table(_BIOCHEM, rng.randint(3, 7))]),
            ]
            if rng.random() < 0.35:
                sections.append(("Hormonologie et marqueurs", [self._results_table(_HORMONES, rng.randint(1, 3))]))
            sections.append(("Commentaire du biologiste", [("p", rng.choice(_BIO_COMMENTS))]))
            title = rng.choice(
                ("Compte rendu d'examens biologiques", "Bilan biologique", "Résultats de biologie médicale")
            )
            return title, sections
        if kind == "img":
            exam, technique = rng.choice(_EXAMS)
            sections = [
                ("Indication", [("p", rng.choice(_IMG_INDICATIONS)), *findings]),
                ("Technique", [("p", technique)]),
                ("Résultat", [("p", s) for s in rng.sample(_IMG_FINDINGS, rng.randint(2, 4))]),
                ("Conclusion", [("p", rng.choice(_IMG_CONCLUSIONS))]),
            ]
            return f"Compte rendu d'imagerie : {exam}", sections
        if kind == "ldl":
            service, reason = rng.choice(_STAYS)
            drugs = rng.sample(_DRUGS, rng.randint(2, 5))
            sections = [
                ("Motif d'hospitalisation", [("p", reason), *findings]),
                ("Synthèse du séjour", [("p", s) for s in rng.sample(_STAY_SUMMARY, rng.randint(2, 3))]),
                ("Traitement de sortie", [("list", [f"{d} : {p}, {rng.choice(_DURATIONS)}" for d, p in drugs])]),
                ("Suites à donner", [("p", s) for s in rng.sample(_FOLLOW_UP, rng.randint(1, 2))]),
            ]
            return f"Lettre de liaison à la sortie, service de {service}", sections
        if kind == "vsm":
            drugs = rng.sample(_DRUGS, rng.randint(2, 5))
            sections = [
                ("Pathologies en cours", [("list", rng.sample(_PROBLEMS, rng.randint(1, 3))), *findings]),
                ("Antécédents médicaux et chirurgicaux", [("list", rng.sample(_HISTORY, rng.randint(1, 3)))]),
                ("Allergies et intolérances", [("p", rng.choice(_ALLERGIES))]),
                ("Traitements au long cours", [("list", [f"{d} : {p}" for d, p in drugs])]),
                ("Facteurs de risque", [("list", rng.sample(_RISKS, rng.randint(1, 2)))]),
                ("Points de vigilance", [("p", rng.choice(_VIGILANCE))]),
            ]
            return rng.choice(("Synthèse médicale", "Volet de synthèse médicale")), sections
        # prescription
        drugs = rng.sample(_DRUGS, rng.randint(1, 4))
        sections = [
            ("Indication", [("p", rng.choice(_PRESC_CONTEXT)), *findings]),
            ("Prescription", [("list", [f"{d} : {p}, {rng.choice(_DURATIONS)}" for d, p in drugs])]),
            ("Instructions au patient", [("p", s) for s in rng.sample(_INSTRUCTIONS, rng.randint(1, 2))]),
        ]
        return rng.choice(("Prescription de médicaments", "Ordonnance")), sections

    def _operative_lines(self, author: _Author, created: dt.datetime) -> tuple[str, list[str]]:
        rng = self.rng
        operation, course = rng.choice(_OPERATIONS)
        lines = [
            "Compte rendu opératoire",
            f"Intervention : {operation}",
            f"Date : {created:%d/%m/%Y}",
            f"Opérateur : Dr {author.given} {author.family.upper()}, {author.org.name}",
            f"Anesthésie : {rng.choice(_ANESTHESIA)}",
            f"Indication : {rng.choice(_OP_INDICATIONS)}",
            *(text for _, text in self._findings()),
            f"Déroulement : {course}",
            rng.choice(_OP_OUTCOMES),
        ]
        return f"Compte rendu opératoire : {operation}", lines

    # the document

    def document(self, number: int, patient: PatientRef, *, branch: int = STORE_BRANCH) -> GeneratedDocument:
        rng = self.rng
        kind = rng.choices(KINDS, self._weights)[0]
        author = rng.choice(self.authors[kind.key])
        day = self._start + dt.timedelta(days=rng.randrange(self._days))
        created = dt.datetime(day.year, day.month, day.day, rng.randint(7, 19), rng.randrange(60), 0, tzinfo=PARIS)
        if kind.key == "ldl":
            start, stop = created - dt.timedelta(days=rng.randint(1, 12), hours=rng.randint(0, 6)), created
        elif kind.key == "cro":
            start = created - dt.timedelta(hours=rng.randint(1, 5))
            stop = start + dt.timedelta(minutes=rng.randint(30, 180))
        else:
            start, stop = created - dt.timedelta(minutes=rng.randint(20, 600)), None
        doc = GeneratedDocument(
            number=number,
            unique_id=f"{DOC_ROOT}.{branch}.{number}.1",
            kind=kind,
            title="",
            author=author,
            created=created,
            service_start=start,
            service_stop=stop,
        )
        if kind.level == 1:
            title, lines = self._operative_lines(author, created)
            doc.title = title
            body = _nonxml_body(_pdf(lines))
            narrative = " ".join([title, *lines])
        else:
            title, sections = self._sections(kind.key, created)
            doc.title = title
            body = _structured_body(sections)
            narrative = " ".join([title, *(_section_text(s) for s in sections)])
        doc.narrative = " ".join(narrative.split())
        doc.content = _cda(doc, patient, body).encode("utf-8")
        doc.sha256 = hashlib.sha256(doc.content).hexdigest()
        # DocumentRepository.index_text: search_text(f"{title} {comment or ''} {text}"), comment None.
        doc.folded = self.fold(f"{doc.title}  {doc.narrative}")
        return doc


def terms_of(folded: str, fold: Callable[[str], str]) -> set[str]:
    """The queries (QUERIES) a folded body matches: one of its words starts with the folded query word."""
    tokens = set(_TOKEN.findall(folded))
    found = set()
    for query in QUERIES:
        word = fold(query)
        if any(t.startswith(word) for t in tokens):
            found.add(query)
    return found


# --- CDA ------------------------------------------------------------------------------------------------------


def _block_xml(block: Block) -> str:
    kind, value = block
    if kind == "p":
        return f"<paragraph>{escape(value)}</paragraph>\n"
    if kind == "list":
        return "<list>\n" + "".join(f"<item>{escape(item)}</item>\n" for item in value) + "</list>\n"
    header, rows = value
    head = "".join(f"<th>{escape(h)}</th>\n" for h in header)
    body = "".join("<tr>\n" + "".join(f"<td>{escape(c)}</td>\n" for c in row) + "</tr>\n" for row in rows)
    return f'<table border="1">\n<thead>\n<tr>\n{head}</tr>\n</thead>\n<tbody>\n{body}</tbody>\n</table>\n'


def _block_text(block: Block) -> str:
    kind, value = block
    if kind == "p":
        return str(value)
    if kind == "list":
        return " ".join(value)
    header, rows = value
    return " ".join([*header, *(c for row in rows for c in row)])


def _section_text(section: Section) -> str:
    title, blocks = section
    return " ".join([title, *(_block_text(b) for b in blocks)])


def _structured_body(sections: Sequence[Section]) -> str:
    parts = ["<component>\n<structuredBody>\n"]
    for title, blocks in sections:
        parts.append(f"<component>\n<section>\n<title>{escape(title)}</title>\n<text>\n")
        parts.extend(_block_xml(b) for b in blocks)
        parts.append("</text>\n</section>\n</component>\n")
    parts.append("</structuredBody>\n</component>\n")
    return "".join(parts)


def _nonxml_body(pdf: bytes) -> str:
    encoded = base64.encodebytes(pdf).decode("ascii")
    return (
        '<component>\n<nonXMLBody>\n<text mediaType="application/pdf" representation="B64">\n'
        f"{encoded}</text>\n</nonXMLBody>\n</component>\n"
    )


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _pdf(lines: Sequence[str]) -> bytes:
    """A one-page PDF 1.4 with ``lines`` in Helvetica (WinAnsiEncoding, so French accents survive)."""
    ops = [b"BT /F1 10 Tf 13 TL 50 790 Td"]
    ops.extend(_pdf_string(line) + b" Tj T*" for line in lines)
    ops.append(b"ET")
    stream = b"\n".join(ops)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# The header of the CI-SIS example VSM_1.4_2022.01.xml (ANS), comments and optional parts (guardian,
# informants, authenticator, participant) left out; every value below is replaced per document.
_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<realmCode code="FR"/>
<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
<templateId root="2.16.840.1.113883.2.8.2.1"/>
<templateId root="1.2.250.1.213.1.1.1.1"/>
{templates}<id root="{doc_id}"/>
<code code="{type_code}" displayName="{type_display}" codeSystem="{type_system}"/>
<title>{title}</title>
<effectiveTime value="{created}"/>
<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25" codeSystemName="Confidentiality" \
displayName="Normal"/>
<languageCode code="fr-FR"/>
<setId root="{set_id}"/>
<versionNumber value="1"/>
<recordTarget>
<patientRole>
<id extension="{ins}" root="{ins_oid}"/>
<patient classCode="PSN">
<name>
<family qualifier="BR">{birth_name}</family>
<given>{first_names}</given>
<given qualifier="BR">{first_name}</given>
</name>
<administrativeGenderCode code="{sex}" codeSystem="2.16.840.1.113883.5.1"/>
<birthTime value="{birth}"/>
</patient>
</patientRole>
</recordTarget>
<author>
<time value="{created}"/>
<assignedAuthor>
<id root="1.2.250.1.71.4.2.1" extension="{author_id}"/>
<code code="{specialty}" codeSystem="1.2.250.1.213.1.1.4.5" codeSystemName="RPPS" displayName="{specialty_display}"/>
{org_addr}
<telecom value="tel:{phone}" use="WP"/>
{person}
<representedOrganization>
<id root="1.2.250.1.71.4.2.2" extension="{org_id}"/>
<name>{org_name}</name>
{org_addr}
</representedOrganization>
</assignedAuthor>
</author>
<custodian>
<assignedCustodian>
<representedCustodianOrganization>
<id root="1.2.250.1.71.4.2.2" extension="{org_id}"/>
<name>{org_name}</name>
<telecom value="tel:{phone}" use="WP"/>
{org_addr}
</representedCustodianOrganization>
</assignedCustodian>
</custodian>
<legalAuthenticator>
<time value="{created}"/>
<signatureCode code="S"/>
<assignedEntity>
<id root="1.2.250.1.71.4.2.1" extension="{author_id}"/>
<code code="{specialty}" codeSystem="1.2.250.1.213.1.1.4.5" codeSystemName="RPPS" displayName="{specialty_display}"/>
{person}
</assignedEntity>
</legalAuthenticator>
<documentationOf>
<serviceEvent>
<effectiveTime>
<low value="{start}"/>{high}
</effectiveTime>
<performer typeCode="PRF">
<assignedEntity>
<id root="1.2.250.1.71.4.2.1" extension="{author_id}"/>
{person}
<representedOrganization>
<id root="1.2.250.1.71.4.2.2" extension="{org_id}"/>
<name>{org_name}</name>
<standardIndustryClassCode code="{setting}" displayName="{setting_display}" codeSystem="1.2.250.1.213.1.1.4.9" \
codeSystemName="practiceSettingCode"/>
</representedOrganization>
</assignedEntity>
</performer>
</serviceEvent>
</documentationOf>
<componentOf>
<encompassingEncounter>
<code code="{encounter}" displayName="{encounter_display}" codeSystem="2.16.840.1.113883.5.4"/>
<effectiveTime>
<low value="{start}"/>{high}
</effectiveTime>
<location>
<healthCareFacility>
<code code="{facility}" displayName="{facility_display}" codeSystem="1.2.250.1.71.4.2.4"/>
<location>
<name>{org_name}</name>
</location>
</healthCareFacility>
</location>
</encompassingEncounter>
</componentOf>
"""


_AUTHOR_PARTS: dict[str, dict[str, str]] = {}


def _author_parts(author: _Author) -> dict[str, str]:
    """The header values that depend on the author only (cached: 1 800 authors)."""
    parts = _AUTHOR_PARTS.get(author.id)
    if parts is None:
        org = author.org
        parts = _AUTHOR_PARTS[author.id] = {
            "author_id": author.id,
            "specialty": author.specialty,
            "specialty_display": _attr(author.specialty_display),
            "person": (
                f"<assignedPerson>\n<name>\n<prefix>{author.prefix}</prefix>\n<given>{escape(author.given)}</given>\n"
                f"<family>{escape(author.family.upper())}</family>\n<suffix>DR</suffix>\n</name>\n</assignedPerson>"
            ),
            "phone": f"0{org.postal[:1] or '1'}{int(org.finess) % 10**8:08d}",
            "org_id": org.finess,
            "org_name": escape(org.name),
            "org_addr": (
                f"<addr>\n<streetAddressLine>{escape(org.street)}</streetAddressLine>\n"
                f"<postalCode>{org.postal}</postalCode>\n<city>{escape(org.city)}</city>\n</addr>"
            ),
            "setting": org.setting[0],
            "setting_display": _attr(org.setting[1]),
            "facility": org.facility[0],
            "facility_display": _attr(org.facility[1]),
        }
    return parts


def _cda(doc: GeneratedDocument, patient: PatientRef, body: str) -> str:
    kind = doc.kind
    templates = "".join(
        f'<templateId root="{root}"/>\n' if ext is None else f'<templateId root="{root}" extension="{ext}"/>\n'
        for root, ext in kind.templates
    )
    hospital_stay = doc.author.org.inpatient and kind.key in ("ldl", "cro")
    header = _HEADER.format(
        templates=templates,
        doc_id=doc.unique_id,
        set_id=doc.unique_id[: -len(".1")],
        type_code=kind.type_code,
        type_display=_attr(kind.type_display),
        type_system=kind.type_system,
        title=escape(doc.title),
        created=_ts(doc.created),
        ins=patient.matricule,
        ins_oid=patient.oid,
        birth_name=escape(patient.birth_name),
        first_names=escape(patient.first_names),
        first_name=escape(patient.first_names.split()[0]),
        sex=patient.sex,
        birth=f"{patient.birth_date:%Y%m%d}",
        start=_ts(doc.service_start),
        high="" if doc.service_stop is None else f'\n<high value="{_ts(doc.service_stop)}"/>',
        encounter="IMP" if hospital_stay else "AMB",
        encounter_display="Hospitalisation" if hospital_stay else "Ambulatoire",
        **_author_parts(doc.author),
    )
    return header + body + "</ClinicalDocument>\n"


# --- rows written directly (the store) ------------------------------------------------------------------------

_FORMATS = {
    "bio": "urn:ihe:lab:xd-lab:2008",
    "img": "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013",
    "ldl": "urn:asip:ci-sis:ldl-ses:2017",
    "vsm": "urn:asip:ci-sis:vsm:2012",
    "presc": "urn:ihe:pharm:pre:2010",
    "cro": "urn:ihe:iti:xds-sd:pdf:2008",
}


def document_row(doc: GeneratedDocument, patient_id: str, stamp: dt.datetime) -> dict[str, Any]:
    """The ``documents`` row a deposit of ``doc`` by SYSTEM writes (checked against a real deposit at start)."""
    from carnet.record.valuesets import class_for_type

    author = doc.author
    return {
        "id": str(uuid.uuid4()),
        "patient_id": patient_id,
        "unique_id": doc.unique_id,
        "status": "current",
        "type_code": doc.kind.type_code,
        "class_code": class_for_type(doc.kind.type_code) or "",
        "format_code": _FORMATS[doc.kind.key],
        "confidentiality_code": "N",
        "title": doc.title,
        "comment": None,
        "language": "fr-FR",
        "mime_type": "text/xml",
        "size": len(doc.content),
        "sha256": doc.sha256,
        "author_id": author.id,
        "author_family": author.family.upper(),
        "author_given": author.given,
        "author_profession": "10",
        "author_specialty": author.specialty,
        "author_org_id": author.org.finess,
        "author_org_name": author.org.name,
        "author_kind": "professional",
        "facility_type": author.org.facility[0],
        "practice_setting": author.org.setting[0],
        "creation_time": doc.created,
        "service_start": doc.service_start,
        "service_stop": doc.service_stop,
        "submission_source": None,
        "submission_time": stamp,
        "replaces_id": None,
        "replaced_by_id": None,
        "hidden_from_professionals": False,
        "invisible_to_patient": False,
        "invisible_to_representatives": False,
        "deleted_at": None,
        "deleted_by": None,
        "deposited_by": SYSTEM.id,
        "version": 1,
        "created_at": stamp,
        "updated_at": stamp,
    }


def _patient_key(patient_id: str) -> str:
    return "p" + patient_id.replace("-", "")


# --- helpers --------------------------------------------------------------------------------------------------


def _ms(ns: float) -> float:
    return ns / 1e6


def _latency(durations: list[int], wall_s: float) -> dict[str, float]:
    ordered = sorted(durations)
    return {
        "count": len(ordered),
        "p50_ms": _ms(_percentile(ordered, 50)),
        "p95_ms": _ms(_percentile(ordered, 95)),
        "p99_ms": _ms(_percentile(ordered, 99)),
        "max_ms": _ms(ordered[-1]),
        "mean_ms": _ms(sum(ordered) / len(ordered)),
        "per_s": len(ordered) / wall_s,
    }


def _fmt_latency(r: dict[str, float]) -> str:
    return (
        f"p50 {r['p50_ms']:.2f} ms · p95 {r['p95_ms']:.2f} ms · p99 {r['p99_ms']:.2f} ms · max {r['max_ms']:.1f} ms"
        f" · {_n(r['per_s'])} /s"
    )


def _table(name: str) -> Table:
    from carnet.identity.store import PatientRow
    from carnet.record.store import DocumentRow

    rows: dict[str, Any] = {"patients": PatientRow, "documents": DocumentRow}
    return cast("Table", rows[name].__table__)


def _patient_ref(row: dict[str, Any]) -> PatientRef:
    return PatientRef(
        id=row["id"],
        matricule=row["ins_matricule"],
        oid=row["ins_oid"],
        birth_name=row["birth_name"],
        first_names=row["birth_first_names"],
        sex=row["sex"],
        birth_date=row["birth_date"],
    )


class _Patients:
    """Synthetic qualified identities (rows written directly), never one of the sandbox INSi's matricules."""

    def __init__(self, stamp: dt.datetime, exclude: set[str], start: int) -> None:
        self._factory = _RowFactory(stamp)
        self._exclude = exclude
        self._next = start
        self.created = 0

    def row(self) -> dict[str, Any]:
        while True:
            row = self._factory.row(self._next)
            self._next += 1
            if row["ins_matricule"] not in self._exclude:
                self.created += 1
                return row


# --- 1. the generator, checked --------------------------------------------------------------------------------


def check_generator(echo: Echo) -> dict[str, Any]:
    """Read back CHECK_PER_KIND documents of each type as a deposit would; abort on the first refused one."""
    from carnet.record.service import check_document
    from carnet.record.store import search_text

    _header(echo, "1. Générateur de documents CDA R2 synthétiques — contrôle")
    factory = DocumentFactory(SEED + 7)
    patient = PatientRef(
        "contrôle",
        "279035121518989",
        OID_INS_NIR_TEST,
        "PAT-TROIS",
        "DOMINIQUE MARIE-LOUISE",
        "F",
        dt.date(1979, 3, 28),
    )
    stamp = dt.datetime.now(dt.UTC)
    counts = dict.fromkeys((k.key for k in KINDS), 0)
    sizes: list[int] = []
    texts: list[int] = []
    started = time.perf_counter()
    number = 0
    while min(counts.values()) < CHECK_PER_KIND:
        number += 1
        doc = factory.document(number, patient)
        if counts[doc.kind.key] >= CHECK_PER_KIND:
            continue
        counts[doc.kind.key] += 1
        checked = check_document(doc.content, max_bytes=20 * 2**20)
        if checked.problems or checked.metadata is None:
            listed = "; ".join(f"{p.message} [{p.location}]" for p in checked.problems) or "illisible"
            raise ValidationError(
                f"document synthétique refusé ({doc.kind.label}, {doc.unique_id}) : {listed} — le banc s'arrête"
            )
        m = checked.metadata
        row = document_row(doc, patient.id, stamp)
        seen = {
            "unique_id": m.unique_id,
            "type_code": m.type_code,
            "class_code": m.class_code,
            "format_code": m.format_code,
            "confidentiality_code": m.confidentiality_code,
            "title": m.title,
            "language": m.language,
            "mime_type": m.mime_type,
            "author_id": m.author.id,
            "author_family": m.author.family,
            "author_given": m.author.given,
            "author_profession": m.author.profession,
            "author_specialty": m.author.specialty,
            "author_org_id": m.author.organisation_id,
            "author_org_name": m.author.organisation_name,
            "author_kind": m.author_kind.value,
            "facility_type": m.facility_type,
            "practice_setting": m.practice_setting,
            "creation_time": m.creation_time,
            "service_start": m.service_start,
            "service_stop": m.service_stop,
        }
        wrong = [name for name, value in seen.items() if row[name] != value]
        indexed = search_text(f"{m.title} {m.comment or ''} {checked.text}")
        if indexed != doc.folded:
            wrong.append("texte indexé")
        if (
            checked.header is None
            or checked.header.patient_ins is None
            or (checked.header.patient_ins.value != patient.matricule)
        ):
            wrong.append("INS du patient")
        if wrong:
            raise ValidationError(
                f"banc faussé : pour {doc.unique_id} ({doc.kind.label}), les lignes écrites directement différeraient "
                f"d'un dépôt sur : {', '.join(wrong)}"
            )
        sizes.append(len(doc.content))
        texts.append(len(doc.folded))
    elapsed = time.perf_counter() - started
    checked_count = sum(counts.values())
    echo(
        f"{checked_count} documents ({CHECK_PER_KIND} par type : "
        + ", ".join(k.label for k in KINDS)
        + ") relus par check_document (read_cda + jeux de valeurs) : 0 erreur, 0 avertissement ; métadonnées et "
        "texte indexé identiques à ceux qu'écrit un dépôt."
    )
    echo(
        f"Taille moyenne : {_n(sum(sizes) / len(sizes))} octets de CDA, {_n(sum(texts) / len(texts))} caractères "
        f"de texte indexé ({elapsed:.1f} s)."
    )
    return {"checked": checked_count, "per_kind": counts, "mean_bytes": sum(sizes) / len(sizes)}


# --- 2. deposits ----------------------------------------------------------------------------------------------


def _qualify_sandbox(platform: Platform, echo: Echo) -> list[PatientRef]:
    """Register and qualify every identity of the sandbox INSi, as a front desk would (INSi + identity card)."""
    from carnet.identity import service as identity
    from carnet.identity.status import IdDocumentType

    insi = cast(Any, platform.insi)
    refs: list[PatientRef] = []
    refused = 0
    for _ins, traits in insi.people:
        try:
            with platform.uow() as uow:
                reg = identity.register(uow=uow, actor=FRONT_DESK, traits=traits)
                identity.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=reg.patient.id)
                identity.record_document_check(
                    uow=uow, actor=FRONT_DESK, patient_id=reg.patient.id, document_type=IdDocumentType.CN
                )
                uow.commit()
                row = uow.patients.get(reg.patient.id)
        except CarnetError:
            refused += 1
            continue
        if row is None or row.status != "QUAL" or row.ins_matricule is None or row.ins_oid is None:
            refused += 1
            continue
        refs.append(
            PatientRef(
                row.id, row.ins_matricule, row.ins_oid, row.birth_name, row.birth_first_names, row.sex, row.birth_date
            )
        )
    echo(
        f"{len(refs)} identités de la base INSi de bac à sable qualifiées par le parcours réel (register + "
        f"retrieve_ins + record_document_check CN)" + (f", {refused} non qualifiables" if refused else "")
    )
    return refs


def _add_patients(engine: Engine, patients: _Patients, count: int) -> list[PatientRef]:
    rows = [patients.row() for _ in range(count)]
    if rows:
        with engine.begin() as conn:
            conn.execute(_table("patients").insert(), rows)
    return [_patient_ref(r) for r in rows]


def _measure_deposits(
    platform: Platform, targets: Sequence[PatientRef], count: int, factory: DocumentFactory, first: int, echo: Echo
) -> dict[str, Any]:
    from carnet.record import service as record

    documents = [
        (targets[i % len(targets)], factory.document(first + i, targets[i % len(targets)], branch=DEPOSIT_BRANCH))
        for i in range(count)
    ]
    volume = sum(len(d.content) for _, d in documents)
    durations: list[int] = []
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for patient, doc in documents:
        t0 = clock()
        with platform.uow() as uow:
            result = record.deposit(uow=uow, actor=SYSTEM, patient_id=patient.id, content=doc.content)
            uow.commit()
        durations.append(clock() - t0)
        if not result.created or result.warnings:
            raise ValidationError(f"banc faussé : dépôt de {doc.unique_id} inattendu ({result.warnings})")
    wall = time.perf_counter() - started
    result_ = _latency(durations, wall)
    result_.update(documents=count, patients=len(targets), bytes=volume, wall_s=wall)
    echo(
        f"{_n(count)} dépôts en {wall:.1f} s : {_n(count / wall)} documents/s ({volume / count / 1024:.1f} Kio en "
        f"moyenne) — par dépôt : {_fmt_latency(result_)}"
    )
    return result_


# --- 3. the store ---------------------------------------------------------------------------------------------


class _Store:
    """Rows of the store, batch by batch: documents interleaved over ACTIVE_PATIENTS patients at a time, each
    patient receiving 5 to 50 documents, and the measured patient's documents spread over the first stage."""

    def __init__(
        self, documents: int, patient_documents: int, first_stage: int, stamp: dt.datetime, exclude: set[str]
    ) -> None:
        self.stamp = stamp
        self.factory = DocumentFactory(SEED)
        self.patients = _Patients(stamp, exclude, start=0)
        self.rng = random.Random(SEED + 1)
        self.active_target = max(20, min(ACTIVE_PATIENTS, documents // 100))
        self.active: list[tuple[PatientRef, list[int]]] = []
        self.pending: list[dict[str, Any]] = []
        measured_row = self.patients.row()
        self.pending.append(measured_row)
        self.measured = _patient_ref(measured_row)
        self.measured_key = _patient_key(self.measured.id)
        self.slots = set(self.rng.sample(range(first_stage), patient_documents))
        self.expected = dict.fromkeys(QUERIES, 0)
        self.position = 0
        self.generation_s = 0.0

    def _pick(self) -> PatientRef:
        rng = self.rng
        while len(self.active) < self.active_target:
            row = self.patients.row()
            self.pending.append(row)
            self.active.append((_patient_ref(row), [rng.randint(*DOCS_PER_PATIENT)]))
        index = rng.randrange(len(self.active))
        patient, left = self.active[index]
        left[0] -= 1
        if left[0] == 0:
            self.active[index] = self.active[-1]
            self.active.pop()
        return patient

    def batch(self, size: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        started = time.perf_counter()
        documents: list[dict[str, Any]] = []
        search: list[dict[str, Any]] = []
        for _ in range(size):
            measured = self.position in self.slots
            patient = self.measured if measured else self._pick()
            self.position += 1
            doc = self.factory.document(self.position, patient)
            row = document_row(doc, patient.id, self.stamp)
            documents.append(row)
            search.append({"d": row["id"], "p": _patient_key(patient.id), "b": doc.folded})
            if measured:
                for query in terms_of(doc.folded, self.factory.fold):
                    self.expected[query] += 1
        patients, self.pending = self.pending, []
        self.generation_s += time.perf_counter() - started
        return patients, documents, search


def _search_insert(dialect: str) -> str:
    if dialect == "postgresql":
        return (
            "INSERT INTO document_search (document_id, patient_key, body, tsv) "
            "VALUES (:d, :p, :b, to_tsvector('french', :b))"
        )
    return "INSERT INTO document_search (document_id, patient_key, body) VALUES (:d, :p, :b)"


def _load_stage(engine: Engine, store: _Store, until: int, total: int, echo: Echo) -> dict[str, float]:
    """Insert documents until the store holds ``until`` of them; returns the timings."""
    from sqlalchemy import text

    insert_search = text(_search_insert(engine.dialect.name))
    patients_table, documents_table = _table("patients"), _table("documents")
    start_position, start_patients, start_gen = store.position, store.patients.created, store.generation_s
    step = max(BATCH_ROWS, (total // 10) // BATCH_ROWS * BATCH_ROWS)
    started = time.perf_counter()
    while store.position < until:
        patients, documents, search = store.batch(min(BATCH_ROWS, until - store.position))
        with engine.begin() as conn:
            if patients:
                conn.execute(patients_table.insert(), patients)
            conn.execute(documents_table.insert(), documents)
            conn.execute(insert_search, search)
        if store.position % step == 0 and store.position < until:
            elapsed = time.perf_counter() - started
            echo(
                f"  … {_n(store.position)} / {_n(total)} documents ({elapsed:.0f} s, "
                f"{_n((store.position - start_position) / elapsed)} documents/s)"
            )
    load_s = time.perf_counter() - started
    rows = store.position - start_position
    return {
        "loaded": rows,
        "new_patients": store.patients.created - start_patients,
        "load_s": load_s,
        "generation_s": store.generation_s - start_gen,
        "rows_per_s": rows / load_s if load_s else 0.0,
    }


def _analyze(engine: Engine) -> tuple[float, float]:
    """ANALYZE (PostgreSQL: VACUUM ANALYZE, which also empties the GIN pending list); SQLite: FTS5 optimize."""
    from sqlalchemy import text

    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("patients", "documents", "document_search", "audit_events"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
        return time.perf_counter() - started, 0.0
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    analyze_s = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO document_search(document_search) VALUES('optimize')"))
    return analyze_s, time.perf_counter() - started


# --- 4. reads -------------------------------------------------------------------------------------------------


def _measure_reads(platform: Platform, store: _Store, patient_documents: int, queries: int) -> dict[str, Any]:
    from carnet.record import service as record

    patient_id = store.measured.id
    expected = store.expected
    want_page = min(PAGE, patient_documents)

    def listing() -> None:
        with platform.uow() as uow:
            page = record.list_documents(uow=uow, actor=SYSTEM, patient_id=patient_id, limit=PAGE)
            uow.commit()
        if page.total != patient_documents or len(page.items) != want_page:
            raise ValidationError(
                f"banc faussé : list_documents rend {page.total} documents ({len(page.items)} sur la page), "
                f"{patient_documents} attendus"
            )

    def searching(query: str) -> None:
        with platform.uow() as uow:
            page = record.search_documents(uow=uow, actor=SYSTEM, patient_id=patient_id, query=query, limit=PAGE)
            uow.commit()
        if page.total != expected[query]:
            raise ValidationError(
                f"banc faussé : la recherche « {query} » trouve {page.total} documents, {expected[query]} attendus"
            )

    for i in range(WARMUP_QUERIES):
        listing()
        searching(QUERIES[i % len(QUERIES)])
    clock = time.perf_counter_ns
    durations: list[int] = []
    started = time.perf_counter()
    for _ in range(queries):
        t0 = clock()
        listing()
        durations.append(clock() - t0)
    list_result = _latency(durations, time.perf_counter() - started)
    durations = []
    started = time.perf_counter()
    for i in range(queries):
        t0 = clock()
        searching(QUERIES[i % len(QUERIES)])
        durations.append(clock() - t0)
    search_result = _latency(durations, time.perf_counter() - started)
    return {"list": list_result, "search": search_result}


# --- one backend ----------------------------------------------------------------------------------------------


def _sqlite_loader(url: str) -> Engine:
    """The engine that loads the store: same pragmas, a 256 MiB page cache for the random-order index inserts."""
    from sqlalchemy import event

    from carnet.storage.db import make_engine

    engine = make_engine(url)

    def big_cache(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA cache_size=-262144")

    event.listen(engine, "connect", big_cache)
    engine.dispose()  # the connection opened by make_engine's check has the default cache
    return engine


def _bench_backend(
    name: str,
    url: str,
    *,
    folder: Path,
    documents: int,
    patient_documents: int,
    deposits: int,
    queries: int,
    external: bool,
    echo: Echo,
    size: Callable[[Engine], int],
) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from carnet.bootstrap import bootstrap
    from carnet.settings import Environment, Settings
    from carnet.storage.db import make_engine
    from carnet.storage.migrate import upgrade

    engine = make_engine(url)
    loader: Engine | None = None
    written = False
    try:
        upgrade(engine)
        with engine.connect() as conn:
            existing = {
                table: conn.execute(select(func.count()).select_from(_table(table))).scalar_one()
                for table in ("patients", "documents")
            }
            version = (
                conn.execute(text("SHOW server_version")).scalar_one()
                if engine.dialect.name == "postgresql"
                else sqlite3.sqlite_version
            )
        if any(existing.values()):
            raise ValidationError(
                f"{engine.url.render_as_string(hide_password=True)} contient déjà des patients ou des documents : "
                "le banc a besoin d'une base vide (il y écrit des données synthétiques)",
                field="postgres_url",
            )
        # No .env file and no CARNET_* variable changes what the bench measures (_env_file is pydantic-settings').
        settings = cast(Any, Settings)(env=Environment.TEST, data_dir=folder / "data", demo_data=False, _env_file=None)
        platform = bootstrap(settings, engine=engine, migrate=False)
        echo(f"{name} {version} — schéma créé par les migrations Alembic ; contenus dans {settings.effective_blob_dir}")
        written = True
        stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)

        # 2. deposits through the service
        echo("")
        echo("-- 2. Dépôts par record.deposit (une unité de travail et un commit par document, acteur SYSTEM)")
        qualified = _qualify_sandbox(platform, echo)
        sandbox = {ins.value for ins, _ in cast(Any, platform.insi).people}
        wanted = max(1, math.ceil(deposits / DEPOSITS_PER_PATIENT))
        extra = _Patients(stamp, sandbox, start=EXTRA_PATIENT_BASE)
        targets = qualified[:wanted] + _add_patients(engine, extra, max(0, wanted - len(qualified)))
        echo(
            f"Patients destinataires : {len(targets)} ({min(len(qualified), wanted)} qualifiés par INSi, "
            f"{max(0, wanted - len(qualified))} identités qualifiées synthétiques insérées directement)"
        )
        deposit_factory = DocumentFactory(SEED + 2)
        empty = _measure_deposits(platform, targets, deposits, deposit_factory, 1, echo)

        # 3–5. the store, in stages
        growth = documents >= GROWTH_FROM
        stages = [s for s in STAGES if s < documents] + [documents] if growth else [documents]
        store = _Store(documents, patient_documents, min(stages[0], documents), stamp, sandbox)
        echo("")
        echo(
            f"-- 3. Magasin de {_n(documents)} documents (INSERT par lots de {_n(BATCH_ROWS)} dans documents et "
            f"document_search, sans contenus), dont {_n(patient_documents)} pour le patient mesuré"
            + (f" ; mesures à {', '.join(_n(s) for s in stages)} documents" if len(stages) > 1 else "")
        )
        loader = _sqlite_loader(url) if engine.dialect.name == "sqlite" else engine
        stage_results: list[dict[str, Any]] = []
        for stage in stages:
            loaded = _load_stage(loader, store, stage, documents, echo)
            analyze_s, optimize_s = _analyze(loader)
            bytes_used = size(engine)
            echo(
                f"Magasin à {_n(stage)} documents ({_n(store.patients.created)} patients) : chargement de "
                f"{_n(loaded['loaded'])} documents en {loaded['load_s']:.1f} s, {_n(loaded['rows_per_s'])} "
                f"documents/s (dont génération Python {loaded['generation_s']:.1f} s) ; "
                + (f"VACUUM ANALYZE {analyze_s:.1f} s" if engine.dialect.name == "postgresql" else
                   f"ANALYZE {analyze_s:.1f} s, FTS5 optimize {optimize_s:.1f} s")
                + f" ; taille {bytes_used / 2**20:.0f} Mio"
            )  # fmt: skip
            if stage == stages[0]:
                shares = ", ".join(
                    f"« {q} » {store.expected[q]} ({store.expected[q] / patient_documents:.0%})" for q in QUERIES
                )
                echo(f"Patient mesuré : {_n(patient_documents)} documents ; mots cherchés : {shares}")
            reads = _measure_reads(platform, store, patient_documents, queries)
            echo(f"  list_documents (50 premiers, tri par date) : {_fmt_latency(reads['list'])}")
            echo(f"  search_documents (un mot, {len(QUERIES)} mots en alternance) : {_fmt_latency(reads['search'])}")
            stage_results.append(
                {
                    "documents": stage,
                    "patients": store.patients.created,
                    "size_bytes": bytes_used,
                    "analyze_s": analyze_s,
                    "optimize_s": optimize_s,
                    **loaded,
                    **reads,
                }
            )
        if loader is not engine:
            loader.dispose()
            loader = None

        echo("")
        echo(f"-- Dépôts dans le magasin plein ({_n(documents + deposits)} documents)")
        full = _measure_deposits(platform, targets, deposits, deposit_factory, deposits + 1, echo)
        return {
            "backend": name,
            "version": version,
            "deposits_empty": empty,
            "deposits_full": full,
            "stages": stage_results,
            "final": stage_results[-1],
            "measured_patient": {"documents": patient_documents, "expected": dict(store.expected)},
            "store_patients": store.patients.created,
        }
    finally:
        if loader is not None and loader is not engine:
            loader.dispose()
        if external and written:
            # A database we did not create: remove what we wrote (it had no patient and no document before).
            echo("Suppression des données synthétiques écrites par le banc…")
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM document_search"))
                conn.execute(text("DELETE FROM documents"))
                conn.execute(text("DELETE FROM audit_events WHERE patient_id IN (SELECT id FROM patients)"))
                conn.execute(text("DELETE FROM identity_events WHERE patient_id IN (SELECT id FROM patients)"))
                conn.execute(text("DELETE FROM patients"))
        engine.dispose()


def bench_sqlite(documents: int, patient_documents: int, deposits: int, queries: int, echo: Echo) -> dict[str, Any]:
    _header(echo, f"SQLite — dépôts, puis magasin de {_n(documents)} documents")
    folder = Path(tempfile.mkdtemp(prefix="carnet-bench-record-"))
    path = folder / "bench.db"

    def size(_engine: Engine) -> int:
        return sum(p.stat().st_size for p in folder.glob("bench.db*"))

    echo(f"Fichier : {path} (WAL, synchronous=FULL, comme en production embarquée)")
    try:
        return _bench_backend(
            "SQLite",
            f"sqlite:///{path}",
            folder=folder,
            documents=documents,
            patient_documents=patient_documents,
            deposits=deposits,
            queries=queries,
            external=False,
            echo=echo,
            size=size,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_postgresql(
    documents: int, patient_documents: int, deposits: int, queries: int, postgres_url: str | None, echo: Echo
) -> dict[str, Any]:
    from sqlalchemy import text

    from carnet.storage.pgcluster import TemporaryPostgres

    _header(echo, f"PostgreSQL — dépôts, puis magasin de {_n(documents)} documents")

    def size(engine: Engine) -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT pg_total_relation_size('documents') + pg_total_relation_size('document_search')")
                ).scalar_one()
            )

    folder = Path(tempfile.mkdtemp(prefix="carnet-bench-record-"))
    common: dict[str, Any] = dict(
        folder=folder,
        documents=documents,
        patient_documents=patient_documents,
        deposits=deposits,
        queries=queries,
        echo=echo,
        size=size,
    )
    try:
        if postgres_url:
            echo("Base fournie par --postgres-url (sans patient ni document ; ce que le banc écrit est supprimé)")
            return _bench_backend("PostgreSQL", postgres_url, external=True, **common)
        cluster = TemporaryPostgres()
        echo(f"Cluster jetable (initdb + pg_ctl, 127.0.0.1:{cluster.port}, fsync=off, réglages par défaut sinon)")
        cluster.start()
        try:
            return _bench_backend("PostgreSQL", cluster.url, external=False, **common)
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- entry point ----------------------------------------------------------------------------------------------


def _growth_table(echo: Echo, label: str, stages: list[dict[str, Any]]) -> None:
    echo(f"{label} :")
    head = ("documents", "patients", "taille", "chargement", "liste p50", "liste p95", "recherche p50", "recherche p95")
    rows = [
        (
            _n(s["documents"]),
            _n(s["patients"]),
            f"{_n(s['size_bytes'] / 2**20)} Mio",
            f"{_n(s['rows_per_s'])} /s",
            f"{s['list']['p50_ms']:.2f} ms",
            f"{s['list']['p95_ms']:.2f} ms",
            f"{s['search']['p50_ms']:.2f} ms",
            f"{s['search']['p95_ms']:.2f} ms",
        )
        for s in stages
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    echo("  " + "  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        echo("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def run(
    *,
    documents: int,
    patient_documents: int,
    deposits: int,
    queries: int,
    backend: str,
    postgres_url: str | None,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    """Run the measurements, print them through ``echo`` and return them (see the module docstring)."""
    if backend not in BACKENDS:
        raise ValidationError(f"backend inconnu « {backend} » : sqlite, postgresql ou both attendu", field="backend")
    if patient_documents < 1:
        raise ValidationError(
            f"--patient-documents : au moins 1 attendu, {patient_documents} reçu", field="patient_documents"
        )
    if documents < patient_documents:
        raise ValidationError(
            f"--documents : au moins --patient-documents ({patient_documents}) attendu, {documents} reçu",
            field="documents",
        )
    if deposits < 1:
        raise ValidationError(f"--deposits : au moins 1 attendu, {deposits} reçu", field="deposits")
    if queries < 1:
        raise ValidationError(f"--queries : au moins 1 attendu, {queries} reçu", field="queries")

    started = time.perf_counter()
    machine = {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
    echo(f"carnet bench record — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    echo(f"Machine : {machine['cpu']}, {machine['cpus']} cœurs, Python {machine['python']}, {machine['system']}")
    echo(
        f"Paramètres : --documents {documents} --patient-documents {patient_documents} --deposits {deposits} "
        f"--queries {queries} --backend {backend}"
    )
    results: dict[str, Any] = {
        "machine": machine,
        "parameters": {
            "documents": documents,
            "patient_documents": patient_documents,
            "deposits": deposits,
            "queries": queries,
            "backend": backend,
        },
    }
    results["generator"] = check_generator(echo)
    per_backend: dict[str, Any] = {}
    if backend in ("sqlite", "both"):
        per_backend["sqlite"] = bench_sqlite(documents, patient_documents, deposits, queries, echo)
    if backend in ("postgresql", "both"):
        per_backend["postgresql"] = bench_postgresql(
            documents, patient_documents, deposits, queries, postgres_url, echo
        )
    results["backends"] = per_backend

    checks = []
    for key, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        if key not in per_backend:
            continue
        r = per_backend[key]
        final = r["final"]
        for which, title in (("deposits_empty", "magasin vide"), ("deposits_full", "magasin plein")):
            rate = r[which]["per_s"]
            checks.append(
                {
                    "measure": f"dépôts, {label}, {title}",
                    "target": f"≥ {TARGET_DEPOSITS_PER_S:.0f} /s",
                    "measured": f"{_n(rate)} /s (p95 {r[which]['p95_ms']:.1f} ms)",
                    "passed": rate >= TARGET_DEPOSITS_PER_S,
                }
            )
        for which, title, target in (
            ("list", "liste", TARGET_LIST_P95_MS),
            ("search", "recherche", TARGET_SEARCH_P95_MS),
        ):
            m = final[which]
            checks.append(
                {
                    "measure": f"{title} p95, {label}, {_n(final['documents'])} documents",
                    "target": f"≤ {target:g} ms",
                    "measured": f"{m['p95_ms']:.2f} ms (p50 {m['p50_ms']:.2f}, p99 {m['p99_ms']:.2f})",
                    "passed": m["p95_ms"] <= target,
                }
            )
    results["checks"] = checks
    results["passed"] = all(c["passed"] for c in checks)
    results["duration_s"] = time.perf_counter() - started

    if any(len(r["stages"]) > 1 for r in per_backend.values()):
        _header(echo, "Croissance : latence selon la taille du magasin (patient mesuré : "
                f"{_n(patient_documents)} documents)")  # fmt: skip
        for key, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
            if key in per_backend:
                _growth_table(echo, label, per_backend[key]["stages"])

    _header(echo, "Résumé")
    widths = [max(len(str(c[k])) for c in checks) for k in ("measure", "target", "measured")]
    head = ("mesure", "cible", "mesuré")
    echo("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + "  résultat")
    echo("  ".join("-" * w for w in widths) + "  --------")
    for c in checks:
        echo(
            "  ".join(str(c[k]).ljust(w) for k, w in zip(("measure", "target", "measured"), widths, strict=True))
            + f"  {'PASS' if c['passed'] else 'MISS'}"
        )
    verdict = "toutes les cibles atteintes" if results["passed"] else "cible(s) manquée(s)"
    echo(f"Durée totale : {results['duration_s']:.0f} s — {verdict}")
    return results
