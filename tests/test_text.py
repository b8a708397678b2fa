"""desk.text: what the sender wrote now versus what their mail client appended, and word normal forms."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desk.text import normal_variants, normalize_word, normalize_words, split_reply

# ---------------------------------------------------------------------------
# split_reply: one realistic body per mail client
# ---------------------------------------------------------------------------

GMAIL_EN = """Hi,

The printer still jams on every second page.

On Mon, Nov 23, 2026 at 10:15 AM Service Desk <sd@severputi.ru> wrote:

> Hello! We replaced the fuser, please check.
>
> --
> Service Desk
"""

GMAIL_RU = """Добрый день!
Принтер опять зажевал бумагу.

пн, 23 нояб. 2026 г. в 10:15, Service Desk <sd@severputi.ru>:

> Здравствуйте! Мы заменили ролик, проверьте, пожалуйста.
"""

GMAIL_RU_WRAPPED = """Проблема осталась.

пн, 23 нояб. 2026 г. в 10:15, Служба поддержки Северные Пути <
sd@severputi.ru>:

> Проверьте ещё раз.
"""

THUNDERBIRD_EN = """VPN is down again since this morning.

On 23.11.2026 10:15, Service Desk wrote:
> Please reconnect and tell us if it works.
"""

THUNDERBIRD_RU = """VPN снова не подключается.

23.11.2026 10:15, Service Desk пишет:
> Переподключитесь и сообщите результат.
"""

APPLE_MAIL_EN = """Still no sound on the desk phone.

Sent from my iPhone

> On 23 Nov 2026, at 10:15, Service Desk <sd@severputi.ru> wrote:
>
> Please reboot the phone.
"""

APPLE_MAIL_RU = """Телефон по-прежнему не звонит.

> 23 нояб. 2026 г., в 10:15, Service Desk <sd@severputi.ru> написал(а):
>
> Перезагрузите аппарат.
"""

YANDEX = """Почта всё равно не приходит.

23.11.2026, 10:15, "Service Desk" <sd@severputi.ru>:
Добрый день! Проверьте папку «Спам».
"""

MAIL_RU = """Ошибка в 1С осталась.


Понедельник, 23 ноября 2026, 10:15 +03:00 от Service Desk <sd@severputi.ru>:
Перезапустите 1С и проверьте ещё раз.
"""

OUTLOOK_EN = """Monitor flickers again.

-----Original Message-----
From: Service Desk <sd@severputi.ru>
Sent: Monday, November 23, 2026 10:15 AM
To: Emma Clarke <e.clarke@severputi.ru>
Subject: RE: Monitor flickering

We replaced the cable.
"""

OUTLOOK_RU = """Монитор снова мигает.

-----Исходное сообщение-----
От: Service Desk <sd@severputi.ru>
Отправлено: 23 ноября 2026 г. 10:15
Кому: Кларк Эмма
Тема: RE: Монитор

Кабель заменён.
"""

OUTLOOK_HEADER_BLOCK_RU = """Добрый день!
Доступ к папке так и не появился.

________________________________
От: Service Desk <sd@severputi.ru>
Отправлено: 23 ноября 2026 г. 10:15
Кому: Иванова Елена
Тема: RE: Доступ к папке

Доступ предоставлен.
"""

OUTLOOK_HEADER_BLOCK_EN = """Still locked out.

From: Service Desk <sd@severputi.ru>
Sent: Monday, November 23, 2026 10:15 AM
To: Tom Baker
Subject: RE: Account locked

Your account is unlocked.
"""


@pytest.mark.parametrize(
    ("body", "fresh", "history_starts"),
    [
        (GMAIL_EN, "Hi,\n\nThe printer still jams on every second page.", "On Mon, Nov 23"),
        (GMAIL_RU, "Добрый день!\nПринтер опять зажевал бумагу.", "пн, 23 нояб."),
        (GMAIL_RU_WRAPPED, "Проблема осталась.", "пн, 23 нояб."),
        (THUNDERBIRD_EN, "VPN is down again since this morning.", "On 23.11.2026"),
        (THUNDERBIRD_RU, "VPN снова не подключается.", "23.11.2026 10:15, Service Desk пишет:"),
        (APPLE_MAIL_EN, "Still no sound on the desk phone.", "Sent from my iPhone"),
        (APPLE_MAIL_RU, "Телефон по-прежнему не звонит.", "> 23 нояб."),
        (YANDEX, "Почта всё равно не приходит.", '23.11.2026, 10:15, "Service Desk"'),
        (MAIL_RU, "Ошибка в 1С осталась.", "Понедельник, 23 ноября 2026"),
        (OUTLOOK_EN, "Monitor flickers again.", "-----Original Message-----"),
        (OUTLOOK_RU, "Монитор снова мигает.", "-----Исходное сообщение-----"),
        (OUTLOOK_HEADER_BLOCK_RU, "Добрый день!\nДоступ к папке так и не появился.", "________"),
        (OUTLOOK_HEADER_BLOCK_EN, "Still locked out.", "From: Service Desk"),
    ],
    ids=[
        "gmail-en",
        "gmail-ru",
        "gmail-ru-wrapped-attribution",
        "thunderbird-en",
        "thunderbird-ru",
        "apple-mail-en",
        "apple-mail-ru",
        "yandex",
        "mail-ru",
        "outlook-original-message-en",
        "outlook-original-message-ru",
        "outlook-header-block-ru",
        "outlook-header-block-en",
    ],
)
def test_reply_keeps_only_the_new_text_of_each_mail_client(body, fresh, history_starts):
    new, history = split_reply(body)
    assert new == fresh
    assert history.startswith(history_starts)


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Отправлено с iPhone",
        "Отправлено из мобильной Почты Mail.ru",
        "Sent from Yandex.Mail for mobile",
        "Get Outlook for Android",
    ],
)
def test_mobile_footer_and_what_follows_are_not_fresh(footer):
    body = f"Не работает VPN на ноутбуке.\n\n{footer}\n\n23.11.2026, 10:15, Иван <ivan@example.ru>:\nСтарое"
    fresh, history = split_reply(body)
    assert fresh == "Не работает VPN на ноутбуке."
    assert history.startswith(footer)


def test_signature_after_the_delimiter_is_not_fresh():
    fresh, history = split_reply("Не печатает принтер.\n-- \nПетров А.В.\nтел. 1234")
    assert fresh == "Не печатает принтер."
    assert history == "-- \nПетров А.В.\nтел. 1234"


def test_closing_block_at_the_end_is_a_signature():
    body = (
        "Добрый день!\nНе приходят письма.\n\nС уважением,\nИванова Елена\nглавный бухгалтер\n"
        "ООО «Северные Пути»\nтел. +7 (812) 334-12-20 доб. 118"
    )
    fresh, history = split_reply(body)
    assert fresh == "Добрый день!\nНе приходят письма."
    assert history.startswith("С уважением,\nИванова Елена")


def test_closing_with_the_name_on_one_line_and_english_regards():
    assert split_reply("Printer is offline.\n\nBest regards, Mark")[0] == "Printer is offline."
    assert split_reply("Printer is offline.\n\nKind regards,\nMark\nFinance")[0] == "Printer is offline."


def test_closing_words_far_from_the_end_are_part_of_the_request():
    body = "С уважением,\n" + "\n".join(f"строка заявки {n}" for n in range(1, 10))
    assert split_reply(body) == (body, "")


def test_a_sentence_mentioning_regards_is_not_a_closing():
    body = "Передайте с уважением благодарность инженеру.\nПринтер работает."
    assert split_reply(body) == (body, "")


def test_trailing_contact_lines_are_signature():
    body = (
        "Не работает телефон в переговорке.\n\nКим Алексей\n"
        "Тел.: +7 (495) 777-10-10, доб. 245\nE-mail: kim@x.ru"
    )
    fresh, history = split_reply(body)
    assert fresh == "Не работает телефон в переговорке.\n\nКим Алексей"
    assert history == "Тел.: +7 (495) 777-10-10, доб. 245\nE-mail: kim@x.ru"


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "-------- Пересылаемое сообщение --------",
        "---------- Пересылаемое сообщение ----------",
        "Begin forwarded message:",
    ],
)
def test_forwarded_message_is_fresh_text_with_its_headers(marker):
    body = (
        f"Коллеги, посмотрите письмо ниже, похоже на фишинг.\n\n{marker}\n"
        "From: Director <director.sp@gmail.com>\nDate: Mon, 23 Nov 2026 at 09:12\n"
        "Subject: Срочно\nTo: <buh@severputi.ru>\n\nОплатите счёт по ссылке.\n> старая цитата"
    )
    assert split_reply(body) == (body.strip(), "")


def test_reply_above_a_forward_keeps_both_but_not_the_history_before_the_forward():
    body = (
        "Пересылаю.\n\nOn Mon, Nov 23, 2026 at 10:15 AM Ivan <ivan@x.ru> wrote:\n> Перешлите мне\n"
        "> ---------- Forwarded message ---------\n> From: A <a@x.ru>"
    )
    fresh, history = split_reply(body)
    assert fresh == "Пересылаю."
    assert "Перешлите мне" in history


def test_interleaved_answers_stay_fresh_and_quotes_go_to_history():
    body = "> Перезагрузите компьютер.\n\nПерезагрузил, не помогло.\n\n> Проверьте кабель.\nКабель на месте."
    fresh, history = split_reply(body)
    assert fresh == "Перезагрузил, не помогло.\n\nКабель на месте."
    assert history == "> Перезагрузите компьютер.\n> Проверьте кабель."


def test_body_with_only_quoted_content_has_empty_fresh_text():
    body = "23.11.2026 10:15, Service Desk пишет:\n> Заявка выполнена.\n> Принтер печатает."
    assert split_reply(body) == ("", body)


def test_a_lone_thanks_is_not_cut_as_a_closing():
    assert split_reply("Спасибо!") == ("Спасибо!", "")
    assert split_reply("Спасибо, всё заработало!\n\nСпасибо!")[0] == "Спасибо, всё заработало!"


def test_a_colon_line_without_date_or_quote_is_not_an_attribution():
    body = "Поставщик написал:\nкартридж будет в пятницу.\nПрошу проверить заказ."
    assert split_reply(body) == (body, "")


def test_windows_line_endings_and_empty_body():
    assert split_reply("Нет интернета.\r\n\r\n> старое\r\n") == ("Нет интернета.", "> старое")
    assert split_reply("") == ("", "")


_LINES = st.sampled_from(
    [
        "Не печатает принтер.",
        "",
        "> Перезагрузите.",
        "On Mon, Nov 23, 2026 at 10:15 AM Ivan <ivan@x.ru> wrote:",
        "23.11.2026 10:15, Service Desk пишет:",
        "-- ",
        "С уважением,",
        "Иван Петров",
        "Тел.: +7 495 777-10-10",
        "Sent from my iPhone",
        "-----Original Message-----",
        "From: Service Desk <sd@x.ru>",
        "Sent: Monday, November 23, 2026 10:15 AM",
        "Subject: RE: заявка",
        "---------- Forwarded message ---------",
    ]
)


@given(st.lists(_LINES, max_size=25))
def test_no_line_is_lost_or_duplicated(lines):
    body = "\n".join(lines)
    fresh, history = split_reply(body)

    def nonblank(text: str) -> Counter:
        return Counter(line.strip() for line in text.splitlines() if line.strip())

    assert nonblank(fresh) + nonblank(history) == nonblank(body)


# ---------------------------------------------------------------------------
# normalize_words
# ---------------------------------------------------------------------------


def test_russian_inflections_reduce_to_one_lemma():
    assert normalize_words("Принтера, принтеры, принтером, ПРИНТЕРУ") == ["принтер"] * 4
    assert normalize_words("учётной записи, учетная запись") == ["учетный", "запись"] * 2


def test_reflexive_and_passive_verb_forms_meet():
    assert normalize_words("сломался сломалась сломан сломали") == ["сломать"] * 4
    assert normalize_word("печатается") == normalize_word("печатает") == "печатать"


def test_yo_is_e():
    assert normalize_words("Ёлка ёлка елка") == ["елка"] * 3


@pytest.mark.parametrize("spelling", ["1С", "1с", "1C", "1c", "1ска", "1Cке", "1сник"])
def test_one_c_in_either_script_is_one_token(spelling):
    assert normalize_words(f"ошибка в {spelling}") == ["ошибка", "в", "1с"]


def test_one_c_with_its_product_name():
    assert normalize_words("1С:Бухгалтерия") == ["1с", "бухгалтерия"]


def test_english_words_are_stemmed():
    assert normalize_words("Printers printing printer") == ["printer", "print", "printer"]
    assert normalize_words("passwords emails") == ["password", "email"]


def test_look_alike_latin_letters_in_a_russian_word_are_read_as_cyrillic():
    assert normalize_word("пpинтер") == "принтер"  # Latin "p"


def test_hyphenated_words_split_into_their_parts():
    assert normalize_words("Wi-Fi, e-mail, IP-телефон") == ["wi", "fi", "e", "mail", "ip", "телефон"]


def test_digits_and_punctuation():
    assert normalize_words("Ошибка 0x80070005 на 3-м этаже!!!") == [
        "ошибка",
        "0x80070005",
        "на",
        "3",
        "м",
        "этаж",
    ]
    assert normalize_words("") == []
    assert normalize_words("... — !!!") == []


def test_slang_unknown_to_the_dictionary_keeps_one_form_across_inflections():
    assert len({normalize_word(w) for w in ("учетка", "учетку", "учетки", "учетке")}) == 1
    assert len({normalize_word(w) for w in ("аутлук", "аутлука", "аутлуке")}) == 1


def test_variants_of_a_word_cover_every_inflection():
    (variants,) = normal_variants("гарнитура")
    for form in ("гарнитура", "гарнитуру", "гарнитуры", "гарнитурой", "гарнитур"):
        assert normalize_word(form) in variants
    (rights,) = normal_variants("право")
    assert normalize_word("правой") not in rights


def test_normalisation_is_cached_per_word():
    normalize_word.cache_clear()
    normalize_words("принтер принтер принтер")
    info = normalize_word.cache_info()
    assert (info.misses, info.hits) == (1, 2)
