"""CSV exports speak the reader's language: the processing report's header follows the signed-in
user's language (Russian by default, English for a user who chose it), the BOM stays first."""

from __future__ import annotations

from sqlalchemy import update

from desk.models import User
from tests.web_helpers import seeded_fixture, staff_client  # noqa: F401  (fixture "seeded")


def header(app, username: str) -> str:
    exported = staff_client(app, username).get("/reports/processing.csv")
    assert exported.status_code == 200
    text = exported.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return text[1:].splitlines()[0]


def test_the_report_header_is_in_russian_for_a_russian_reader(seeded):
    assert header(seeded, "manager").startswith("Номер,Категория,Исполнитель,Канал,Приоритет,Создана")
    assert "SLA соблюдён" in header(seeded, "manager")


def test_the_report_header_is_in_english_for_an_english_reader(seeded):
    with seeded.extensions["sessions"].begin() as session:
        session.execute(update(User).where(User.username == "manager").values(language="en"))
    assert header(seeded, "manager") == (
        "Number,Category,Executor,Channel,Priority,Created,Taken,Done,Processing, min,"
        "Processing bucket,Pickup, min,Pickup late,SLA met"
    ).replace("Processing, min", '"Processing, min"').replace("Pickup, min", '"Pickup, min"')
