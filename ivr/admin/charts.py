"""Bar charts drawn on the server as SVG: no script, nothing fetched, readable when printed."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup


def bar_chart(labels: Sequence[str], series: Sequence[Sequence[float]], *, title: str,
              names: Sequence[str] = (), width: int = 900, height: int = 240) -> Markup:
    """Bars per label, one colour per series (drawn side by side), with a y-axis maximum label."""
    left, bottom, top = 40, 46, 16
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max((v for s in series for v in s), default=0) or 1
    slot = plot_w / max(len(labels), 1)
    bar_w = min(max(slot * 0.8 / max(len(series), 1), 1), 60)
    every = max(1, -(-len(labels) // 10))  # at most ten axis labels, so they never overlap
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="0" y="{top + 4}">{peak:g}</text><text x="0" y="{top + plot_h}">0</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#8894a0"/>']
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, s in enumerate(series):
            value = s[i]
            h = plot_h * value / peak
            cls = "bar alt" if j else "bar"
            parts.append(f'<rect class="{cls}" x="{x0 + j * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(str(label))}: {value:g}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x0:.1f}" y="{top + plot_h + 16}">{escape(str(label))}</text>')
    for j, name in enumerate(names):
        cls = "bar alt" if j else "bar"
        x = left + j * 160
        parts.append(f'<rect class="{cls}" x="{x}" y="{height - 16}" width="12" height="12"/>'
                     f'<text x="{x + 18}" y="{height - 6}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
