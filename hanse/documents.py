"""Documents: a department's HTML templates rendered to PDF (WeasyPrint) once, stored, and served as stored.

An invoice, a packing list or a certificate of origin is a legal record: the file handed out the
second time must be the file handed out the first time, even after a template or a setting
changed. So `produce()` renders a document under a key (`invoice:<id>`,
`shipment:<id>:packing_list`) only if that key has no document yet, stores the bytes in the
service's `document` table and returns the stored row ever after.

Templates live in `services/<dept>/templates/documents/<name>.<language>.html` (falling back to
`en`), may `{% extends %}` a shared layout and link a stylesheet next to them; they get the
`money`, `number` and `day` filters that format for the reader's locale. Rendering an invoice takes
about 40 ms of CPU (holding the GIL most of it), so it runs on one worker thread (Pango is not
safe to drive from several threads at once), never on the event loop, and only when a document
is first asked for.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.db import upsert
from hanse.events import utcnow
from hanse.mail import Attachment, language_for, template_environment

PDF = "application/pdf"
_renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hanse-pdf")


class DocumentTemplates:
    """A department's document templates: `<folder>/<name>.<language>.html`, rendered to PDF."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ValueError(f"document templates folder {folder} does not exist")
        self.folder = folder
        self.env = template_environment(folder)

    def language_for(self, name: str, language: str | None) -> str:
        return language_for(self.folder, name, ".html", language)

    def render_html(self, name: str, language: str | None, context: Mapping[str, Any]) -> tuple[str, str]:
        """(language used, HTML) for the template in the reader's language."""
        chosen = self.language_for(name, language)
        html = self.env.get_template(f"{name}.{chosen}.html").render({**context, "language": chosen})
        return chosen, html

    def render_pdf(self, name: str, language: str | None, context: Mapping[str, Any]) -> tuple[str, bytes]:
        from weasyprint import HTML  # imported on first use: it loads Pango and fonts (~0.5 s)

        chosen, html = self.render_html(name, language, context)
        # base_url lets a template link its stylesheet and images relative to the folder.
        return chosen, HTML(string=html, base_url=str(self.folder)).write_pdf(font_config=_font_config())


@functools.cache
def _font_config() -> Any:
    """One font configuration for every render (on the one renderer thread): building it per
    document was a sixth of an invoice's 50 ms of CPU; the PDF comes out the same."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@dataclass(frozen=True)
class StoredDocument:
    key: str
    template: str
    language: str
    filename: str
    content_type: str
    content: bytes
    sha256: str
    created_at: datetime

    def as_attachment(self) -> Attachment:
        return Attachment(self.filename, self.content_type, self.content)


def _templates(session: AsyncSession) -> DocumentTemplates:
    templates: DocumentTemplates | None = session.info.get("document_templates")
    if templates is None:
        raise RuntimeError("this service has no document templates: add templates/documents/ to its folder")
    return templates


async def stored(session: AsyncSession, key: str) -> StoredDocument | None:
    """The document stored under `key`, or None if it was never produced."""
    table = session.info["tables"]["document"]
    conn = await session.connection()
    row = (await conn.execute(select(table).where(table.c.key == key))).first()
    if row is None:
        return None
    return StoredDocument(
        row.key,
        row.template,
        row.language,
        row.filename,
        row.content_type,
        row.content,
        row.sha256,
        row.created_at,
    )


async def produce(
    session: AsyncSession,
    key: str,
    template: str,
    *,
    language: str | None,
    context: Mapping[str, Any],
    filename: str,
) -> StoredDocument:
    """The document under `key`: the stored one if it exists, else rendered now and stored in this transaction."""
    existing = await stored(session, key)
    if existing is not None:
        return existing
    templates = _templates(session)
    loop = asyncio.get_running_loop()
    chosen, content = await loop.run_in_executor(_renderer, templates.render_pdf, template, language, dict(context))
    table = session.info["tables"]["document"]
    conn = await session.connection()
    values = {
        "key": key,
        "template": template,
        "language": chosen,
        "filename": filename,
        "content_type": PDF,
        "content": content,
        "sha256": hashlib.sha256(content).hexdigest(),
        "created_at": utcnow(),
    }
    # Two first requests may race: the first insert wins and both answer with its file.
    await conn.execute(upsert(conn, table).values(**values).on_conflict_do_nothing(index_elements=["key"]))
    result = await stored(session, key)
    assert result is not None  # inserted above, or by the request that won the race
    return result


__all__ = ["PDF", "DocumentTemplates", "StoredDocument", "produce", "stored"]
