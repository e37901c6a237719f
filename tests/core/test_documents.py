"""The kernel's document registry: a system asks for a record's PDF without knowing who renders it."""

import pytest

from apps.core import documents
from apps.core.documents import DocumentFile, DocumentUnavailable
from apps.hub.models import Company, Quote


@pytest.fixture
def quote(db):
    return Quote.objects.create(company=Company.objects.create(name="Client SA"), number="D-1")


@pytest.fixture
def clean_registry():
    saved = {model: list(entries) for model, entries in documents._sources.items()}
    documents._sources.clear()
    yield
    documents._sources.clear()
    documents._sources.update(saved)


def test_first_source_with_a_document_wins_and_none_means_no_document(quote, clean_registry):
    assert documents.pdf_for(quote) is None
    documents.register(Quote, "a", lambda obj: None)
    documents.register(Quote, "b", lambda obj: DocumentFile(f"{obj.number}.pdf", b"%PDF-1.4", "B"))
    found = documents.pdf_for(quote)
    assert (found.filename, found.source) == ("D-1.pdf", "B")


def test_an_unavailable_document_is_reported_not_skipped(quote, clean_registry):
    def down(obj):
        raise DocumentUnavailable("Invoice Ninja : injoignable")

    documents.register(Quote, "invoiceninja", down)
    with pytest.raises(DocumentUnavailable, match="injoignable"):
        documents.pdf_for(quote)


def test_invoice_ninja_registers_its_pdf_for_quotes_and_invoices():
    from apps.hub.models import Invoice

    assert any(key == "invoiceninja" for key, _ in documents._sources[Quote])
    assert any(key == "invoiceninja" for key, _ in documents._sources[Invoice])
