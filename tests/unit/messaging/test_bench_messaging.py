"""``carnet bench messaging --quick`` runs end to end with tiny numbers: the real SMTP gateway on loopback, the
share calls, the checks, and the summary with PASS/MISS (the figures themselves are for docs/benchmarks.md)."""

from __future__ import annotations

from typer.testing import CliRunner

from carnet.cli import app


def test_the_messaging_bench_runs_with_tiny_numbers() -> None:
    result = CliRunner().invoke(app, ["bench", "messaging", "--quick", "--messages", "6", "--shares", "3"])
    assert result.exit_code == 0, result.output
    assert "Vérifié : 40 messages en boîte" in result.output  # --quick wins over the other numbers
    assert "Vérifié : 10 partages journalisés, trois devoirs faits chacun, 20 messages envoyés" in result.output
    summary = result.output.split("== Résumé", 1)[1]
    assert "passerelle SMTP, SQLite" in summary and "share de bout en bout, SQLite" in summary
    assert summary.count("PASS") + summary.count("MISS") == 2


def test_bad_numbers_are_refused_with_the_reason() -> None:
    result = CliRunner().invoke(app, ["bench", "messaging", "--clients", "0", "--backend", "sqlite"])
    assert result.exit_code == 1 and "--clients : au moins 1 attendu" in result.output
