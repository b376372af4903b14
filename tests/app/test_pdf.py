"""The kernel's PDF documents: French text survives, tables span pages, the file is a real PDF."""

from __future__ import annotations

import io

from pypdf import PdfReader

from app.pdf import document, pdf_bytes


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_a_document_keeps_french_text_and_numbers_its_pages():
    doc = document("Rapport de maintenance préventive", "Site « Le Mans » — décembre 2026")
    doc.heading("Contrôles")
    doc.key_values([("Borne", "FR072B0001S01"), ("Coût", "12,50 €"), ("Œuvre", "l’intervention")])
    doc.table_of(["Point", "Contrôle", "Résultat"], [[f"P{i}", "Température interne", "non remonté"]
                                                     for i in range(120)])
    data = pdf_bytes(doc)
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 3  # 120 rows do not fit on one page
    text = _text(data)
    assert "préventive" in text and "P119" in text
    assert "page 1/" in text
    # With DejaVu (Debian's fonts-dejavu-core) the € and the ’ are kept; otherwise spelt in Latin-1.
    assert "12,50 €" in text or "12,50 EUR" in text


def test_formula_like_and_markup_text_is_written_as_text():
    doc = document("Essai")
    doc.paragraph('=HYPERLINK("http://evil.example") <b>gras</b>')
    assert '=HYPERLINK("http://evil.example") <b>gras</b>' in _text(pdf_bytes(doc))
