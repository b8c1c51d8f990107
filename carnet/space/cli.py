"""``carnet space``: the holder's health space at the platform host (lifecycle, export, agenda, reimbursements).

Registered by the main command as ``app.add_typer(space_app, name="space")``. Each part of the space adds its
commands in its own module ``carnet/space/cli_<part>.py``, which decorates :data:`space_app` (or adds a sub-app
to it); the modules are imported at the end of this file, one line each.
"""

from __future__ import annotations

import typer

space_app = typer.Typer(help="Espace santé des titulaires : ouverture, fermeture, majorité, export.",
                        no_args_is_help=True)  # fmt: skip

# The parts' commands (each module registers on ``space_app`` when imported).
from carnet.space import cli_agenda as _cli_agenda  # noqa: E402, F401
from carnet.space import cli_export as _cli_export  # noqa: E402, F401
from carnet.space import cli_lifecycle as _cli_lifecycle  # noqa: E402, F401
