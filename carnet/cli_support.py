"""What every ``carnet`` command shares: a clear error and exit code instead of a traceback, the settings, the
platform opened for the command (and closed after it).

The sub-commands' modules (``carnet space``, ``carnet catalogue``, ``carnet sharing``…) import it; ``carnet.cli``
imports them, so this lives apart from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import pydantic
import typer

from carnet.errors import CarnetError

if TYPE_CHECKING:
    from carnet.bootstrap import Platform


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``Erreur : message`` on stderr and exit with ``code``."""
    typer.echo(f"Erreur : {message}", err=True)
    raise typer.Exit(code)


def settings() -> Any:
    """The effective settings; invalid ones are listed field by field (exit code 2)."""
    from carnet.settings import Settings

    try:
        return Settings()
    except pydantic.ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()]
        fail("configuration invalide — " + "; ".join(lines), code=2)


@contextmanager
def errors() -> Iterator[None]:
    """Domain errors become a clear message (with the field at fault) and exit code 1, never a traceback."""
    try:
        yield
    except CarnetError as exc:
        where = f" [{exc.field}]" if exc.field else ""
        fail(f"{exc.message}{where}")


@contextmanager
def platform(*, migrate: bool = True, start_code: int = 1) -> Iterator[Platform]:
    """The configured platform for one command (a failure to start exits with ``start_code``); domain errors of
    the command become a clear message; the platform is closed after it."""
    from carnet.bootstrap import bootstrap

    try:
        opened = bootstrap(settings(), migrate=migrate)
    except CarnetError as exc:
        fail(exc.message, code=start_code)
    try:
        with errors():
            yield opened
    finally:
        opened.close()
