"""Bar charts drawn on the server as SVG: no script, nothing fetched, readable when printed.

Each chart has a y-axis with round ticks and gridlines, axis titles, and labels on the
x-axis. A chart is drawn at its natural size with 15 px text; on a narrow screen its box
scrolls sideways instead of shrinking it, so no chart text is ever under 11 px.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

FONT = 15


def ticks(peak: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``peak``: 0, 5, 10, 15, 20 rather than 0 and 17."""
    if peak <= 0:
        return [0.0, 1.0]
    raw = peak / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if step < 1 and peak >= 1:
        step = 1.0
    return [i * step for i in range(math.ceil(peak / step - 1e-9) + 1)]


def bar_chart(labels: Sequence[str], series: Sequence[Sequence[float]], *, title: str,
              names: Sequence[str] = (), x_title: str = "", y_title: str = "") -> Markup:
    """Bars per label, one colour per series (drawn side by side), over a labelled grid."""
    slot = max(28.0, 14.0 * max(len(series), 1) + 8)
    left, right, top = 64, 12, 14
    bottom = 44 + (24 if x_title else 0) + 24 * len(names)
    slot = max(slot, 300 / max(len(labels), 1))  # a chart of two bars is still a readable size
    plot_w = max(len(labels), 1) * slot
    plot_h = 180
    width, height = left + plot_w + right, top + plot_h + bottom
    steps = ticks(max((v for s in series for v in s), default=0))
    peak = steps[-1] or 1
    bar_w = slot * 0.8 / max(len(series), 1)
    longest = max((len(str(label)) for label in labels), default=1)
    every = max(1, math.ceil(longest * FONT * 0.6 / slot))  # labels never overlap
    base = top + plot_h
    # Drawn at its natural size (1 unit = 1 px, so text is 15 px); a narrow screen scrolls its box.
    parts = [f'<svg class="bars" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
             f'role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for value in steps:
        y = base - plot_h * value / peak
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{left - 6}" y="{y + 5:.1f}" text-anchor="end">{value:g}</text>')
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, s in enumerate(series):
            h = plot_h * s[i] / peak
            cls = "bar alt" if j else "bar"
            parts.append(f'<rect class="{cls}" x="{x0 + j * bar_w:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" '
                         f'height="{h:.1f}"><title>{escape(str(label))}: {s[i]:g}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{left + (i + 0.5) * slot:.1f}" y="{base + 20}" '
                         f'text-anchor="middle">{escape(str(label))}</text>')
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{left + plot_w:.1f}" y2="{base}"/>'
                 f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>')
    if y_title:
        parts.append(f'<text class="axis-title" transform="translate(16 {top + plot_h / 2:.0f}) rotate(-90)" '
                     f'text-anchor="middle">{escape(y_title)}</text>')
    if x_title:
        parts.append(f'<text class="axis-title" x="{left + plot_w / 2:.0f}" y="{base + 44}" '
                     f'text-anchor="middle">{escape(x_title)}</text>')
    for j, name in enumerate(names):
        cls = "bar alt" if j else "bar"
        y = height - 24 * (len(names) - j)  # one line each: period names are long
        parts.append(f'<rect class="{cls}" x="{left}" y="{y + 6}" width="14" height="14"/>'
                     f'<text x="{left + 20}" y="{y + 18}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
