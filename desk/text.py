"""Text helpers shared by the classifier and mail parsing: reply splitting and word normalisation.

Normal forms: pymorphy3 lemmas for Cyrillic words (a real morphological dictionary, so
"принтера", "принтеры", "принтером" are all "принтер" and verbs reduce to the infinitive),
the Snowball stemmer for Latin words (English has little inflection and no lemma
dictionary is shipped). Both are cached per word: mail repeats its vocabulary.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[0-9a-zа-яё]+(?:[-'][0-9a-zа-яё]+)*", re.IGNORECASE)
_CYRILLIC = re.compile(r"[а-яё]")
_ATTRIBUTION = re.compile(
    r"^(on .{3,200} wrote:|.{3,200}(пишет|написал|написала|написал\(а\)):\s*"
    r"|\d{1,2}[./]\d{1,2}[./]\d{2,4}.{0,120}:\s*)$",
    re.IGNORECASE,
)
_OUTLOOK = re.compile(r"^-{2,}\s*(original message|исходное сообщение|reply message)\s*-{2,}$", re.IGNORECASE)
_HEADER_BLOCK = re.compile(r"^(from|от|de|von):\s", re.IGNORECASE)
_MOBILE = re.compile(
    r"^(sent from my \w+|отправлено (с|из) .{1,40}|sent from (yandex|mail\.ru|outlook).{0,40}|"
    r"get outlook for \w+)\s*$",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^(с уважением|с наилучшими пожеланиями|спасибо|best regards|regards|kind regards|"
    r"thanks|thank you|cheers)[,.!]?\s*$",
    re.IGNORECASE,
)
_FORWARD = re.compile(r"^-{2,}\s*(forwarded message|пересылаемое сообщение|переадресованное сообщение)", re.I)


def split_reply(body: str) -> tuple[str, str]:
    """Return (fresh text, quoted history + signature) of an e-mail body.

    Forwarded messages stay in the fresh text (they are the request); if the whole body
    is quoted, the fresh text is empty and the caller decides what to show.
    """
    lines = body.replace("\r\n", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _FORWARD.match(stripped):
            break
        if (
            stripped.startswith(">")
            or _ATTRIBUTION.match(stripped)
            or _OUTLOOK.match(stripped)
            or line == "-- "
        ):
            cut = i
            break
        if (
            _HEADER_BLOCK.match(stripped)
            and i + 1 < len(lines)
            and re.match(r"^(sent|отправлено|date|дата|to|кому):", lines[i + 1].strip(), re.I)
        ):
            cut = i
            break
        if _MOBILE.match(stripped):
            cut = i
            break
    tail_start = max(0, cut - 6)
    for i in range(tail_start, cut):
        if _CLOSING.match(lines[i].strip()):
            cut = i
            break
    fresh = "\n".join(lines[:cut]).strip()
    quoted = "\n".join(lines[cut:]).strip()
    return fresh, quoted


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def normalize_word(word: str) -> str:
    word = word.lower().replace("ё", "е")
    if word in ("1c", "1с"):
        return "1с"
    if _CYRILLIC.search(word):
        return _morph().parse(word)[0].normal_form.replace("ё", "е")
    if word.isdigit():
        return word
    return _stemmer().stemWord(word)


def normalize_words(text: str) -> list[str]:
    """Tokens of `text` in normal form, in order (so phrases can be matched as word sequences)."""
    return [normalize_word(m.group(0)) for m in _WORD.finditer(text)]
