"""Weighted keyword classification of a request into a category.

Admins can read and tune a keyword dictionary, and a dispatcher can see why a request
landed where it did (`Classification.matched`), which a statistical model would not
give them. The rules:

* The dictionary maps category -> {keyword or phrase: weight}. Keywords and the text are
  reduced to normal forms (desk.text), so "принтера" matches the keyword "принтер"; a
  keyword of several words matches only those words in a row.
* A category's score is the sum of weight x occurrences; the subject counts twice,
  because users put the gist there. Only the fresh text of the body counts: quoted
  history and signatures (desk.text.split_reply) belong to earlier messages or to the
  sender's contact details.
* Negative weights argue against a category. The highest score wins, a tie goes to the
  category listed first in the dictionary, and a request without a positive score is
  unclassified (category None) and goes to manual triage.

A dictionary is compiled (keywords normalised, indexed by normal form) once per content
and cached, so passing the same dictionary, or an equal one freshly loaded from the
database, on every call stays fast. Loops may also pass a `CompiledDictionary`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

from desk.errors import DeskError
from desk.text import normal_variants, normalize_words, split_reply

__all__ = [
    "Classification",
    "CompiledDictionary",
    "InvalidDictionaryError",
    "NoExamplesError",
    "accuracy",
    "classify",
    "compile_dictionary",
]

SUBJECT_FACTOR = 2.0
# Scores are sums of float weights; compare them at this precision so 0.1 + 0.2 ties with 0.3.
_SCORE_DIGITS = 9


class InvalidDictionaryError(DeskError, ValueError):
    """The classification dictionary has a malformed category, keyword or weight."""

    def __init__(self, category: object, keyword: object, problem: str) -> None:
        self.category, self.keyword, self.problem = category, keyword, problem
        where = "Classifier dictionary"
        if category is not None:
            where += f", category {category!r}"
        if keyword is not None:
            where += f", keyword {keyword!r}"
        super().__init__(
            f"{where}: {problem} Fix this entry; the dictionary maps each category to "
            "{keyword or phrase: numeric weight}."
        )


class NoExamplesError(DeskError, ValueError):
    """accuracy() was given no labelled examples, so there is nothing to measure."""

    def __init__(self) -> None:
        super().__init__("No labelled examples to measure accuracy on; pass at least one.")


@dataclass(frozen=True)
class Classification:
    """The verdict on one request and what it rests on.

    `category` is None when no category scored above zero; `score` is the winner's score
    (0.0 when unclassified); `scores` holds every category's score in dictionary order;
    `matched` counts how often each of the winner's keywords occurred (subject and body
    alike, including keywords with negative weight), keyed as written in the dictionary.
    """

    category: str | None
    score: float
    scores: dict[str, float]
    matched: dict[str, int]


# One keyword: (category index, keyword as written, weight).
_Entry: TypeAlias = tuple[int, str, float]
# A phrase indexed by its first word: (normal forms allowed at each later position, entry).
_Phrase: TypeAlias = tuple[tuple[frozenset[str], ...], _Entry]


@dataclass(frozen=True, eq=False)
class CompiledDictionary:
    """A dictionary with its keywords in normal form, indexed for one pass over the text.

    `words` maps a normal form to the single-word keywords it hits; `phrases` maps the
    normal form of a phrase's first word to the phrases that start with it.
    """

    categories: tuple[str, ...]
    words: Mapping[str, tuple[_Entry, ...]]
    phrases: Mapping[str, tuple[_Phrase, ...]]


Dictionary: TypeAlias = Mapping[str, Mapping[str, float]]


def classify(
    subject: str, body: str, dictionary: Dictionary | CompiledDictionary | None = None
) -> Classification:
    """Return the category of a request from its subject and e-mail body.

    `dictionary` defaults to desk.classify_dictionary.DEFAULT_DICTIONARY; see the module
    docstring for the scoring rules.
    """
    compiled = compile_dictionary(_default_dictionary() if dictionary is None else dictionary)
    fresh, _history = split_reply(body or "")
    scores = [0.0] * len(compiled.categories)
    matched: list[dict[str, int]] = [{} for _ in compiled.categories]
    _score(normalize_words(subject or ""), SUBJECT_FACTOR, compiled, scores, matched)
    _score(normalize_words(fresh), 1.0, compiled, scores, matched)
    best, best_score = None, 0.0
    for index, score in enumerate(scores):
        if round(score, _SCORE_DIGITS) > round(best_score, _SCORE_DIGITS):
            best, best_score = index, score
    return Classification(
        category=None if best is None else compiled.categories[best],
        score=best_score,
        scores=dict(zip(compiled.categories, scores, strict=True)),
        matched={} if best is None else matched[best],
    )


def accuracy(
    examples: Iterable[Mapping[str, Any]], dictionary: Dictionary | CompiledDictionary | None = None
) -> float:
    """Share of labelled requests ({"subject", "body", "category"}) the dictionary classifies right.

    Tuning a weight helps some requests and hurts others; measuring against a labelled
    set is how an admin (and the test suite) tells whether an edit was an improvement.
    A label of None means the request should stay unclassified.
    """
    compiled = compile_dictionary(_default_dictionary() if dictionary is None else dictionary)
    outcomes = [
        classify(example["subject"], example["body"], compiled).category == example["category"]
        for example in examples
    ]
    if not outcomes:
        raise NoExamplesError()
    return sum(outcomes) / len(outcomes)


def _score(
    tokens: list[str],
    factor: float,
    compiled: CompiledDictionary,
    scores: list[float],
    matched: list[dict[str, int]],
) -> None:
    """Add the weighted hits of one text's normal forms to `scores` and `matched`."""
    words, phrases = compiled.words, compiled.phrases
    count = len(tokens)
    for position, token in enumerate(tokens):
        for index, keyword, weight in words.get(token, ()):
            scores[index] += weight * factor
            hits = matched[index]
            hits[keyword] = hits.get(keyword, 0) + 1
        for rest, (index, keyword, weight) in phrases.get(token, ()):
            end = position + 1 + len(rest)
            if end <= count and all(tokens[position + 1 + k] in allowed for k, allowed in enumerate(rest)):
                scores[index] += weight * factor
                hits = matched[index]
                hits[keyword] = hits.get(keyword, 0) + 1


def compile_dictionary(dictionary: Dictionary | CompiledDictionary) -> CompiledDictionary:
    """Validate and normalise a dictionary, reusing the compiled form of an equal one.

    Raises InvalidDictionaryError naming the category and keyword at fault, so a bad
    admin edit is refused before it is stored.
    """
    if isinstance(dictionary, CompiledDictionary):
        return dictionary
    try:
        # The weights' types are part of the key, so a weight True never reuses the entry of a 1.
        key: Hashable = tuple(
            (category, tuple(keywords.items()), tuple(map(type, keywords.values())))
            for category, keywords in dictionary.items()
        )
        return _compile(key)
    except (AttributeError, TypeError):
        # Not a mapping of mappings, or an unhashable weight: validation names the culprit.
        _validated(dictionary)
        raise


@lru_cache(maxsize=32)
def _compile(
    frozen: tuple[tuple[Any, tuple[tuple[Any, Any], ...], tuple[type, ...]], ...],
) -> CompiledDictionary:
    entries = _validated({category: dict(keywords) for category, keywords, _types in frozen})
    words: dict[str, list[_Entry]] = {}
    phrases: dict[str, list[_Phrase]] = {}
    categories = tuple(category for category, _keywords, _types in frozen)
    for index, category in enumerate(categories):
        for keyword, weight in entries[category]:
            variants = normal_variants(keyword)
            if not variants:
                raise InvalidDictionaryError(category, keyword, "the keyword has no letters or digits.")
            entry = (index, keyword, weight)
            if len(variants) == 1:
                for form in variants[0]:
                    words.setdefault(form, []).append(entry)
            else:
                for form in variants[0]:
                    phrases.setdefault(form, []).append((tuple(variants[1:]), entry))
    return CompiledDictionary(
        categories=categories,
        words={form: tuple(hits) for form, hits in words.items()},
        phrases={form: tuple(hits) for form, hits in phrases.items()},
    )


def _validated(dictionary: object) -> dict[str, list[tuple[str, float]]]:
    """The dictionary's entries with float weights, or InvalidDictionaryError for the first bad one."""
    if not isinstance(dictionary, Mapping):
        raise InvalidDictionaryError(
            None, None, f"the dictionary must be a mapping, not {type(dictionary).__name__}."
        )
    entries: dict[str, list[tuple[str, float]]] = {}
    for category, keywords in dictionary.items():
        if not isinstance(category, str) or not category.strip():
            raise InvalidDictionaryError(category, None, "the category name must be non-empty text.")
        if not isinstance(keywords, Mapping):
            raise InvalidDictionaryError(
                category,
                None,
                f"keywords must be a mapping of keyword to weight, not {type(keywords).__name__}.",
            )
        entries[category] = []
        for keyword, weight in keywords.items():
            if not isinstance(keyword, str) or not keyword.strip():
                raise InvalidDictionaryError(category, keyword, "the keyword must be non-empty text.")
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
                raise InvalidDictionaryError(
                    category, keyword, f"the weight {weight!r} is not a finite number."
                )
            entries[category].append((keyword, float(weight)))
    return entries


def _default_dictionary() -> Dictionary:
    from desk.classify_dictionary import DEFAULT_DICTIONARY

    return DEFAULT_DICTIONARY
