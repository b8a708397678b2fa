"""Text helpers shared by the classifier and mail parsing: reply splitting and word normal forms.

`split_reply` separates what the sender wrote now from what their client appended
(quoted history, signatures), because a request must be judged on the new text alone:
a reply saying "thanks, the printer works" that quotes a VPN thread is not a VPN request.

`normalize_words` reduces words to one normal form per word so that a keyword matches
every inflection a user may type. The choice of normaliser:

* Cyrillic words known to the OpenCorpora dictionary get their pymorphy3 lemma. Russian
  is heavily inflected and a stemmer both under- and over-cuts it ("принтера" and
  "принтеры" must meet, "сеть" and "сетевой" need not); a lemma is a real word an admin
  can read and type as a keyword. Reflexive verbs lose "-ся" ("сломался" and "сломан"
  both become "сломать"), since support text uses both voices for the same fault.
* Cyrillic words pymorphy3 does not know (slang such as "учётка", "мфушка", "аутлук",
  typos) get the Snowball Russian stem instead: pymorphy3 only guesses lemmas for
  them, and its guesses differ between forms of one word, while a stem stays put.
* Latin words get the Snowball English stem: English inflects little, pymorphy3 has no
  English dictionary, and stemming "printers"/"printing" to "printer"/"print" is enough.
* "1с"/"1c" (either script, with a suffix such as "1ска") are one token, "1с"; words
  typed with a few look-alike letters of the other script ("пpинтер" with a Latin "p")
  are mapped to the script of the majority of their letters.

Normal forms are cached per word (up to 100,000 words, a few tens of MB at most): mail
repeats its vocabulary, and a cached lookup is far cheaper than a morphological analysis
(tens of microseconds). The analyser itself is loaded on first use.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["normal_variants", "normalize_word", "normalize_words", "split_reply"]

# ---------------------------------------------------------------------------
# Reply splitting
# ---------------------------------------------------------------------------

# Lines of a forwarded message: what follows is the content being handed to us, not history.
_FORWARD = re.compile(
    r"^(-{2,}\s*(forwarded message|пересылаемое сообщение|переадресованное сообщение|"
    r"пересланное сообщение)\s*-*|begin forwarded message:|начало переадресованного сообщения:)\s*$",
    re.IGNORECASE,
)
# Outlook (and Outlook Express, Thunderbird) separators of the quoted original.
_ORIGINAL = re.compile(
    r"^-{2,}\s*(original message|исходное сообщение|оригинальное сообщение|reply message)\s*-{2,}$",
    re.IGNORECASE,
)
# Outlook's header block: "From:" then, within a few lines, "Sent:"/"Date:" and "To:"/"Subject:".
_HEADER_FROM = re.compile(r"^\*?(from|от|de|von)\*?\s*:\s*\S", re.IGNORECASE)
_HEADER_DATE = re.compile(r"^\*?(sent|date|отправлено|дата)\*?\s*:", re.IGNORECASE)
_HEADER_TO = re.compile(r"^\*?(to|cc|subject|кому|копия|тема)\*?\s*:", re.IGNORECASE)
_HEADER_SPAN = 6
_UNDERSCORES = re.compile(r"^_{10,}$")
# Attribution lines that introduce quoted history. They are matched from the end of the
# line with patterns that cannot backtrack much: mail is untrusted input.
_WROTE_END = re.compile(r"\swrote\s*:$", re.IGNORECASE)
_VERB_END = re.compile(r"\S\s+(пишет|написал|написала|написал\(а\)|писал\(а\)|wrote)\s*:$", re.IGNORECASE)
# How a wrapped attribution's first line begins: "On ..." or a date ("пн, 23 нояб.", "23.11.2026").
_ATTRIBUTION_START = re.compile(r"^(on\s|(\w{2,12}\.?,\s*)?\d{1,2}[\s./-]\w)", re.IGNORECASE)
_DATE_OR_TIME = re.compile(r"\d{1,2}:\d{2}|\d{4}")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DATE_OR_ADDRESS = re.compile(r"\d|@")
# Footers that mobile mail apps append; the history, if any, follows them.
_MOBILE = re.compile(
    r"^(sent (from|with|via) (my |the )?\S.{0,45}|get outlook for \w+.{0,20}|"
    r"отправлено (с|со|из|через) (моего |мобильн\w+ )?(iphone|ipad|android|samsung|galaxy|huawei|honor|"
    r"xiaomi|redmi|смартфона|телефона|устройства|яндекс|yandex|mail\.ru|почты|приложения|outlook)"
    r".{0,45}|получить outlook для \w+.{0,20})$",
    re.IGNORECASE,
)
# A closing line, optionally with the name on the same line ("С уважением, Иван").
_CLOSING = re.compile(
    r"^(с уважением|с наилучшими пожеланиями|всего (доброго|хорошего)|best regards|kind regards|"
    r"warm regards|regards|best wishes|sincerely|yours sincerely|cheers)\b[,.!]?(\s+\S.{0,60})?$"
    r"|^(спасибо|заранее спасибо|спасибо заранее|благодарю|thanks|thank you|thanks in advance|"
    r"many thanks)[,.!]*$",
    re.IGNORECASE,
)
# Contact details that close a signature: "Тел.: +7 495 ...", "E-mail: ivan@...".
_CONTACT = re.compile(
    r"^(тел|телефон|моб|мобильный|сот|факс|доб|tel|phone|mob|mobile|cell|fax|ext|e-?mail|почта|"
    r"эл\.?\s*почта|skype|telegram|сайт|site|web|www)\b[^\n]{0,60}$",
    re.IGNORECASE,
)
_CONTACT_VALUE = re.compile(r"\d{3}|@|www\.|https?://")
# How many lines may follow a closing line for it to count as the start of a signature.
_SIGNATURE_LINES = 6


def split_reply(body: str) -> tuple[str, str]:
    """Return (fresh text, quoted history + signature) of a plain-text e-mail body.

    The fresh text is what a request is judged on; the rest is kept for display. Recognised:
    ">" quotes (also interleaved with answers, which stay fresh); attribution lines of
    Gmail, Thunderbird, Apple Mail, Yandex and Mail.ru ("On ... wrote:", "... пишет:",
    "... написал(а):", "<date>, <name> <address>:"); Outlook's "Original Message"
    separators and From/Sent/To/Subject header blocks (English and Russian); the "-- "
    signature delimiter; mobile footers ("Sent from my iPhone", "Отправлено с iPhone");
    and closings ("С уважением,", "Best regards,") or contact lines within the last few
    lines. A forwarded message is the request itself, so it and everything after it stay
    fresh. If the body holds only quoted content, the fresh text is "" and the caller
    decides what to show (a closing alone is never cut, so "Спасибо!" stays fresh).
    """
    lines = body.splitlines()
    end = next((i for i, line in enumerate(lines) if _FORWARD.match(line.strip())), len(lines))
    quoted = [False] * len(lines)
    cut = len(lines)
    i = 0
    while i < end:
        stripped = lines[i].strip()
        if stripped.startswith(">"):
            quoted[i] = True
            i += 1
            continue
        boundary = _hard_boundary(lines, i, end)
        if boundary is not None:
            cut = boundary
            break
        span = _attribution_span(lines, i)
        if span:
            following = _next_nonblank(lines, i + span)
            if following < end and lines[following].lstrip().startswith(">"):
                quoted[i : i + span] = [True] * span
                i += span
                continue
            if _is_dated_attribution(" ".join(line.strip() for line in lines[i : i + span])):
                cut = i
                break
        i += 1
    cut = _signature_start(lines, quoted, cut)
    fresh = [line for j, line in enumerate(lines[:cut]) if not quoted[j]]
    rest = [line for j, line in enumerate(lines) if j >= cut or quoted[j]]
    return "\n".join(fresh).strip(), "\n".join(rest).strip()


def _hard_boundary(lines: list[str], i: int, end: int) -> int | None:
    """Index where history or signature starts if line `i` opens it (everything after goes)."""
    line = lines[i]
    stripped = line.strip()
    if line.rstrip() == "--" or _ORIGINAL.match(stripped) or _MOBILE.match(stripped):
        return i
    if _HEADER_FROM.match(stripped) and _is_header_block(lines[i + 1 : min(end, i + _HEADER_SPAN)]):
        previous = i - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        return previous if previous >= 0 and _UNDERSCORES.match(lines[previous].strip()) else i
    return None


def _is_header_block(following: list[str]) -> bool:
    """True when the lines after a "From:" line carry Outlook's date and recipient headers."""
    stripped = [line.strip() for line in following]
    return any(_HEADER_DATE.match(s) for s in stripped) and any(_HEADER_TO.match(s) for s in stripped)


def _attribution_span(lines: list[str], i: int) -> int:
    """1 or 2 if an attribution line (clients wrap long ones once) starts at `i`, else 0."""
    stripped = lines[i].strip()
    if not stripped or len(stripped) > 300:
        return 0
    if stripped.endswith(":"):
        return 1 if _is_attribution(stripped) else 0
    if i + 1 < len(lines) and lines[i + 1].strip().endswith(":") and _ATTRIBUTION_START.match(stripped):
        if _is_attribution(f"{stripped} {lines[i + 1].strip()}"):
            return 2
    return 0


def _is_attribution(text: str) -> bool:
    """True for "On <date>, <name> wrote:", "<date>, <name> пишет:" or "<date>, <name> <address>:"."""
    if not text.endswith(":"):
        return False
    if text[:3].lower() == "on " and _WROTE_END.search(text):
        return True
    return bool(_VERB_END.search(text)) or _is_dated_address(text)


def _is_dated_address(text: str) -> bool:
    """Match "<date>, <name> <address>:", the attribution of Gmail in Russian, Yandex and Mail.ru."""
    head = text[:-1].rstrip()
    if head.endswith(">"):
        opening = head.rfind("<")
        address = head[opening + 1 : -1].strip() if opening >= 0 else ""
    else:
        address = head.rsplit(None, 1)[-1] if head else ""
    return bool(_ADDRESS.fullmatch(address)) and bool(_DATE_OR_TIME.search(head))


def _is_dated_attribution(text: str) -> bool:
    """An attribution certain enough to cut on without a ">" quote after it: it has a date or address."""
    return _is_attribution(text) and bool(_DATE_OR_ADDRESS.search(text))


def _next_nonblank(lines: list[str], start: int) -> int:
    while start < len(lines) and not lines[start].strip():
        start += 1
    return start


def _signature_start(lines: list[str], quoted: list[bool], cut: int) -> int:
    """Move `cut` up to a closing or a run of contact lines at the end of the fresh text.

    Only the last few fresh lines are searched, so "с уважением" in the middle of a
    request is not a signature, and something fresh must remain above the cut.
    """
    fresh = [j for j in range(cut) if not quoted[j] and lines[j].strip()]
    if len(fresh) < 2:
        return cut
    for j in fresh[max(1, len(fresh) - _SIGNATURE_LINES - 1) :]:
        if _CLOSING.match(lines[j].strip()):
            return j
    start = len(fresh)
    while start > 1 and len(fresh) - start < _SIGNATURE_LINES and _is_contact(lines[fresh[start - 1]]):
        start -= 1
    return fresh[start] if start < len(fresh) else cut


def _is_contact(line: str) -> bool:
    stripped = line.strip()
    return bool(_CONTACT.match(stripped) and _CONTACT_VALUE.search(stripped))


# ---------------------------------------------------------------------------
# Word normal forms
# ---------------------------------------------------------------------------

# Letters and digits of any script; hyphenated words split ("wi-fi" is the phrase "wi fi").
_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-я]")
_LATIN = re.compile(r"[a-z]")
_ONE_C = re.compile(r"^1[cс][а-я]{0,4}$")
_LATIN_TO_CYRILLIC = str.maketrans("aceopxykmthb", "асеорхукмтнв")
_CYRILLIC_TO_LATIN = str.maketrans("асеорхукмтнв", "aceopxykmthb")
_VERB_FAMILY = frozenset({"VERB", "INFN", "PRTF", "PRTS", "GRND"})
_ADJECTIVE_FAMILY = frozenset({"ADJF", "ADJS", "COMP"})


@lru_cache(maxsize=1)
def _morph() -> Any:
    """The pymorphy3 analyser, built on first use: loading its dictionaries takes a while."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=2)
def _stemmer(language: str) -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer(language)


def normalize_words(text: str) -> list[str]:
    """The normal forms of the words of `text`, in order, so phrases match as word sequences."""
    return [normalize_word(token) for token in _WORD.findall(text.lower())]


@lru_cache(maxsize=100_000)
def normalize_word(word: str) -> str:
    """The normal form of one word (see the module docstring for which normaliser applies)."""
    return _analyse(word)[0]


@lru_cache(maxsize=32_768)
def _analyse(word: str) -> tuple[str, str | None]:
    """(normal form, part-of-speech family) of one token; the family is None unless pymorphy3 knows it."""
    word = _clean(word)
    if _ONE_C.match(word):
        return "1с", None
    has_cyrillic, has_latin = bool(_CYRILLIC.search(word)), bool(_LATIN.search(word))
    if has_latin and not has_cyrillic:
        return _stemmer("english").stemWord(word), None
    if not has_cyrillic or has_latin:
        return word, None
    parse = _morph().parse(word)[0]
    if not parse.is_known:
        return _stemmer("russian").stemWord(word), None
    return _lemma(parse), _family(parse.tag.POS)


def _clean(word: str) -> str:
    """Lower-case, "ё" as "е", and look-alike letters of a word's minority script in its majority one.

    Users type "пpинтер" with a Latin "p" or "1c" with a Latin "c"; the letters look
    alike, so the word is meant in one script.
    """
    word = word.lower().replace("ё", "е")
    cyrillic, latin = len(_CYRILLIC.findall(word)), len(_LATIN.findall(word))
    if not cyrillic or not latin:
        return word
    return word.translate(_LATIN_TO_CYRILLIC if cyrillic >= latin else _CYRILLIC_TO_LATIN)


def _lemma(parse: Any) -> str:
    lemma = parse.normal_form.replace("ё", "е")
    if parse.tag.POS in _VERB_FAMILY and lemma.endswith(("ся", "сь")) and len(lemma) > 4:
        lemma = lemma[:-2]
    return lemma


def _family(pos: str | None) -> str | None:
    if pos in _VERB_FAMILY:
        return "VERB"
    if pos in _ADJECTIVE_FAMILY:
        return "ADJF"
    return pos


def normal_variants(text: str) -> list[frozenset[str]]:
    """For each word of `text`, every normal form an inflection of it can be reduced to.

    pymorphy3 picks the most likely reading of each form on its own, so the forms of one
    word do not always share a lemma ("гарнитура" reads as "гарнитур", "гарнитуру" as
    "гарнитура"; "проводки" as "проводок"). A keyword compiled to all of these variants
    still matches every inflection. Only readings of the word's own part of speech
    count, so "право" does not come to match "правый". Each set holds the word's own
    normal form (`normalize_word`).
    """
    return [_normal_variants(token) for token in _WORD.findall(text.lower())]


@lru_cache(maxsize=16_384)
def _normal_variants(word: str) -> frozenset[str]:
    lemma, family = _analyse(word)
    word = _clean(word)
    if family is None:
        return frozenset({lemma})
    variants = {lemma}
    for parse in _morph().parse(word):
        if _family(parse.tag.POS) != family:
            continue
        for form in parse.lexeme:
            form_lemma, form_family = _analyse(form.word)
            if form_family == family:
                variants.add(form_lemma)
    return frozenset(variants)
