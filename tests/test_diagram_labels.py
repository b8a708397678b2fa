"""Diagram labels wrap between words: a long word shrinks the label a little instead of being cut."""

from __future__ import annotations

import re

from engine.diagram_text import MIN_LABEL_SIZE, _LabelBox


def spans(svg: str) -> list[str]:
    return re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg)


def test_a_long_russian_word_is_not_broken_in_a_task_box():
    box = _LabelBox(x=0, y=0, width=90, height=70, align="center-middle", size=12, padding=4)
    svg = box.render("Перерегистрировать оборудование")
    assert spans(svg) == ["Перерегистрировать", "оборудование"]
    size = float(re.search(r'font-size="([\d.]+)"', svg).group(1))
    assert MIN_LABEL_SIZE <= size < 12


def test_short_words_keep_the_size_and_wrap_between_words():
    box = _LabelBox(x=0, y=0, width=100, height=80, align="center-middle", size=12, padding=4)
    svg = box.render("Назначить исполнителя заявки")
    assert 'font-size="12"' in svg
    assert "".join(spans(svg)).replace(" ", "") == "Назначитьисполнителязаявки"
    assert all(part in ("Назначить", "исполнителя", "заявки") or " " in part for part in spans(svg))
