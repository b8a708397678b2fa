"""Classifier figures: throughput on 2 KB e-mails and accuracy on the labelled requests.

Every inbound e-mail is classified, and a mailbox import brings thousands at once, so
the classifier must stay far above the mail rate (goal: 2,000 e-mails/s warm); its
accuracy on tests/data/classify_labelled.jsonl says whether a dictionary edit helped.
Run `.venv/bin/python bench/classify_figures.py`; figures are printed, never asserted.
bench/desk.py imports `classifier_figures()` for its own table.
"""

import json
import random
import sys
import textwrap
import time
from pathlib import Path

# bench/ holds a desk.py of its own: put the project root first so `desk` is the package.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))

from desk.classify import accuracy, classify, compile_dictionary  # noqa: E402
from desk.classify_dictionary import DEFAULT_DICTIONARY  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "classify_labelled.jsonl"
EMAIL_CHARS = 2048
SEED = 20261123
REPEATS = 3

# What users write around the actual request: greetings, context, courtesy, and the
# quoted thread a reply drags along. Neutral on purpose: padding must not change the topic.
_OPENINGS = [
    "Добрый день!",
    "Здравствуйте, коллеги.",
    "Доброе утро!",
    "Hi team,",
    "Коллеги, привет.",
]
_FILLER = [
    "Пишу по поводу вопроса, который возник сегодня утром у нас в отделе.",
    "Мы уже пробовали разобраться сами, но ничего не получилось, поэтому обращаемся к вам.",
    "Ситуация повторяется не первый раз, в прошлом месяце было что-то похожее.",
    "Руководитель в курсе и просил решить как можно быстрее.",
    "Я буду на месте до шести вечера, потом можно связаться завтра с утра.",
    "Если нужно, могу подойти к вам в кабинет или показать всё на месте.",
    "Заранее благодарю за помощь и оперативность.",
    "Прикладываю скриншот, на нём видно, что происходит.",
    "Коллеги из соседнего кабинета говорят, что у них пока всё в порядке.",
    "Работа отдела частично остановилась, клиенты ждут ответа.",
    "Подскажите, пожалуйста, сколько примерно времени это займёт.",
    "We tried the usual steps from the intranet page but they did not help.",
    "Please let me know if you need any more details from our side.",
    "Это влияет на сроки сдачи отчётности, поэтому прошу взять в работу сегодня.",
    "В пятницу вечером всё было нормально, проблема появилась после выходных.",
    "Напишите, пожалуйста, номер заявки, чтобы я могла отслеживать статус.",
]
_QUOTE = [
    "> Добрый день! Ваше обращение зарегистрировано.",
    "> Специалист свяжется с вами в ближайшее время.",
    "> Пожалуйста, не меняйте тему письма при ответе.",
    "> С уважением, служба поддержки",
]


def load_labelled(path: Path = LABELLED) -> list[dict]:
    """The labelled requests: one {"subject", "body", "category"} object per line."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def synthetic_emails(rows: list[dict], chars: int = EMAIL_CHARS, seed: int = SEED) -> list[tuple[str, str]]:
    """(subject, body) pairs of about `chars` characters: each labelled body with realistic padding.

    The padding is fresh text between the greeting and the request (so it is tokenised and
    scored like the request itself, and the request's own signature stays at the end) and
    a short quoted reply from the desk, as real replies carry.
    """
    rng = random.Random(seed)
    quote = "\n\n23.11.2026 10:15, Service Desk <sd@severputi.ru>:\n" + "\n".join(_QUOTE)
    emails = []
    for row in rows:
        opening, padding = rng.choice(_OPENINGS), []
        while len(opening) + len(" ".join(padding)) + len(row["body"]) + len(quote) + 4 < chars:
            padding.append(rng.choice(_FILLER))
        # Plain-text mail clients wrap lines at about 72 characters.
        text = "\n".join(textwrap.wrap(" ".join(padding), 72))
        emails.append((row["subject"], f"{opening}\n{text}\n\n{row['body']}{quote}"))
    return emails


def classifier_figures(path: Path = LABELLED) -> dict[str, float]:
    """Warm e-mails/s on ~2 KB e-mails and accuracy of the default dictionary on the labelled set.

    The first pass over the e-mails is reported too: it pays for analysing each new word
    once, as a freshly started worker does.
    """
    rows = load_labelled(path)
    compiled = compile_dictionary(DEFAULT_DICTIONARY)
    emails = synthetic_emails(rows)
    began = time.perf_counter()
    for subject, body in emails:  # first pass: fills the per-word normal-form cache
        classify(subject, body)
    first_pass = time.perf_counter() - began
    best = float("inf")
    for _ in range(REPEATS):
        began = time.perf_counter()
        for subject, body in emails:
            classify(subject, body)
        best = min(best, time.perf_counter() - began)
    padded = [
        {"subject": subject, "body": body, "category": row["category"]}
        for (subject, body), row in zip(emails, rows, strict=True)
    ]
    return {
        f"emails/s ({EMAIL_CHARS}-char e-mails, warm)": len(emails) / best,
        "emails/s, first pass (word cache cold)": len(emails) / first_pass,
        "mean e-mail length (chars)": sum(len(body) for _, body in emails) / len(emails),
        "labelled requests": float(len(rows)),
        "accuracy on labelled set": accuracy(rows, compiled),
        "accuracy on the same, padded to 2 KB": accuracy(padded, compiled),
    }


def main() -> None:
    """Print the figures, one per line."""
    for name, value in classifier_figures().items():
        print(f"{name:<40} {value:,.3f}" if value < 100 else f"{name:<40} {value:,.0f}")


if __name__ == "__main__":
    main()
