"""Paid field work: the price list, who does which request type, deals with lines, invoices, payments.

Money is `Decimal` with two places, rounded half-up per line as a Russian invoice prints
it (each line's VAT is rounded, the totals are the sums of the printed figures), so the
PDF, the e-mail and the database always agree to the kopeck.

Invoice numbers come from a counter row incremented inside the transaction that stores
the invoice: concurrent creators queue on that row (PostgreSQL row lock, SQLite's single
writer), and a rolled-back invoice gives its number back, so numbers never repeat and
never skip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ForeignKey, Integer, Numeric, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from desk import crm
from desk.errors import DeskError
from desk.models import Base, Contact, Deal, Request, deal_contact
from desk.phones import try_normalize_phone

KOPECK = Decimal("0.01")
DEFAULT_VAT_PERCENT = Decimal("22")  # Russia's general rate from 2026-01-01
INVOICE_SEQUENCE = "invoice"
NBSP = "\u00a0"
LINE_SEPARATOR = re.compile(r"[;\n]|,(?!\d)")


class Product(Base):
    """A price-list position; prices are net of VAT."""

    __tablename__ = "product"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    unit: Mapped[str] = mapped_column(String(16), default="шт")
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=DEFAULT_VAT_PERCENT)
    active: Mapped[bool] = mapped_column(default=True)


class FieldServiceRule(Base):
    """Request type -> the specialist who does the work and the administrator who sets it (admin-editable)."""

    __tablename__ = "field_service_rule"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_type: Mapped[str] = mapped_column(String(32), unique=True)
    title_ru: Mapped[str] = mapped_column(String(255), default="")
    title_en: Mapped[str] = mapped_column(String(255), default="")
    specialist: Mapped[str] = mapped_column(String(64))
    administrator: Mapped[str] = mapped_column(String(64))


class DealLine(Base):
    """A product sold in a deal, with the price it was sold at."""

    __tablename__ = "deal_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deal.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))


class NumberSequence(Base):
    """A gap-free counter (invoice numbers)."""

    __tablename__ = "number_sequence"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(Base):
    """An issued invoice; `lines` are frozen as printed, so later price changes do not rewrite it."""

    __tablename__ = "invoice"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deal.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"))
    issued_at: Mapped[datetime]
    lines: Mapped[list[Any]] = mapped_column(default=list)
    net: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    vat: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    status: Mapped[str] = mapped_column(String(16), default="issued")
    paid_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)


class Payment(Base):
    """Money received against an invoice; `reference` (bank or UI key) makes recording it idempotent."""

    __tablename__ = "payment"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    paid_at: Mapped[datetime]
    reference: Mapped[str] = mapped_column(String(128), unique=True)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


# ----------------------------------------------------------------------------- errors


class BillingError(DeskError):
    """Base for billing problems a user can fix."""


class UnknownProductError(BillingError, LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"product {code!r} is not in the price list")
        self.code = code


class InvalidLinesError(BillingError, ValueError):
    """The product list typed in a form cannot be read."""


class UnknownRequestTypeError(BillingError, LookupError):
    def __init__(self, request_type: str) -> None:
        super().__init__(
            f"no field-service rule for request type {request_type!r}: add one on the admin page"
        )
        self.request_type = request_type


class InvoiceNotFoundError(BillingError, LookupError):
    def __init__(self, number: str) -> None:
        super().__init__(f"invoice {number!r} does not exist")
        self.number = number


class PaymentMismatchError(BillingError, ValueError):
    """A payment that does not cover the invoice: recorded nowhere, the user is told the difference."""


# ----------------------------------------------------------------------------- pure money


@dataclass(frozen=True)
class LineItem:
    """One invoice line as printed."""

    code: str
    name: str
    unit: str
    quantity: Decimal
    price: Decimal
    vat_percent: Decimal

    @property
    def net(self) -> Decimal:
        return (self.quantity * self.price).quantize(KOPECK, ROUND_HALF_UP)

    @property
    def vat(self) -> Decimal:
        return (self.net * self.vat_percent / 100).quantize(KOPECK, ROUND_HALF_UP)

    @property
    def total(self) -> Decimal:
        return self.net + self.vat

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "name": self.name,
            "unit": self.unit,
            "quantity": str(self.quantity.normalize()),
            "price": str(self.price),
            "vat_percent": str(self.vat_percent.normalize()),
            "net": str(self.net),
            "vat": str(self.vat),
            "total": str(self.total),
        }


@dataclass(frozen=True)
class Totals:
    net: Decimal
    vat: Decimal
    total: Decimal


def totals(lines: Iterable[LineItem]) -> Totals:
    """Sums of the printed line figures (a grand net recomputed could differ by a kopeck)."""
    items = list(lines)
    net = sum((line.net for line in items), Decimal("0.00"))
    vat = sum((line.vat for line in items), Decimal("0.00"))
    return Totals(net, vat, net + vat)


def parse_lines(text: str) -> list[tuple[str, Decimal]]:
    """Read "CABLE-10:2, VISIT" (code[:quantity], comma or newline separated) into (code, quantity) pairs.

    This is what the administrator types in the conversion form; a repeated code adds up.
    A comma before a digit is a decimal comma ("1,5"), any other comma separates positions.
    """
    merged: dict[str, Decimal] = {}
    for chunk in LINE_SEPARATOR.split(text):
        chunk = chunk.strip()
        if not chunk:
            continue
        code, _, qty = chunk.partition(":")
        code = code.strip().upper()
        if not code:
            raise InvalidLinesError(f"{chunk!r}: a product code is missing before ':'")
        try:
            quantity = Decimal(qty.strip().replace(",", ".")) if qty.strip() else Decimal(1)
        except InvalidOperation:
            raise InvalidLinesError(f"{chunk!r}: quantity {qty.strip()!r} is not a number") from None
        if quantity <= 0 or quantity != quantity.quantize(Decimal("0.001")):
            raise InvalidLinesError(f"{chunk!r}: quantity must be positive with at most 3 decimals")
        merged[code] = merged.get(code, Decimal(0)) + quantity
    if not merged:
        raise InvalidLinesError("no products given: write codes like CABLE-10:2, VISIT")
    return list(merged.items())


def money(value: Decimal) -> str:
    """12 345,60 — the Russian way of printing an amount."""
    whole, _, cents = f"{value.quantize(KOPECK, ROUND_HALF_UP):,.2f}".partition(".")
    return whole.replace(",", NBSP) + "," + cents


# ----------------------------------------------------------------------------- with a session


def price_list(session: Session) -> list[Product]:
    return list(session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.code)))


def line_items(session: Session, wanted: Sequence[tuple[str, Decimal]]) -> list[LineItem]:
    """Price the wanted (code, quantity) pairs from the current price list."""
    products = {
        p.code: p for p in session.scalars(select(Product).where(Product.code.in_([c for c, _ in wanted])))
    }
    items = []
    for code, quantity in wanted:
        product = products.get(code)
        if product is None or not product.active:
            raise UnknownProductError(code)
        items.append(
            LineItem(
                code,
                product.name,
                product.unit,
                quantity,
                Decimal(product.price),
                Decimal(product.vat_percent),
            )
        )
    return items


def rule_for(session: Session, request_type: str) -> FieldServiceRule:
    rule = session.scalars(
        select(FieldServiceRule).where(FieldServiceRule.request_type == request_type)
    ).first()
    if rule is None:
        raise UnknownRequestTypeError(request_type)
    return rule


def is_field_service_type(session: Session, request_type: str | None) -> bool:
    if not request_type:
        return False
    return (
        session.scalar(select(FieldServiceRule.id).where(FieldServiceRule.request_type == request_type))
        is not None
    )


@dataclass(frozen=True)
class Conversion:
    contact: Contact
    deal: Deal
    contact_matched: bool


def convert_request(
    session: Session,
    request: Request,
    *,
    now: datetime,
    specialist: str,
    administrator: str,
    items: Sequence[LineItem],
    contact_id: int | None = None,
    name: str = "",
    email: str | None = None,
    phone: str | None = None,
) -> Conversion:
    """Turn a request into a contact (matched, never duplicated) and a deal.

    The contact's responsible becomes the specialist, so the client's later calls and
    mail reach them; the deal's responsible is the administrator who sells the work.
    Running it twice for one request returns the same deal (deal.request_id).
    """
    existing = session.scalars(select(Deal).where(Deal.request_id == request.id)).first()
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise BillingError(f"contact {contact_id} does not exist")
        matched = True
    else:
        phone_e164 = try_normalize_phone(phone) if phone else None
        contact = crm.find_contact(session, email=email or request.requester_email, phone_e164=phone_e164)
        matched = contact is not None
        if contact is None:
            contact = crm.get_or_create_contact(
                session, now=now, email=email or request.requester_email, name=name, phone_e164=phone_e164
            )
        elif phone_e164 and phone_e164 not in (contact.phones or []):
            contact.phones = [*(contact.phones or []), phone_e164]
    contact.responsible = specialist
    contact.updated_at = now
    request.contact_id = contact.id
    if existing is not None:
        return Conversion(contact, existing, matched)
    amount = totals(items).total
    deal = Deal(
        title=f"{request.number}: {request.subject}"[:255],
        amount=float(amount),
        responsible=administrator,
        status="open",
        updated_at=now,
        request_id=request.id,
    )
    session.add(deal)
    session.flush()
    session.execute(deal_contact.insert().values(deal_id=deal.id, contact_id=contact.id))
    products = {
        p.code: p.id
        for p in session.scalars(select(Product).where(Product.code.in_([i.code for i in items])))
    }
    for item in items:
        session.add(
            DealLine(
                deal_id=deal.id,
                product_id=products[item.code],
                quantity=item.quantity,
                price=item.price,
                vat_percent=item.vat_percent,
            )
        )
    session.flush()
    return Conversion(contact, deal, matched)


def deal_items(session: Session, deal: Deal) -> list[LineItem]:
    rows = session.execute(
        select(DealLine, Product)
        .join(Product, Product.id == DealLine.product_id)
        .where(DealLine.deal_id == deal.id)
    ).all()
    return [
        LineItem(
            p.code, p.name, p.unit, Decimal(line.quantity), Decimal(line.price), Decimal(line.vat_percent)
        )
        for line, p in rows
    ]


def next_number(session: Session, name: str = INVOICE_SEQUENCE) -> int:
    """The next value of a gap-free counter, in the caller's transaction (see the module docstring)."""
    bump = (
        update(NumberSequence)
        .where(NumberSequence.name == name)
        .values(value=NumberSequence.value + 1)
        .returning(NumberSequence.value)
    )
    value = session.scalar(bump)
    if value is None:  # the migration seeds "invoice"; other counters start on first use
        session.add(NumberSequence(name=name, value=0))
        session.flush()
        value = session.scalar(bump)
    return value


def format_invoice_number(seq: int, year: int) -> str:
    return f"СЧ-{year}-{seq:06d}"


def issue_invoice(
    session: Session,
    deal: Deal,
    *,
    now: datetime,
    request: Request | None = None,
    contact: Contact | None = None,
    idempotency_key: str | None = None,
) -> Invoice:
    """Issue the deal's invoice once per idempotency key, numbered from the gap-free counter."""
    if idempotency_key:
        existing = session.scalars(select(Invoice).where(Invoice.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return existing
    items = deal_items(session, deal)
    if not items:
        raise BillingError(f"deal {deal.id} has no products to invoice")
    sums = totals(items)
    seq = next_number(session)
    invoice = Invoice(
        number=format_invoice_number(seq, now.year),
        seq=seq,
        deal_id=deal.id,
        request_id=request.id if request else None,
        contact_id=contact.id if contact else None,
        issued_at=now,
        lines=[item.to_dict() for item in items],
        net=sums.net,
        vat=sums.vat,
        total=sums.total,
        status="issued",
        idempotency_key=idempotency_key,
    )
    session.add(invoice)
    session.flush()
    return invoice


def get_invoice(session: Session, number: str) -> Invoice:
    invoice = session.scalars(select(Invoice).where(Invoice.number == number)).first()
    if invoice is None:
        raise InvoiceNotFoundError(number)
    return invoice


def record_payment(
    session: Session,
    invoice: Invoice,
    *,
    now: datetime,
    reference: str,
    amount: Decimal | None = None,
    recorded_by: str | None = None,
) -> tuple[Payment, bool]:
    """Record payment in full; returns (payment, created). The same reference twice records once."""
    existing = session.scalars(select(Payment).where(Payment.reference == reference)).first()
    if existing is not None:
        return existing, False
    if invoice.status == "paid":
        paid = session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).first()
        return paid, False
    amount = Decimal(invoice.total) if amount is None else amount.quantize(KOPECK, ROUND_HALF_UP)
    if amount != Decimal(invoice.total):
        raise PaymentMismatchError(
            f"invoice {invoice.number} is {money(Decimal(invoice.total))} RUB, "
            f"the payment is {money(amount)} RUB: partial payments are not accepted"
        )
    payment = Payment(
        invoice_id=invoice.id, amount=amount, paid_at=now, reference=reference, recorded_by=recorded_by
    )
    session.add(payment)
    invoice.status = "paid"
    invoice.paid_at = now
    session.flush()
    return payment, True


def close_deal(session: Session, deal: Deal, *, now: datetime) -> None:
    deal.status = "won"
    deal.updated_at = now
