"""An invoice as a PDF (fpdf2), the attachment the client receives by e-mail.

fpdf2's built-in fonts are Latin-1 only, so a Unicode TrueType font is required for
Cyrillic; its path comes from configuration (INVOICE_FONT, Debian's DejaVu Sans by
default) and a missing font is a clear error, not a PDF of question marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF, FontFace

from desk.billing import money
from desk.errors import DeskError

DEFAULT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


class InvoiceFontMissingError(DeskError, FileNotFoundError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"invoice font {path} not found: install Debian's fonts-dejavu-core "
            "or point INVOICE_FONT at a TrueType font with Cyrillic glyphs"
        )


@dataclass(frozen=True)
class InvoiceDocument:
    """What is printed: the seller, the buyer and the frozen lines of desk.billing.Invoice."""

    number: str
    issued_on: str
    seller: str
    seller_details: str
    buyer: str
    lines: list[dict[str, str]]
    net: Decimal
    vat: Decimal
    total: Decimal
    request_number: str | None = None


def render_pdf(doc: InvoiceDocument, font: Path = DEFAULT_FONT) -> bytes:
    if not font.is_file():
        raise InvoiceFontMissingError(font)
    pdf = FPDF(format="A4")
    pdf.set_title(f"Счёт {doc.number}")
    pdf.set_author(doc.seller)
    pdf.add_font("Body", "", str(font))
    pdf.add_page()
    pdf.set_font("Body", size=16)
    pdf.cell(0, 10, f"Счёт на оплату № {doc.number} от {doc.issued_on}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Body", size=10)
    pdf.multi_cell(0, 5, f"Поставщик: {doc.seller}\n{doc.seller_details}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.multi_cell(0, 5, f"Покупатель: {doc.buyer}", new_x="LMARGIN", new_y="NEXT")
    if doc.request_number:
        pdf.multi_cell(0, 5, f"Основание: обращение {doc.request_number}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Body", size=9)
    widths = (8, 72, 16, 14, 24, 16, 24)
    align = ("RIGHT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT")
    heading = FontFace(emphasis="", fill_color=(230, 230, 230))
    with pdf.table(col_widths=widths, text_align=align, headings_style=heading) as table:
        table.row(("№", "Товар, работа, услуга", "Кол-во", "Ед.", "Цена", "НДС, %", "Сумма"))
        for position, line in enumerate(doc.lines, start=1):
            table.row(
                (
                    str(position),
                    line["name"],
                    line["quantity"],
                    line["unit"],
                    money(Decimal(line["price"])),
                    line["vat_percent"],
                    money(Decimal(line["net"])),
                )
            )
    pdf.ln(3)
    pdf.set_font("Body", size=10)
    for label, amount in (("Итого без НДС:", doc.net), ("НДС:", doc.vat), ("Всего к оплате:", doc.total)):
        pdf.cell(150, 6, label, align="R")
        pdf.cell(0, 6, f"{money(amount)} руб.", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
