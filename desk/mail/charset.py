"""Charset decoding with the fallbacks Russian mail needs: the declared charset is not always true.

Russian clients still send cp1251 and koi8-r, label one as the other, label cp1251 as
us-ascii or utf-8, or put raw 8-bit bytes in headers with no label at all. An operator
must read the request anyway, so every piece of text the parser decodes (body parts,
RFC 2047 words, raw header bytes, file names) goes through `_decode_bytes`, which
trusts the bytes over the label and says what it guessed.
"""

from __future__ import annotations

import codecs
import re

_SURROGATE = re.compile(r"[\udc80-\udcff]")
_CYRILLIC_WORD = re.compile(r"[^\W\d_]+")

# Single-byte charsets that Russian senders mislabel one as another; a text declared in
# one of them is checked against cp1251 and koi8-r (see `_decode_bytes`).
_SINGLE_BYTE = frozenset(
    "ascii latin-1 iso8859-1 iso8859-15 cp1252 cp1251 koi8-r koi8-u iso8859-5 cp866".split()
)
_CYRILLIC_GUESSES = ("cp1251", "koi8-r")


def _decode_bytes(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """(text, problem or None): decode with the declared charset unless the bytes say otherwise.

    Mislabelled Russian mail is common: cp1251 bytes declared as us-ascii, utf-8 or
    latin-1, koi8-r declared as cp1251, utf-8 declared as cp1251, no charset at all. The
    declared charset wins when it decodes the bytes and reads as plausibly as any
    alternative; otherwise valid UTF-8 wins, then whichever of cp1251 and koi8-r reads
    as Russian, and finally cp1252 with replacement characters.
    """
    name = _codec(declared) if declared else None
    problem = f"unknown charset {declared!r}" if declared and name is None else None
    if data.isascii() and name is None:
        return data.decode("ascii"), problem
    if name is not None:
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            lenient = data.decode(name, "replace")
            bad = lenient.count("\ufffd")
            if name not in _SINGLE_BYTE and bad <= max(3, sum(byte >= 0x80 for byte in data) // 50):
                # A few broken bytes (a cut-off or corrupted part) do not make a utf-8 label wrong.
                return lenient, f"{bad} byte(s) invalid in charset {declared!r} replaced"
            problem = f"charset {declared!r} does not fit the bytes"
        else:
            if name not in _SINGLE_BYTE or data.isascii():
                return text, None
            utf8 = _strict(data, "utf-8")
            if utf8 is not None:
                return utf8, f"charset {declared!r} declared, but the bytes are utf-8"
            best, best_text = name, text
            best_score = _russian_score(text)
            for guess in _CYRILLIC_GUESSES:
                candidate = _strict(data, guess)
                if candidate is not None and (score := _russian_score(candidate)) > best_score:
                    best, best_text, best_score = guess, candidate, score
            if best == name:
                return text, None
            return best_text, f"charset {declared!r} declared, but the bytes read as {best}"
    utf8 = _strict(data, "utf-8")
    if utf8 is not None:
        return utf8, _with_guess(problem, "utf-8")
    scored = [
        (_russian_score(t), guess, t)
        for guess in _CYRILLIC_GUESSES
        if (t := _strict(data, guess)) is not None
    ]
    if scored:
        score, guess, text = max(scored, key=lambda item: item[0])
        if score > 0:
            return text, _with_guess(problem, guess)
    return data.decode("cp1252", "replace"), _with_guess(problem, "cp1252")


def _with_guess(problem: str | None, guess: str) -> str:
    return f"{problem}; decoded as {guess}" if problem else f"undeclared 8-bit text decoded as {guess}"


def _codec(charset: str) -> str | None:
    """Python's name for a text charset, or None (unknown, a bytes codec such as "base64", or a codec
    that refuses every input such as Python's "undefined"): the caller then falls back as mail clients do."""
    try:
        name = codecs.lookup(charset.strip().strip('"').lower()).name
    except (LookupError, ValueError, TypeError):
        return None
    try:
        b"a".decode(name)  # bytes codecs refuse here; empty input would not be checked
    except UnicodeDecodeError:
        pass
    except (LookupError, UnicodeError):  # "undefined" raises a bare UnicodeError for any bytes
        return None
    return name


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _russian_score(text: str) -> int:
    """How much a decoding reads as Russian: letters in well-cased all-Cyrillic words, minus the rest.

    A wrong single-byte decoding of Russian gives words mixing scripts ("cafй") or
    inverted case ("пРИВЕТ" from koi8-r read as cp1251); a right one gives lower-case and
    capitalised Cyrillic words. Acronyms in capitals count for nothing either way.
    """
    score = 0
    for word in _CYRILLIC_WORD.findall(text):
        cyrillic = sum(1 for ch in word if "\u0400" <= ch <= "\u04ff")
        if not cyrillic:
            continue
        if cyrillic != len(word):
            score -= len(word)
        elif word.islower() or (word[0].isupper() and word[1:].islower()):
            score += len(word)
        elif not word.isupper():
            score -= len(word)
    return score


def _repair(value: str) -> str:
    """Re-decode raw 8-bit header bytes (kept by `email` as surrogates) with the charset fallbacks."""
    if not _SURROGATE.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    return _decode_bytes(data, None)[0]
