"""A server-rendered SVG chart of one kind of measure over time (no script): a line per series (blood pressure has
two: systolic, solid; diastolic, dashed, so that they differ by more than their colour), a dot per measure, the
axes' extreme values and dates as text. The SVG is ``role="img"`` with a title and a description that say the
values in words; the page puts the same values in a table next to it (the accessible alternative).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from carnet.space.profile import MeasureView
from carnet.space.profile_model import VitalKind
from carnet.web.templating import _date

WIDTH, HEIGHT = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 48
COLOURS = ("#000091", "#b34000")  # the portal's blue, a dark orange: both at least 4.5:1 on white
DASHES = ("", "6 4")


def _number(value: float, decimals: int, lang: str) -> str:
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "fr" else text


def series(kind: VitalKind, measures: Sequence[MeasureView]) -> list[tuple[VitalKind, list[tuple[dt.datetime, float]]]]:
    """The points of each series of the chart (one per component of a panel), in the kind's canonical unit."""
    parts = kind.components or (kind,)
    return [
        (part, [(m.effective_at, m.canonical(part.key)) for m in measures if part.key in m.values]) for part in parts
    ]


def svg_chart(kind: VitalKind, measures: Sequence[MeasureView], lang: str = "fr", *, chart_id: str = "") -> str:
    """The chart of ``measures`` (all of ``kind``, oldest first); empty text when there is nothing to draw."""
    drawn = series(kind, measures)
    points = [p for _, values in drawn for p in values]
    if not points:
        return ""
    ident = html.escape(chart_id or f"graphique-{kind.key}")
    times = [t.timestamp() for t, _ in points]
    values = [v for _, v in points]
    t0, t1 = min(times), max(times)
    low, high = min(values), max(values)
    pad = max((high - low) * 0.15, abs(high) * 0.02, 1.0 if kind.decimals == 0 else 0.1)
    low, high = low - pad, high + pad
    span_t = (t1 - t0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: dt.datetime) -> float:
        return LEFT + (plot_w / 2 if t1 == t0 else (moment.timestamp() - t0) / span_t * plot_w)

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * plot_h

    label = kind.label(lang)
    unit = kind.unit
    title = f"{label} ({unit}) : évolution" if lang == "fr" else f"{label} ({unit}) over time"
    words = []
    for part, values_of in drawn:
        if not values_of:
            continue
        first, last = values_of[0], values_of[-1]
        name = part.label(lang)
        if lang == "fr":
            words.append(
                f"{name} : {len(values_of)} mesure(s), de {_number(first[1], kind.decimals, lang)} le "
                f"{_date(first[0], lang)} à {_number(last[1], kind.decimals, lang)} le {_date(last[0], lang)}"
            )
        else:
            words.append(
                f"{name}: {len(values_of)} measure(s), from {_number(first[1], kind.decimals, lang)} on "
                f"{_date(first[0], lang)} to {_number(last[1], kind.decimals, lang)} on "
                f"{_date(last[0], lang)}"
            )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="{ident}-titre {ident}-desc" class="chart" font-family="sans-serif" font-size="14">',
        f'<title id="{ident}-titre">{html.escape(title)}</title>',
        f'<desc id="{ident}-desc">{html.escape("; ".join(words))}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#666666"/>',
    ]
    for value in (high - pad, low + pad):
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#dddddd"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#161616">'
            f"{html.escape(_number(value, kind.decimals, lang))}</text>"
        )
    out.append(
        f'<text x="{LEFT - 6}" y="{TOP + plot_h + 4}" text-anchor="end" fill="#3a3a3a">{html.escape(unit)}</text>'
    )
    first_day = min(points)[0]
    last_day = max(points)[0]
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 30}" fill="#161616">{_date(first_day, lang)}</text>')
    if last_day != first_day:
        out.append(
            f'<text x="{LEFT + plot_w}" y="{HEIGHT - 30}" text-anchor="end" fill="#161616">'
            f"{_date(last_day, lang)}</text>"
        )
    legend_x = LEFT
    for index, (part, values_of) in enumerate(drawn):
        colour, dash = COLOURS[index % 2], DASHES[index % 2]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        if len(values_of) > 1:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in values_of)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dashes}/>')
        for t, v in values_of:
            out.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}"/>')
        if len(drawn) > 1:
            out.append(
                f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{HEIGHT - 12}" y2="{HEIGHT - 12}" '
                f'stroke="{colour}" stroke-width="2"{dashes}/>'
            )
            out.append(
                f'<text x="{legend_x + 30}" y="{HEIGHT - 7}" fill="#161616">{html.escape(part.label(lang))}</text>'
            )
            legend_x += 190
    out.append("</svg>")
    return "".join(out)
