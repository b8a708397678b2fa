"""What is painted over a drawn diagram: state colours, waiting counts, failed badges and the
heat map of where instances wait (engine/diagram.py's _Model.render places them).
"""

from __future__ import annotations

import re

from engine.diagram_shapes import _circle
from engine.diagram_text import FONT, PAPER, _esc, _n, _text_width

_STYLE = (
    "<style>"
    ".bpmn-diagram .bpmn-text{font-family:" + FONT + "}"
    ".bpmn-diagram .bpmn-state-completed .bpmn-body{stroke:#2f8f46;fill:#e7f5ea}"
    ".bpmn-diagram .bpmn-edge.bpmn-state-completed .bpmn-body{fill:none}"
    ".bpmn-diagram .bpmn-state-completed .bpmn-arrow{stroke:#2f8f46}"
    ".bpmn-diagram .bpmn-state-completed .bpmn-arrow-solid{fill:#2f8f46}"
    ".bpmn-diagram .bpmn-state-active .bpmn-body{stroke:#1f6fd1;fill:#e6f0fc;stroke-width:4px}"
    ".bpmn-diagram .bpmn-edge.bpmn-state-active .bpmn-body{fill:none;stroke-width:3px}"
    ".bpmn-diagram .bpmn-state-active .bpmn-arrow{stroke:#1f6fd1}"
    ".bpmn-diagram .bpmn-state-active .bpmn-arrow-solid{fill:#1f6fd1}"
    ".bpmn-diagram .bpmn-state-failed .bpmn-body{stroke:#d0021b;fill:#fdeaea}"
    ".bpmn-diagram .bpmn-edge.bpmn-state-failed .bpmn-body{fill:none}"
    ".bpmn-diagram .bpmn-state-failed .bpmn-arrow{stroke:#d0021b}"
    ".bpmn-diagram .bpmn-state-failed .bpmn-arrow-solid{fill:#d0021b}"
    ".bpmn-diagram .bpmn-overlay text{font-family:" + FONT + ";font-weight:bold}"
    "</style>"
)


def _human(bpmn_type: str) -> str:
    """'userTask' -> 'User task', for titles of unnamed elements."""
    words = re.sub(r"(?<!^)([A-Z])", r" \1", bpmn_type).lower()
    return words[:1].upper() + words[1:] if words else "Element"


def _heat_colour(intensity: float) -> str:
    """Yellow (little waiting) to red (most waiting), as a hex colour."""
    green = round(214 - 180 * intensity)
    return f"#{230:02x}{max(green, 0):02x}{40:02x}"


def _heat_overlay(
    element_id: str, intensity: float, caption: str, bbox: tuple[float, float, float, float]
) -> str:
    x, y, w, h = bbox
    opacity = 0.12 + 0.3 * intensity
    colour = _heat_colour(intensity)
    width = max(36.0, _text_width(caption, 11) * 1.1 + 10)
    left, top = x + (w - width) / 2, y + h + 3
    return (
        f'<g class="bpmn-overlay bpmn-heat" data-overlay-for="{_esc(element_id)}" '
        f'data-heat="{intensity:.2f}"><title>{_esc(caption)}</title>'
        f'<rect x="{_n(x - 4)}" y="{_n(y - 4)}" width="{_n(w + 8)}" height="{_n(h + 8)}" rx="12" ry="12" '
        f'fill="{colour}" fill-opacity="{opacity:.2f}" stroke="none" pointer-events="none"/>'
        f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(width)}" height="16" rx="8" ry="8" fill="{colour}"/>'
        f'<text x="{_n(left + width / 2)}" y="{_n(top + 12)}" font-size="11" text-anchor="middle" '
        f'fill="#1f2933">{_esc(caption)}</text></g>'
    )


def _count_badge(element_id: str, count: int, bbox: tuple[float, float, float, float]) -> str:
    x, y, _w, h = bbox
    text = str(count)
    width = max(20.0, _text_width(text, 11) * 1.1 + 12)
    left, top = x - 8, y + h - 10
    return (
        f'<g class="bpmn-overlay bpmn-count" data-overlay-for="{_esc(element_id)}">'
        f"<title>{count}</title>"
        f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(width)}" height="18" rx="9" ry="9" '
        f'fill="#1f6fd1" stroke="{PAPER}" stroke-width="1.5"/>'
        f'<text x="{_n(left + width / 2)}" y="{_n(top + 13)}" font-size="11" text-anchor="middle" '
        f'fill="{PAPER}">{text}</text></g>'
    )


def _failed_badge(element_id: str, bbox: tuple[float, float, float, float]) -> str:
    x, y, w, _h = bbox
    cx, cy = x + w, y
    return (
        f'<g class="bpmn-overlay bpmn-badge-failed" data-overlay-for="{_esc(element_id)}">'
        f"<title>failed</title>"
        + _circle(cx, cy, 9, f'fill="#d0021b" stroke="{PAPER}" stroke-width="1.5"')
        + f'<text x="{_n(cx)}" y="{_n(cy + 4.5)}" font-size="13" text-anchor="middle" '
        f'fill="{PAPER}">!</text></g>'
    )
