"""Text in drawn diagrams: escaping, Arial advance widths, wrapping labels between words.

Labels are measured and wrapped on the server so lines break close to where the browser
would; a label whose longest word does not fit is set smaller instead of cut mid-word.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

INK = "#22242a"
PAPER = "#ffffff"
FONT = "Arial, sans-serif"
EMBEDDED_FONT = 12.0
EXTERNAL_FONT = 11.0
LINE_HEIGHT = 1.2
EXTERNAL_LABEL_WIDTH = 90.0


def _n(value: float) -> str:
    """Compact number formatting: SVG size matters when a page shows many diagrams."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SAFE_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\([0-9.,%\s]{5,40}\))$")

# Arial advance widths (1/1000 em) for printable ASCII 32..126; labels are wrapped with
# these so the lines break close to where the browser would.
_ASCII_WIDTHS = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
)  # fmt: skip


def _esc(text: str) -> str:
    """Escape for both text and attribute values; drop characters XML 1.0 forbids."""
    text = _INVALID_XML_CHARS.sub("", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _char_width(char: str) -> float:
    code = ord(char)
    if 32 <= code <= 126:
        return _ASCII_WIDTHS[code - 32] / 1000
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 1.0
    if unicodedata.combining(char):
        return 0.0
    if 0x400 <= code <= 0x4FF:  # Cyrillic: capitals are wide, lower case close to Latin
        return 0.68 if char.isupper() else 0.56
    return 0.6


def _text_width(text: str, size: float) -> float:
    return sum(_char_width(c) for c in text) * size


def _wrap(text: str, max_width: float, size: float) -> list[str]:
    """Break text into lines no wider than max_width, splitting over-long words too."""
    max_width = max(max_width, size)
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if _text_width(candidate, size) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            while _text_width(word, size) > max_width and len(word) > 1:
                cut = 1
                while cut < len(word) and _text_width(word[: cut + 1], size) <= max_width:
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    while lines and not lines[-1]:
        lines.pop()
    return lines


MIN_LABEL_SIZE = 7.0


def _fit_longest_word(text: str, max_width: float, size: float) -> float:
    """A font size at which the label's longest word fits on one line (down to MIN_LABEL_SIZE).

    "Зарегистрировать" in a 100-pixel task reads better a point smaller than broken into
    "Зарегистриров / ать"; only a word too long even at the smallest size is still split.
    """
    widest = max((_text_width(word, size) for word in text.split()), default=0.0)
    if widest <= max_width or widest == 0:
        return size
    return max(size * max_width / widest, MIN_LABEL_SIZE)


@dataclass(frozen=True, slots=True)
class _LabelBox:
    """Where a label goes: a box, an alignment and a font size; `vertical` turns it 90°."""

    x: float
    y: float
    width: float
    height: float
    align: str  # "center-middle" | "center-top" | "left-top"
    size: float
    padding: float = 0.0
    vertical: bool = False
    color: str = INK

    def render(self, text: str) -> str:
        if not text.strip():
            return ""
        size = self.size
        line_height = size * LINE_HEIGHT
        if self.vertical:
            # Laid out horizontally in a box as long as the band, then turned to read bottom-up.
            box_w, box_h = self.height, self.width
        else:
            box_w, box_h = self.width, self.height
        size = _fit_longest_word(text, box_w - 2 * self.padding, size)
        line_height = size * LINE_HEIGHT
        lines = _wrap(text, box_w - 2 * self.padding, size)
        total = len(lines) * line_height
        if self.align == "center-middle":
            top = (box_h - total) / 2
        else:
            top = self.padding
        if self.align == "left-top":
            anchor, tx = "start", self.padding
        else:
            anchor, tx = "middle", box_w / 2
        spans = "".join(
            f'<tspan x="{_n(tx)}" y="{_n(top + i * line_height + size * 0.96)}">{_esc(line)}</tspan>'
            for i, line in enumerate(lines)
        )
        if self.vertical:
            transform = f"translate({_n(self.x)} {_n(self.y + self.height)}) rotate(-90)"
        else:
            transform = f"translate({_n(self.x)} {_n(self.y)})"
        return (
            f'<text class="bpmn-text" transform="{transform}" font-size="{_n(size)}" fill="{self.color}" '
            f'text-anchor="{anchor}">{spans}</text>'
        )
