"""Compliance: the review queue, where an officer clears or rejects the checks that wait for a person."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import Path, Query, Request
from starlette.responses import Response

from web.core import ConsoleRouter, Refused, Viewer, action, form_of, page, safe_next
from web.i18n import N_
from web.nav import section

router = ConsoleRouter()
SECTION = section(
    "compliance-reviews", "/console/compliance/reviews", N_("Compliance reviews"), api="/api/v1/compliance/reviews"
)
CHECKS = "/api/v1/compliance/checks"
PAGE_SIZE = 20

Id = Annotated[str | None, Query(max_length=255)]
Choice = Annotated[str | None, Query(max_length=16)]


def _filters(status: str | None, result: str | None, subject_type: str | None, order_id: str | None) -> dict[str, Any]:
    """The queue by default (open checks in review); an empty choice in the form means "any"."""
    return {
        "status": "open" if status is None else status,
        "result": "review" if result is None else result,
        "subject_type": subject_type or "",
        "order_id": order_id or "",
    }


async def _queue_page(
    viewer: Viewer, filters: dict[str, Any], cursor: str | None, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    listing = await viewer.get(
        CHECKS,
        status=filters["status"] or None,
        result=filters["result"] or None,
        subject_type=filters["subject_type"] or None,
        order_id=filters["order_id"] or None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    here = f"{SECTION.path}?{urlencode(filters)}"
    next_url = f"{here}&{urlencode({'cursor': listing['next_cursor']})}" if listing.get("next_cursor") else None
    context = {
        "listing": listing,
        "filters": filters,
        "here": here,
        "next_url": next_url,
        "failed": None,
        **(extra or {}),
    }
    return viewer.render("compliance/reviews.html", context, status=status)


@router.get(SECTION.path)
async def reviews(
    viewer: Annotated[Viewer, page(*SECTION.roles)],
    status: Choice = None,
    result: Choice = None,
    subject_type: Choice = None,
    order_id: Id = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return await _queue_page(viewer, _filters(status, result, subject_type, order_id), cursor)


@router.post(SECTION.path + "/{check_id}/decision")
async def decide(
    check_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,255}$")],
    request: Request,
    viewer: Annotated[Viewer, action(*SECTION.roles)],
) -> Response:
    form = await form_of(request)
    back = safe_next(form.get("back") or SECTION.path)
    decision = form.get("decision", "")
    try:
        await viewer.send(
            "POST", f"{CHECKS}/{check_id}/decision", json={"decision": decision, "note": form.get("note", "")}
        )
    except Refused as refused:
        errors = refused.fields()
        extra = {"failed": check_id, "errors": errors, "values": form, "problem": refused.detail}
        asked = {k: v[-1] for k, v in parse_qs(urlsplit(back).query, keep_blank_values=True).items()}
        filters = _filters(asked.get("status"), asked.get("result"), asked.get("subject_type"), asked.get("order_id"))
        return await _queue_page(viewer, filters, asked.get("cursor"), extra, status=refused.answer.status)
    message = N_("Check %(check)s cleared.") if decision == "clear" else N_("Check %(check)s rejected.")
    return viewer.redirect(back, flash=message, check=check_id)
