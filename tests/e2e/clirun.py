"""Running the real ``carnet`` entry point in a subprocess with a controlled environment."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return f"carnet {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


class Carnet:
    """Runs the real entry point with a controlled environment."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        self.cwd = cwd
        self.env = dict(env)

    def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "carnet", *args],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )
        return Run(args=args, code=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

    def ok(self, *args: str) -> Run:
        run = self(*args)
        assert run.code == 0, str(run)
        assert run.stderr == "", str(run)
        return run
