"""Weighted keyword classification of a request into a category.

Score = sum over keywords of weight × occurrences (subject occurrences count twice),
keywords and text both reduced to normal forms so inflected forms match; a phrase
matches consecutive normal forms. The highest positive score wins, ties go to the
category listed first, and no positive score means unclassified (manual triage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from desk.errors import DeskError
from desk.text import normalize_words, split_reply


class InvalidDictionaryError(DeskError, ValueError):
    """The classification dictionary has a bad category, keyword or weight."""


@dataclass(frozen=True)
class Classification:
    category: str | None
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    matched: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledDictionary:
    """Keywords in normal form: single words in a dict, phrases as tuples, categories in order."""

    categories: tuple[str, ...]
    words: dict[str, tuple[tuple[str, str, float], ...]]  # normal word -> (category, keyword, weight)
    phrases: tuple[tuple[tuple[str, ...], str, str, float], ...]


def compile_dictionary(dictionary: Mapping[str, Mapping[str, float]]) -> CompiledDictionary:
    if isinstance(dictionary, CompiledDictionary):
        return dictionary
    if not isinstance(dictionary, Mapping):
        raise InvalidDictionaryError("The dictionary must map category -> {keyword: weight}.")
    words: dict[str, list[tuple[str, str, float]]] = {}
    phrases = []
    for category, keywords in dictionary.items():
        if not isinstance(category, str) or not category.strip():
            raise InvalidDictionaryError(f"Category name {category!r} is empty or not text.")
        if not isinstance(keywords, Mapping):
            raise InvalidDictionaryError(f"Category {category!r}: keywords must map keyword -> weight.")
        for keyword, weight in keywords.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise InvalidDictionaryError(
                    f"Category {category!r}, keyword {keyword!r}: weight {weight!r} is not a number."
                )
            normal = tuple(normalize_words(str(keyword)))
            if not normal:
                raise InvalidDictionaryError(f"Category {category!r}: keyword {keyword!r} has no words.")
            if len(normal) == 1:
                words.setdefault(normal[0], []).append((category, str(keyword), float(weight)))
            else:
                phrases.append((normal, category, str(keyword), float(weight)))
    return CompiledDictionary(tuple(dictionary), {k: tuple(v) for k, v in words.items()}, tuple(phrases))


@lru_cache(maxsize=8)
def _default() -> CompiledDictionary:
    from desk.classify_dictionary import DEFAULT_DICTIONARY

    return compile_dictionary(DEFAULT_DICTIONARY)


_compiled_cache: dict[int, tuple[Mapping, CompiledDictionary]] = {}


def _compiled(dictionary) -> CompiledDictionary:
    if dictionary is None:
        return _default()
    if isinstance(dictionary, CompiledDictionary):
        return dictionary
    cached = _compiled_cache.get(id(dictionary))
    if cached is not None and cached[0] is dictionary:
        return cached[1]
    compiled = compile_dictionary(dictionary)
    _compiled_cache[id(dictionary)] = (dictionary, compiled)
    return compiled


def classify(subject: str, body: str, dictionary=None) -> Classification:
    compiled = _compiled(dictionary)
    fresh, _quoted = split_reply(body or "")
    scores = {c: 0.0 for c in compiled.categories}
    matched: dict[str, dict[str, int]] = {c: {} for c in compiled.categories}
    for text, factor in ((subject or "", 2.0), (fresh, 1.0)):
        tokens = normalize_words(text)
        for token in tokens:
            for category, keyword, weight in compiled.words.get(token, ()):
                scores[category] += weight * factor
                matched[category][keyword] = matched[category].get(keyword, 0) + 1
        for phrase, category, keyword, weight in compiled.phrases:
            n = len(phrase)
            hits = sum(1 for i in range(len(tokens) - n + 1) if tuple(tokens[i : i + n]) == phrase)
            if hits:
                scores[category] += weight * factor * hits
                matched[category][keyword] = matched[category].get(keyword, 0) + hits
    best, best_score = None, 0.0
    for category in compiled.categories:
        if scores[category] > best_score:
            best, best_score = category, scores[category]
    return Classification(best, best_score, scores, matched[best] if best else {})
