"""Small inline SVG charts (no scripts, no network): a line, grouped bars, horizontal bars."""

from __future__ import annotations

from html import escape

HUMAN = "#2563eb"
SYNTHETIC = "#ea580c"
GRID = "#d0d5dd"
TEXT = "#344054"
FONT = 'font-family="system-ui,sans-serif" font-size="11"'


def _svg(width: int, height: int, title: str, body: str) -> str:
    """The chart wrapper, with an accessible title."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>{body}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    """A label."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{TEXT}" {FONT} {extra}>'
        f"{escape(text)}</text>"
    )


def legend(x: float, y: float, names: list[tuple[str, str]]) -> str:
    """Colour swatches with names, left to right."""
    parts = []
    for name, colour in names:
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(x + 14, y, name))
        x += 24 + 7 * len(name)
    return "".join(parts)


def line_chart(
    points: list[tuple[str, float | None]], title: str, width: int = 640, height: int = 220
) -> str:
    """Values in [0, 1] over labelled steps (missing values leave a gap)."""
    left, right, top, bottom = 40, 16, 16, 48
    inner_w, inner_h = width - left - right, height - top - bottom
    step = inner_w / max(1, len(points) - 1)
    parts = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + inner_h * (1 - tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{tick:.2f}", "end"))
    coords = []
    for index, (label, value) in enumerate(points):
        x = left + index * step if len(points) > 1 else left + inner_w / 2
        parts.append(_text(x, height - bottom + 16, label, "middle"))
        if value is None:
            continue
        y = top + inner_h * (1 - min(1.0, max(0.0, value)))
        coords.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{HUMAN}"/>')
        parts.append(_text(x, y - 8, f"{value:.3f}", "middle"))
    if len(coords) > 1:
        parts.insert(
            0,
            f'<polyline fill="none" stroke="{HUMAN}" stroke-width="2" '
            f'points="{" ".join(coords)}"/>',
        )
    return _svg(width, height, title, "".join(parts))


def grouped_bars(
    labels: list[str],
    human: list[float],
    synthetic: list[float],
    title: str,
    width: int = 640,
    height: int = 240,
    every: int = 1,
) -> str:
    """Human and synthetic shares side by side per label (every `every`-th label written)."""
    left, right, top, bottom = 44, 12, 24, 64
    inner_w, inner_h = width - left - right, height - top - bottom
    peak = max([*human, *synthetic, 1e-9])
    slot = inner_w / max(1, len(labels))
    bar = max(1.0, slot * 0.4)
    parts = [legend(left, 12, [("human", HUMAN), ("synthetic", SYNTHETIC)])]
    for tick in (0.0, 0.5, 1.0):
        y = top + inner_h * (1 - tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{peak * tick:.2f}", "end"))
    for index, label in enumerate(labels):
        x = left + index * slot + slot * 0.1
        for offset, (value, colour) in enumerate(
            ((human[index], HUMAN), (synthetic[index], SYNTHETIC))
        ):
            h = inner_h * value / peak
            parts.append(
                f'<rect x="{x + offset * bar:.1f}" y="{top + inner_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)}: {value:.3f}</title></rect>"
            )
        if index % every == 0:
            cx, cy = x + bar, top + inner_h + 10
            short = label if len(label) <= 16 else label[:15] + "…"
            parts.append(_text(cx, cy, short, "end", f'transform="rotate(-35 {cx:.1f} {cy:.1f})"'))
    return _svg(width, height, title, "".join(parts))


def horizontal_bars(
    labels: list[str],
    values: list[float],
    title: str,
    threshold: float | None = None,
    width: int = 640,
) -> str:
    """One bar per label (e.g. a slice's accuracy drop), with an optional threshold line."""
    left, right, top, row = 260, 60, 8, 20
    height = top * 2 + row * len(labels) + 16
    inner_w = width - left - right
    peak = max([*values, threshold or 0.0, 1e-9])
    parts = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + index * row
        w = inner_w * max(0.0, value) / peak
        short = label if len(label) <= 40 else label[:39] + "…"
        parts.append(_text(left - 6, y + 13, short, "end"))
        parts.append(
            f'<rect x="{left}" y="{y + 3:.1f}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{SYNTHETIC}"><title>{escape(label)}: {value:.3f}</title></rect>'
        )
        parts.append(_text(left + w + 4, y + 13, f"{value:.3f}"))
    if threshold is not None:
        x = left + inner_w * threshold / peak
        bottom = top + row * len(labels)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="{TEXT}" '
            'stroke-dasharray="4 3"/>'
        )
        parts.append(_text(x, bottom + 12, f"warn threshold {threshold:.3g}", "middle"))
    return _svg(width, height, title, "".join(parts))
