"""The catalogue: adding products with their price tiers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict
from services.sales import views
from services.sales.config import UoW
from services.sales.domain.rules import CatalogueItem, check_price_tiers
from services.sales.models import PriceTier, Product, ProductBase, ProductCreate


async def create_product(uow: UoW, data: ProductCreate) -> tuple[Product, list[PriceTier]]:
    check_price_tiers(data.unit_price.currency, [(t.min_quantity, t.unit_price.currency) for t in data.price_tiers])
    session = uow.session
    if await session.get(Product, data.sku) is not None:
        raise Conflict(f"a product with sku {data.sku} exists", field="sku")
    dims = data.dimensions_cm
    product = Product(
        **data.model_dump(include=set(ProductBase.model_fields)),
        unit_price=data.unit_price.amount,
        currency=data.unit_price.currency,
        length_cm=dims.length if dims else None,
        width_cm=dims.width if dims else None,
        height_cm=dims.height if dims else None,
    )
    session.add(product)
    await session.flush()
    tiers = [
        PriceTier(sku=data.sku, min_quantity=t.min_quantity, unit_price=t.unit_price.amount)
        for t in sorted(data.price_tiers, key=lambda t: t.min_quantity)
    ]
    session.add_all(tiers)
    await uow.publish(views.product_created(product), correlation_id=product.sku)
    return product, tiers


# Built once, the skus bound per call: building the IN clause and its cache key on every call cost
# more than running it (py-spy on the product GET: 16 % of the request, docs/performance.md).
_TIERS = (
    select(PriceTier)
    .where(PriceTier.sku.in_(bindparam("skus", expanding=True)))
    .order_by(PriceTier.sku, PriceTier.min_quantity)
)


async def tiers_of(session: AsyncSession, skus: Sequence[str]) -> dict[str, list[PriceTier]]:
    found: dict[str, list[PriceTier]] = {sku: [] for sku in skus}
    if skus:
        rows = await session.exec(_TIERS, params={"skus": list(skus)})
        for tier in rows:
            found[tier.sku].append(tier)
    return found


async def catalogue_of(session: AsyncSession, skus: Sequence[str]) -> dict[str, CatalogueItem]:
    """The products of these skus (those that exist) as the pricing rules see them."""
    products = (await session.exec(select(Product).where(Product.sku.in_(list(skus))))).all()
    tiers = await tiers_of(session, [p.sku for p in products])
    return {p.sku: catalogue_item(p, tiers[p.sku]) for p in products}


# What the pricing rules read of a product row as it is; its tiers and dimensions are reshaped.
ITEM_FIELDS = {f.name for f in fields(CatalogueItem)} - {"tiers", "dimensions_cm"}


def catalogue_item(product: Product, tiers: Sequence[PriceTier]) -> CatalogueItem:
    dims = (product.length_cm, product.width_cm, product.height_cm)
    return CatalogueItem(
        **product.model_dump(include=ITEM_FIELDS),
        tiers=tuple((t.min_quantity, t.unit_price) for t in tiers),
        dimensions_cm=dims if all(d is not None for d in dims) else None,  # type: ignore[arg-type]
    )
