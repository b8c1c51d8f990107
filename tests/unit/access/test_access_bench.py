"""The access benchmark runs and reports its figures (the real run is ``carnet bench access``)."""

from __future__ import annotations

from carnet.access.bench import TARGET_DECISIONS_PER_S, run


def test_the_benchmark_reports_decisions_per_second() -> None:
    lines: list[str] = []
    result = run(decisions=30_000, echo=lines.append)
    assert result["decisions"] == 30_000
    assert result["decisions_per_s"] > 0
    assert result["target_decisions_per_s"] == TARGET_DECISIONS_PER_S == 200_000
    assert 0.2 < result["allowed_share"] < 0.9, "the cases mix allowed and denied decisions"
    assert any("décisions/s" in line for line in lines)
