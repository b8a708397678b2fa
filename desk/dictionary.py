"""The classifier dictionary as admins edit it: rows in the database, the default when empty."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from desk.classify_dictionary import DEFAULT_DICTIONARY
from desk.models import DictionaryEntry


def load_dictionary(session: Session) -> Mapping[str, Mapping[str, float]]:
    """Category -> {keyword: weight}, in the admins' category order (ties go to the first)."""
    rows = session.scalars(
        select(DictionaryEntry).order_by(DictionaryEntry.category_position, DictionaryEntry.id)
    ).all()
    if not rows:
        return DEFAULT_DICTIONARY
    result: dict[str, dict[str, float]] = {}
    for row in rows:
        result.setdefault(row.category, {})[row.keyword] = row.weight
    return result


def save_dictionary(session: Session, dictionary: Mapping[str, Mapping[str, float]]) -> None:
    """Replace the stored dictionary (validated by compiling it first, so a bad one stores nothing)."""
    from desk.classify import compile_dictionary

    compile_dictionary(dictionary)
    session.execute(delete(DictionaryEntry))
    for position, (category, words) in enumerate(dictionary.items()):
        for keyword, weight in words.items():
            session.add(
                DictionaryEntry(
                    category=category, category_position=position, keyword=keyword, weight=float(weight)
                )
            )
