"""The classifier dictionary as admins edit it: rows in the database, the default when empty."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from desk.classify import CompiledDictionary, compile_dictionary
from desk.classify_dictionary import DEFAULT_DICTIONARY
from desk.models import DictionaryEntry
from desk.session_reads import core_rows, per_process, per_transaction

_Rows = tuple[tuple[str, str, float], ...]


def _rows(session: Session) -> _Rows:
    """(category, keyword, weight) in the admins' category order: plain tuples, as a few hundred
    ORM objects per classified request cost more than classifying it. Once per transaction."""
    return per_transaction(session, "dictionary.rows", (DictionaryEntry,), lambda: _read_rows(session))


_ROWS = select(DictionaryEntry.category, DictionaryEntry.keyword, DictionaryEntry.weight).order_by(
    DictionaryEntry.category_position, DictionaryEntry.id
)


def _read_rows(session: Session) -> _Rows:
    return tuple(tuple(row) for row in core_rows(session, _ROWS))


def _as_mapping(rows: _Rows) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for category, keyword, weight in rows:
        result.setdefault(category, {})[keyword] = weight
    return result


def load_dictionary(session: Session) -> Mapping[str, Mapping[str, float]]:
    """Category -> {keyword: weight}, in the admins' category order (ties go to the first)."""
    rows = _rows(session)
    return _as_mapping(rows) if rows else DEFAULT_DICTIONARY


def current_dictionary(session: Session) -> CompiledDictionary:
    """The stored dictionary compiled for classify(), kept while the table's read token stays.

    Reading a few hundred rows for every classified request cost more than classifying it;
    an admin's edit (in any process) changes the token, so it counts from the next request on.
    Compiling is cached by the rows' content as well, so an edit that changes nothing (or
    changes back) compiles nothing; never by time.
    """
    return per_process(session, "dictionary.compiled", (DictionaryEntry,), lambda: _compiled(_rows(session)))


@lru_cache(maxsize=8)
def _compiled(rows: _Rows) -> CompiledDictionary:
    return compile_dictionary(_as_mapping(rows) if rows else DEFAULT_DICTIONARY)


def save_dictionary(session: Session, dictionary: Mapping[str, Mapping[str, float]]) -> None:
    """Replace the stored dictionary (validated by compiling it first, so a bad one stores nothing)."""
    compile_dictionary(dictionary)
    session.execute(delete(DictionaryEntry))
    for position, (category, words) in enumerate(dictionary.items()):
        for keyword, weight in words.items():
            session.add(
                DictionaryEntry(
                    category=category, category_position=position, keyword=keyword, weight=float(weight)
                )
            )
