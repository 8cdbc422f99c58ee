"""The kernel's documents: a PDF is rendered once in the reader's language, stored, and the same file after."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pypdf
import pytest

from hanse.db import Database, model_base
from hanse.documents import DocumentTemplates
from hanse.uow import UnitOfWork
from tests.conftest import make_settings

Model = model_base("papers")


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "base.html").write_text(
        '<html><head><link rel="stylesheet" href="style.css"></head><body>{% block body %}{% endblock %}</body></html>'
    )
    (folder / "style.css").write_text("body { font-family: 'DejaVu Sans', 'WenQuanYi Micro Hei'; }")
    (folder / "note.en.html").write_text(
        '{% extends "base.html" %}{% block body %}<h1>Delivery note {{ number }}</h1>'
        "<p>Total {{ total | money(currency, language) }}</p><p>{{ who }}</p>{% endblock %}"
    )
    (folder / "note.de.html").write_text(
        '{% extends "base.html" %}{% block body %}<h1>Lieferschein {{ number }}</h1>'
        "<p>Summe {{ total | money(currency, language) }}</p><p>{{ who }}</p>{% endblock %}"
    )
    return folder


@pytest.fixture
async def db(database_url: str, templates: Path):
    settings = make_settings("127.0.0.1:9", database_url)
    database = Database(
        database_url, Model.metadata, settings=settings, document_templates=DocumentTemplates(templates)
    )
    await database.create_all()
    yield database
    await database.dispose()


async def produce(db: Database, key: str, language: str | None, **context):
    async with db.session() as session:
        uow = UnitOfWork(session, db.settings, None)
        context = {"number": "LS-1", "total": "1234.50", "currency": "EUR", "who": "<b>Acme</b>", **context}
        document = await uow.document(key, "note", language=language, context=context, filename=f"{key}.pdf")
        await uow.commit()
    return document


async def test_a_document_is_rendered_in_the_readers_language_and_escaped(db: Database):
    german = await produce(db, "note:1", "de-AT")
    assert german.language == "de" and german.content.startswith(b"%PDF")
    text = pdf_text(german.content)
    assert "Lieferschein LS-1" in text and "1.234,50" in text and "<b>Acme</b>" in text

    # No Chinese template: English, the fallback.
    english = await produce(db, "note:2", "zh")
    assert english.language == "en" and "Delivery note LS-1" in pdf_text(english.content)
    assert "€1,234.50" in pdf_text(english.content)


async def test_a_stored_document_is_the_same_file_every_time_even_after_the_data_changed(db: Database):
    first = await produce(db, "note:7", "en", number="LS-7")
    again = await produce(db, "note:7", "en", number="LS-CHANGED")
    assert again.content == first.content and again.sha256 == first.sha256
    async with db.session() as session:
        found = await UnitOfWork(session, db.settings, None).stored_document("note:7")
        missing = await UnitOfWork(session, db.settings, None).stored_document("note:8")
    assert found is not None and found.content == first.content and missing is None
    assert found.as_attachment().content_type == "application/pdf"


async def test_racing_first_requests_store_one_document(db: Database):
    documents = await asyncio.gather(*(produce(db, "note:race", "en", number=f"LS-{i}") for i in range(4)))
    assert len({d.sha256 for d in documents}) == 1, "every racer answers with the one stored file"
    table = db.metadata.tables["document"]
    async with db.read_session() as session:
        rows = (await session.exec(table.select().where(table.c.key == "note:race"))).all()
    assert len(rows) == 1


async def test_a_document_without_an_english_template_is_refused(db: Database):
    with pytest.raises(LookupError, match="no en version"):
        async with db.session() as session:
            await UnitOfWork(session, db.settings, None).document(
                "x:1", "missing", language="de", context={}, filename="x.pdf"
            )
