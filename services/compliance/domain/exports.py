"""Export control (rules by HS prefix and destination), licences, and the trade documents an order needs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import select

from hanse.errors import NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import ecb_rate
from services.compliance import views
from services.compliance.config import UoW
from services.compliance.contract import LicenceRecorded
from services.compliance.domain import audit, rules, sanctions
from services.compliance.models import Check, ExportControlCreate, ExportControlRule, Licence, LicencePublic
from services.sales.contract import OrderTerms

DATA = Path(__file__).parent.parent / "data"


@lru_cache(maxsize=1)
def default_rules() -> list[dict[str, Any]]:
    return json.loads((DATA / "export_controls.json").read_text("utf-8"))["rules"]


@lru_cache(maxsize=1)
def coo_countries() -> dict[str, str]:
    return json.loads((DATA / "certificate_of_origin.json").read_text("utf-8"))["countries"]


async def load_default_rules(uow: UoW) -> int:
    """Startup: an empty rule table gets the shipped starting set (once; officers add to it)."""
    if (await uow.session.exec(select(ExportControlRule.id).limit(1))).first() is not None:
        return 0
    now = utcnow()
    for i, rule in enumerate(default_rules(), start=1):
        body = ExportControlCreate.model_validate(rule)
        row = ExportControlRule(
            **body.model_dump(), id=f"ecr_default_{i:03d}", source="default", created_at=now, created_by="system"
        )
        uow.session.add(row)
    await audit.record(uow, "export_rules_loaded", details={"rules": len(default_rules()), "source": "default"})
    return len(default_rules())


async def add_rule(uow: UoW, body: ExportControlCreate, actor: str) -> ExportControlRule:
    destinations = list(dict.fromkeys(body.destinations))
    if "*" in destinations:
        destinations = ["*"]
    row = ExportControlRule(
        hs_prefix=body.hs_prefix,
        destinations=destinations,
        regime=body.regime,
        note=body.note,
        id=new_id("ecr"),
        source="officer",
        created_at=utcnow(),
        created_by=actor,
    )
    uow.session.add(row)
    await sanctions.bump(uow.session, "rules")  # open orders are checked against it
    await audit.record(
        uow,
        "export_rule_added",
        actor=actor,
        subject_type="export_rule",
        subject_id=row.id,
        details={"hs_prefix": row.hs_prefix, "destinations": destinations, "regime": row.regime, "note": row.note},
    )
    return row


async def rules_in_force(uow: UoW) -> list[rules.ExportRule]:
    rows = (await uow.session.exec(select(ExportControlRule).order_by(ExportControlRule.id))).all()
    return [rules.ExportRule(r.id, rules.hs_digits(r.hs_prefix), tuple(r.destinations), r.regime) for r in rows]


async def licence_reasons(uow: UoW, order: OrderTerms) -> list[str]:
    lines = [(line.sku, line.hs_code) for line in order.lines]
    return rules.export_control_hits(lines, order.destination_country, await rules_in_force(uow))


def total_in_eur(order: OrderTerms) -> Decimal | None:
    """The order total at the ECB reference rate of the day it was placed (None: no rate known)."""
    try:
        fx = ecb_rate(order.total.currency, "EUR", order.placed_at.astimezone(UTC).date())
    except ValueError:
        return None
    return (order.total.amount * fx.rate).quantize(Decimal("0.01"))


def documents_for(uow: UoW, order: OrderTerms, licence: list[str]) -> list[dict[str, str]]:
    docs = rules.required_documents(
        seller_country=uow.settings.seller_country,
        destination=order.destination_country,
        total_eur=total_in_eur(order),
        coo_countries=coo_countries(),
        licence_reasons=licence,
    )
    return [{"kind": kind, "reason": reason} for kind, reason in docs]


async def audit_incoterm(uow: UoW, order: OrderTerms) -> None:
    """A sea-only Incoterm with another transport mode is a compliance finding on record (the order
    goes on: the Incoterm misstates where risk passes, it does not make the trade illegal)."""
    valid, reason = rules.incoterm_decision(order.incoterm, order.mode)
    if valid:
        return
    await audit.record(
        uow,
        "incoterm_checked",
        subject_type="order",
        subject_id=order.order_id,
        details={"incoterm": order.incoterm, "mode": order.mode, "valid": valid, "reason": reason},
    )


async def order_check(uow: UoW, order_id: str, *, lock: bool = False) -> Check:
    query = select(Check).where(Check.subject_type == "order", Check.subject_id == order_id)
    check = (await uow.session.exec(query.with_for_update() if lock else query)).first()
    if check is None:
        raise NotFound(f"no order {order_id!r} has been screened by compliance", field="order_id")
    return check


async def record_licence(
    uow: UoW, order_id: str, number: str, authority: str, valid_until: Any, actor: str
) -> LicencePublic:
    """Record a licence; a valid one ends a hold whose only open reason was the missing licence."""
    check = await order_check(uow, order_id, lock=True)
    now = utcnow()
    licence = Licence(
        id=new_id("lic"),
        order_id=order_id,
        number=number,
        authority=authority,
        valid_until=valid_until,
        created_at=now,
        created_by=actor,
    )
    uow.session.add(licence)
    valid = rules.licence_valid(valid_until, datetime.now(UTC).date())
    cleared = False
    details: dict[str, Any] = {"licence_id": licence.id, "number": number, "authority": authority}
    details |= {"valid_until": valid_until.isoformat(), "valid": valid}
    if valid:
        await uow.publish(
            LicenceRecorded(
                licence_id=licence.id, order_id=order_id, number=number, authority=authority, valid_until=valid_until
            ),
            correlation_id=order_id,
        )
        if rules.EXPORT_LICENCE_REQUIRED in check.hold_reasons:
            check.hold_reasons = [r for r in check.hold_reasons if r != rules.EXPORT_LICENCE_REQUIRED]
            if not check.hold_reasons and check.status == "open":
                check.status, check.result, check.decision = "decided", "clear", "clear"
                check.decided_by, check.decided_at = actor, now
                check.note = f"export licence {number} ({authority}) valid until {valid_until.isoformat()}"
                cleared = True
            uow.session.add(check)
    await audit.record(
        uow,
        "licence_recorded",
        actor=actor,
        subject_type="order",
        subject_id=order_id,
        check_id=check.id,
        details=details | {"cleared": cleared},
    )
    if cleared:
        await uow.publish(views.screening_completed(check, officer=actor), correlation_id=order_id)
        await uow.publish(views.order_verdict(check, officer=actor), correlation_id=order_id)
    return LicencePublic.model_validate(licence, update={"valid": valid, "cleared": cleared})
