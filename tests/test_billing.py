"""Money, product lines, invoice numbering and payments (desk.billing), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import select

from desk import billing
from desk.invoice_pdf import InvoiceDocument, InvoiceFontMissingError, render_pdf
from desk.models import Deal
from tests.conftest import make_app

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def item(code: str, qty: str, price: str, vat: str = "22") -> billing.LineItem:
    return billing.LineItem(code, code.title(), "шт", Decimal(qty), Decimal(price), Decimal(vat))


def test_each_line_is_rounded_as_printed_and_totals_add_the_printed_figures():
    lines = [item("A", "3", "0.35"), item("B", "1", "0.35"), item("C", "0.333", "100.00", "20")]
    # 1.05 * 22% = 0.231 -> 0.23; 0.35 * 22% = 0.077 -> 0.08; 33.30 * 20% = 6.66
    assert [line.vat for line in lines] == [Decimal("0.23"), Decimal("0.08"), Decimal("6.66")]
    sums = billing.totals(lines)
    assert sums == billing.Totals(Decimal("34.70"), Decimal("6.97"), Decimal("41.67"))


def test_amounts_print_the_russian_way():
    assert billing.money(Decimal("1234567.5")) == "1\u00a0234\u00a0567,50"
    assert billing.money(Decimal("0.005")) == "0,01"


def test_product_lines_typed_by_an_administrator_are_read_and_merged():
    assert billing.parse_lines("cable-10:2, VISIT\nCABLE-10: 1,5") == [
        ("CABLE-10", Decimal("3.5")),
        ("VISIT", Decimal("1")),
    ]


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "no products given"),
        ("VISIT:two", "quantity 'two' is not a number"),
        ("VISIT:-1", "must be positive"),
        (":3", "product code is missing"),
        ("VISIT:0.0001", "at most 3 decimals"),
    ],
)
def test_unreadable_product_lines_say_what_is_wrong(text, says):
    with pytest.raises(billing.InvalidLinesError, match=says):
        billing.parse_lines(text)


def test_the_pdf_opens_and_carries_the_number_the_lines_and_the_total():
    lines = [item("VISIT", "1", "1500"), item("CABLE", "2", "450")]
    sums = billing.totals(lines)
    doc = InvoiceDocument(
        "СЧ-2026-000007", "23.11.2026", "ООО «Сервис»", "ИНН 7700000000", "Иван Петров",
        [line.to_dict() for line in lines], sums.net, sums.vat, sums.total, "REQ-000042",
    )  # fmt: skip
    text = pypdf.PdfReader(io.BytesIO(render_pdf(doc))).pages[0].extract_text()
    assert "СЧ-2026-000007" in text and "Иван Петров" in text and "REQ-000042" in text
    assert "2 928,00" in text.replace("\u00a0", " ")


def test_a_missing_font_is_named_not_rendered_as_question_marks(tmp_path):
    doc = InvoiceDocument("N", "d", "s", "", "b", [], Decimal(0), Decimal(0), Decimal(0))
    with pytest.raises(InvoiceFontMissingError, match="INVOICE_FONT"):
        render_pdf(doc, tmp_path / "nope.ttf")


@pytest.fixture
def billing_db(any_app):
    from web.demo import seed_field_service

    sessions = any_app.extensions["sessions"]
    with sessions() as session, session.begin():
        seed_field_service(session)
    return sessions


def make_deal(sessions, title: str = "Подключение") -> int:
    with sessions() as session, session.begin():
        deal = Deal(title=title, amount=0, responsible="dispatcher", updated_at=NOW)
        session.add(deal)
        session.flush()
        items = billing.line_items(session, [("VISIT", Decimal(1)), ("CABLE-10", Decimal(2))])
        for i in items:
            product = session.scalars(select(billing.Product).where(billing.Product.code == i.code)).one()
            session.add(
                billing.DealLine(
                    deal_id=deal.id,
                    product_id=product.id,
                    quantity=i.quantity,
                    price=i.price,
                    vat_percent=i.vat_percent,
                )
            )
        return deal.id


def test_an_invoice_is_issued_once_per_key_and_numbered_in_sequence(billing_db):
    deal_id = make_deal(billing_db)
    with billing_db() as session, session.begin():
        deal = session.get(Deal, deal_id)
        first = billing.issue_invoice(session, deal, now=NOW, idempotency_key="job:1")
        again = billing.issue_invoice(session, deal, now=NOW, idempotency_key="job:1")
        second = billing.issue_invoice(session, deal, now=NOW, idempotency_key="job:2")
        assert first.id == again.id
        assert (first.number, second.number) == ("СЧ-2026-000001", "СЧ-2026-000002")
        assert first.total == Decimal("2928.00") and first.vat == Decimal("528.00")


def test_a_rolled_back_invoice_gives_its_number_back(billing_db):
    deal_id = make_deal(billing_db)
    with billing_db() as session:
        with session.begin():
            billing.issue_invoice(session, session.get(Deal, deal_id), now=NOW)
        session.begin()
        billing.issue_invoice(session, session.get(Deal, deal_id), now=NOW)
        session.rollback()
        with session.begin():
            third = billing.issue_invoice(session, session.get(Deal, deal_id), now=NOW)
        assert third.seq == 2


def test_payment_must_cover_the_invoice_and_is_recorded_once_per_reference(billing_db):
    deal_id = make_deal(billing_db)
    with billing_db() as session, session.begin():
        invoice = billing.issue_invoice(session, session.get(Deal, deal_id), now=NOW)
        with pytest.raises(billing.PaymentMismatchError, match="2\u00a0928,00 RUB, the payment is 100,00"):
            billing.record_payment(session, invoice, now=NOW, reference="bank-1", amount=Decimal("100"))
        assert invoice.status == "issued"
        payment, created = billing.record_payment(session, invoice, now=NOW, reference="bank-1")
        again, created_again = billing.record_payment(session, invoice, now=NOW, reference="bank-1")
        assert created and not created_again and payment.id == again.id and invoice.status == "paid"


def test_unknown_products_and_request_types_are_named(billing_db):
    with billing_db() as session:
        with pytest.raises(billing.UnknownProductError, match="'LASER' is not in the price list"):
            billing.line_items(session, [("LASER", Decimal(1))])
        with pytest.raises(billing.UnknownRequestTypeError, match="'teleport'"):
            billing.rule_for(session, "teleport")


@pytest.mark.postgres
def test_fifty_invoices_created_concurrently_get_fifty_consecutive_numbers(postgres_url):
    app = make_app(postgres_url)
    try:
        sessions = app.extensions["sessions"]
        from web.demo import seed_field_service

        with sessions() as session, session.begin():
            seed_field_service(session)
        deal_id = make_deal(sessions)
        barrier = threading.Barrier(10)
        failures: list[BaseException] = []

        def create(worker: int) -> None:
            try:
                barrier.wait()
                for n in range(5):
                    with sessions() as session, session.begin():
                        billing.issue_invoice(
                            session, session.get(Deal, deal_id), now=NOW, idempotency_key=f"w{worker}:{n}"
                        )
            except BaseException as err:  # noqa: BLE001 - reported below
                failures.append(err)

        threads = [threading.Thread(target=create, args=(w,)) for w in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        with sessions() as session:
            seqs = sorted(session.scalars(select(billing.Invoice.seq)))
            numbers = set(session.scalars(select(billing.Invoice.number)))
        assert seqs == list(range(1, 51))
        assert len(numbers) == 50
    finally:
        app.extensions["db_engine"].dispose()
