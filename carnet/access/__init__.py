"""Access control: the matrice d'habilitation, care team, consent, oppositions, grants, emergency access.

The decision is pure (:func:`carnet.access.decide.decide`); its facts and answer are in
:mod:`carnet.access.model`, the matrix in :mod:`carnet.access.matrix` (data:
``carnet/access/data/matrice_habilitation.csv``, explained in ``docs/access-matrix.md``).
"""

from carnet.access.decide import REASONS, decide
from carnet.access.matrix import Matrix, MatrixRow, default_matrix
from carnet.access.model import (
    Action,
    Actor,
    ActorKind,
    AuthMethod,
    CareTeamMember,
    Consent,
    Context,
    Decision,
    DocumentFacts,
    Grant,
    Mode,
    PatientFacts,
    Reason,
    SpaceStatus,
)

__all__ = [
    "REASONS",
    "Action",
    "Actor",
    "ActorKind",
    "AuthMethod",
    "CareTeamMember",
    "Consent",
    "Context",
    "Decision",
    "DocumentFacts",
    "Grant",
    "Matrix",
    "MatrixRow",
    "Mode",
    "PatientFacts",
    "Reason",
    "SpaceStatus",
    "decide",
    "default_matrix",
]
