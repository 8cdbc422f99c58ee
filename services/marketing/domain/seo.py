"""SEO: the products sales created, their localized page metadata, and the sitemap built from it."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict
from hanse.events import utcnow
from hanse.pagination import get_or_404
from services.marketing.config import UoW
from services.marketing.models import Product, SeoMetadata, SeoPut
from services.sales.contract import ProductCreated


async def record_product(uow: UoW, product: ProductCreated) -> None:
    """A product sales created: its pages may now get metadata (the same event twice changes nothing)."""
    if await uow.session.get(Product, product.sku) is None:
        uow.session.add(Product(sku=product.sku, name=product.name, created_at=utcnow()))


async def put_metadata(uow: UoW, sku: str, language: str, body: SeoPut) -> SeoMetadata:
    """Create or replace the metadata of one product page; a slug is unique per language."""
    product = await get_or_404(uow.session, Product, sku, what="product", field="sku")
    taken = await uow.session.exec(
        select(SeoMetadata.sku).where(
            SeoMetadata.language == language, SeoMetadata.slug == body.slug, SeoMetadata.sku != product.sku
        )
    )
    if taken.first() is not None:
        raise Conflict(f"slug {body.slug!r} is used by another product in {language}", field="slug")
    meta = await uow.session.get(SeoMetadata, (product.sku, language))
    if meta is None:
        meta = SeoMetadata(sku=product.sku, language=language, updated_at=utcnow(), **body.model_dump())
    else:
        for name, value in body.model_dump().items():
            setattr(meta, name, value)
        meta.updated_at = utcnow()
    uow.session.add(meta)
    try:
        await uow.commit()
    except IntegrityError:  # a concurrent write took the page or the slug first
        await uow.rollback()
        raise Conflict(
            f"the {language} page of {sku} or its slug was written concurrently; retry", field="slug"
        ) from None
    return meta


async def get_metadata(session: AsyncSession, sku: str, language: str) -> SeoMetadata:
    await get_or_404(session, Product, sku, what="product", field="sku")
    return await get_or_404(session, SeoMetadata, (sku, language), what=f"SEO metadata in {language}", field="language")


async def pages_by_product(session: AsyncSession) -> dict[str, list[SeoMetadata]]:
    """Every product's localized pages (only products with metadata: the others are left out)."""
    rows = await session.exec(select(SeoMetadata).order_by(col(SeoMetadata.sku), col(SeoMetadata.language)))
    pages: dict[str, list[SeoMetadata]] = defaultdict(list)
    for meta in rows.all():
        pages[meta.sku].append(meta)
    return dict(pages)
