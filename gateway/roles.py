"""The role matrix: which roles may call each department route, enforced again at the gateway.

Every department guards its own routes with `require_roles(...)`; the gateway holds the same
decisions as data and refuses a request before it leaves the gateway (defence in depth).
`tests/integration/test_gateway_roles.py` fails when this table and the services' guards
disagree. `admin` passes every check and is not listed. Regenerate docs/roles.md with
`python -m gateway.rolesdoc > docs/roles.md` after changing the table.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hanse.auth import ROLES, current_principal

PUBLIC = "public"  # no token needed (the route verifies a signature or is meant for anyone)
AUTHENTICATED = "authenticated"  # any valid token, whatever its roles

Access = tuple[str, ...] | str

# (method, path, roles) per department, in the order the service registers its routes (the first
# match wins there too). Paths are FastAPI path templates.
MATRIX: dict[str, tuple[tuple[str, str, Access], ...]] = {
    "marketing": (
        ("POST", "/api/v1/marketing/campaigns", ("marketing",)),
        ("GET", "/api/v1/marketing/campaigns", ("marketing",)),
        ("GET", "/api/v1/marketing/campaigns/{campaign_id}", ("marketing",)),
        ("POST", "/api/v1/marketing/campaigns/{campaign_id}/spend", ("marketing",)),
        ("GET", "/api/v1/marketing/campaigns/{campaign_id}/spend", ("marketing",)),
        ("GET", "/api/v1/marketing/campaigns/{campaign_id}/performance", ("marketing",)),
        ("POST", "/api/v1/marketing/leads", PUBLIC),
        ("GET", "/api/v1/marketing/leads", ("marketing", "sales")),
        ("GET", "/api/v1/marketing/leads/{lead_id}", ("marketing", "sales")),
        ("POST", "/api/v1/marketing/subscribers", PUBLIC),
        ("GET", "/api/v1/marketing/subscribers/confirm", PUBLIC),
        ("GET", "/api/v1/marketing/subscribers", ("marketing",)),
        ("POST", "/api/v1/marketing/unsubscribe", PUBLIC),
        ("POST", "/api/v1/marketing/campaigns/{campaign_id}/emails", ("marketing",)),
        ("GET", "/api/v1/marketing/campaigns/{campaign_id}/emails/{email_id}", ("marketing",)),
        ("POST", "/api/v1/marketing/campaigns/{campaign_id}/emails/{email_id}/send", ("marketing",)),
        ("PUT", "/api/v1/marketing/campaigns/{campaign_id}/sequence", ("marketing",)),
        ("GET", "/api/v1/marketing/campaigns/{campaign_id}/sequence", ("marketing",)),
        ("PUT", "/api/v1/marketing/seo/products/{sku}/{language}", ("marketing",)),
        ("GET", "/api/v1/marketing/seo/products/{sku}/{language}", ("marketing",)),
        ("GET", "/api/v1/marketing/sitemap.xml", PUBLIC),
    ),
    "sales": (
        ("POST", "/api/v1/sales/products", ("sales",)),
        ("GET", "/api/v1/sales/products", AUTHENTICATED),
        ("GET", "/api/v1/sales/products/{sku}", AUTHENTICATED),
        ("POST", "/api/v1/sales/accounts", ("sales",)),
        ("GET", "/api/v1/sales/accounts", ("sales",)),
        ("GET", "/api/v1/sales/accounts/{account_id}", ("sales",)),
        ("PATCH", "/api/v1/sales/accounts/{account_id}", ("sales",)),
        ("POST", "/api/v1/sales/accounts/{account_id}/contacts", ("sales",)),
        ("GET", "/api/v1/sales/accounts/{account_id}/contacts", ("sales",)),
        ("GET", "/api/v1/sales/accounts/{account_id}/notifications", ("sales",)),
        ("POST", "/api/v1/sales/quotes", ("sales",)),
        ("GET", "/api/v1/sales/quotes", ("sales",)),
        ("GET", "/api/v1/sales/quotes/{quote_id}", ("sales",)),
        ("POST", "/api/v1/sales/quotes/{quote_id}/accept", ("sales",)),
        ("GET", "/api/v1/sales/orders", ("sales", "finance", "logistics", "compliance", "partner")),
        ("GET", "/api/v1/sales/orders/summary", ("sales", "finance", "logistics", "compliance", "partner")),
        ("GET", "/api/v1/sales/orders/{order_id}", ("sales", "finance", "logistics", "compliance", "partner")),
        ("POST", "/api/v1/sales/orders/{order_id}/reorder", ("sales",)),
        ("POST", "/api/v1/sales/orders/{order_id}/cancel", ("sales",)),
        ("POST", "/api/v1/sales/tickets", ("sales",)),
        ("GET", "/api/v1/sales/tickets", ("sales",)),
        ("GET", "/api/v1/sales/tickets/{ticket_id}", ("sales",)),
        ("POST", "/api/v1/sales/tickets/{ticket_id}/messages", ("sales",)),
        ("POST", "/api/v1/sales/tickets/{ticket_id}/status", ("sales",)),
        ("POST", "/api/v1/sales/inquiries", PUBLIC),
        ("GET", "/api/v1/sales/inquiries", ("sales",)),
        ("GET", "/api/v1/sales/inquiries/{inquiry_id}", ("sales",)),
    ),
    "compliance": (
        ("POST", "/api/v1/compliance/watchlist", ("compliance",)),
        ("GET", "/api/v1/compliance/watchlist", ("compliance",)),
        ("DELETE", "/api/v1/compliance/watchlist/{entry_id}", ("compliance",)),
        ("POST", "/api/v1/compliance/sanctions/import", ("compliance",)),
        ("GET", "/api/v1/compliance/sanctions/imports/{import_id}", ("compliance",)),
        ("GET", "/api/v1/compliance/sanctions", ("compliance",)),
        ("GET", "/api/v1/compliance/checks", ("compliance", "sales")),
        ("GET", "/api/v1/compliance/checks/{check_id}", ("compliance", "sales")),
        ("GET", "/api/v1/compliance/reviews", ("compliance",)),
        ("POST", "/api/v1/compliance/checks/{check_id}/decision", ("compliance",)),
        ("GET", "/api/v1/compliance/audit/verify", ("compliance",)),
        ("GET", "/api/v1/compliance/audit", ("compliance",)),
        ("POST", "/api/v1/compliance/export-controls", ("compliance",)),
        ("GET", "/api/v1/compliance/export-controls", ("compliance", "sales")),
        ("POST", "/api/v1/compliance/licences", ("compliance",)),
        ("GET", "/api/v1/compliance/orders/{order_id}/required-documents", ("compliance", "sales", "logistics")),
        ("POST", "/api/v1/compliance/contracts", ("compliance",)),
        ("GET", "/api/v1/compliance/contracts", ("compliance", "sales", "procurement")),
        ("GET", "/api/v1/compliance/contracts/{contract_id}", ("compliance", "sales", "procurement")),
        ("POST", "/api/v1/compliance/contracts/{contract_id}/status", ("compliance",)),
        ("POST", "/api/v1/compliance/privacy-requests", ("compliance",)),
        ("GET", "/api/v1/compliance/privacy-requests/{request_id}", ("compliance",)),
        ("GET", "/api/v1/compliance/privacy-requests/{request_id}/export", ("compliance",)),
    ),
    "finance": (
        ("GET", "/api/v1/finance/invoices", ("finance", "sales")),
        ("GET", "/api/v1/finance/invoices/{invoice_id}", ("finance", "sales")),
        ("GET", "/api/v1/finance/invoices/{invoice_id}/pdf", ("finance", "sales")),
        ("POST", "/api/v1/finance/payments", ("finance",)),
        ("GET", "/api/v1/finance/payments", ("finance",)),
        ("GET", "/api/v1/finance/payments/{payment_id}", ("finance",)),
        ("GET", "/api/v1/finance/ledger/entries", ("finance",)),
        ("GET", "/api/v1/finance/ledger/trial-balance", ("finance",)),
        ("GET", "/api/v1/finance/reports/aging", ("finance",)),
        ("GET", "/api/v1/finance/reports/revenue", ("finance",)),
        ("GET", "/api/v1/finance/reports/cash-forecast", ("finance",)),
        ("GET", "/api/v1/finance/exports/journal.csv", ("finance",)),
        ("GET", "/api/v1/finance/exports/quickbooks.iif", ("finance",)),
        ("POST", "/api/v1/finance/letters-of-credit", ("finance",)),
        ("GET", "/api/v1/finance/letters-of-credit", ("finance", "logistics", "sales")),
        ("GET", "/api/v1/finance/letters-of-credit/{letter_of_credit_id}", ("finance", "logistics", "sales")),
        ("POST", "/api/v1/finance/letters-of-credit/{letter_of_credit_id}/presentations", ("finance",)),
        ("GET", "/api/v1/finance/bills", ("finance", "procurement")),
        ("GET", "/api/v1/finance/bills/{bill_id}", ("finance", "procurement")),
        ("POST", "/api/v1/finance/bills/{bill_id}/payments", ("finance",)),
        ("GET", "/api/v1/finance/provider-events", ("finance",)),
        ("POST", "/api/v1/finance/webhooks/stripe", PUBLIC),
        ("POST", "/api/v1/finance/webhooks/paypal", PUBLIC),
        ("POST", "/api/v1/finance/webhooks/alipay", PUBLIC),
    ),
    "logistics": (
        ("POST", "/api/v1/logistics/warehouses", ("logistics",)),
        ("GET", "/api/v1/logistics/warehouses", ("logistics", "sales", "compliance", "finance")),
        ("GET", "/api/v1/logistics/warehouses/{code}", ("logistics", "sales", "compliance", "finance")),
        ("POST", "/api/v1/logistics/stock/receipts", ("logistics",)),
        ("GET", "/api/v1/logistics/stock/{sku}", ("logistics", "sales", "compliance", "finance")),
        ("GET", "/api/v1/logistics/orders/{order_id}", ("logistics", "sales", "compliance", "finance")),
        ("POST", "/api/v1/logistics/rates", ("logistics", "sales")),
        ("GET", "/api/v1/logistics/shipments", ("logistics", "sales", "compliance", "finance", "partner")),
        (
            "GET",
            "/api/v1/logistics/shipments/{shipment_id}",
            ("logistics", "sales", "compliance", "finance", "partner"),
        ),
        ("POST", "/api/v1/logistics/shipments/{shipment_id}/tracking", ("logistics", "partner")),
        (
            "GET",
            "/api/v1/logistics/shipments/{shipment_id}/documents",
            ("logistics", "sales", "compliance", "finance", "partner"),
        ),
        (
            "GET",
            "/api/v1/logistics/shipments/{shipment_id}/documents/{kind}",
            ("logistics", "sales", "compliance", "finance", "partner"),
        ),
        ("POST", "/api/v1/logistics/carriers/{carrier}/events", PUBLIC),
        ("POST", "/api/v1/logistics/returns", ("logistics",)),
        ("GET", "/api/v1/logistics/returns", ("logistics", "sales", "compliance", "finance")),
        ("GET", "/api/v1/logistics/returns/{return_id}", ("logistics", "sales", "compliance", "finance")),
        ("POST", "/api/v1/logistics/returns/{return_id}/authorize", ("logistics",)),
        ("POST", "/api/v1/logistics/returns/{return_id}/receive", ("logistics",)),
        ("POST", "/api/v1/logistics/returns/{return_id}/inspect", ("logistics",)),
    ),
    "procurement": (
        ("POST", "/api/v1/procurement/suppliers", ("procurement",)),
        ("GET", "/api/v1/procurement/suppliers", ("procurement", "finance", "logistics")),
        ("GET", "/api/v1/procurement/suppliers/{supplier_id}", ("procurement", "finance", "logistics")),
        ("PATCH", "/api/v1/procurement/suppliers/{supplier_id}", ("procurement",)),
        ("PUT", "/api/v1/procurement/suppliers/{supplier_id}/prices/{sku}", ("procurement",)),
        ("POST", "/api/v1/procurement/purchase-orders", ("procurement",)),
        ("GET", "/api/v1/procurement/purchase-orders", ("procurement", "finance", "logistics")),
        ("GET", "/api/v1/procurement/purchase-orders/{purchase_order_id}", ("procurement", "finance", "logistics")),
        ("POST", "/api/v1/procurement/purchase-orders/{purchase_order_id}/send", ("procurement",)),
        ("POST", "/api/v1/procurement/purchase-orders/{purchase_order_id}/cancel", ("procurement",)),
        ("GET", "/api/v1/procurement/purchase-orders/{purchase_order_id}/pdf", ("procurement", "finance", "logistics")),
        ("POST", "/api/v1/procurement/purchase-orders/{purchase_order_id}/receipts", ("procurement", "logistics")),
        ("GET", "/api/v1/procurement/inspections", ("procurement", "logistics")),
        ("GET", "/api/v1/procurement/inspections/{inspection_id}", ("procurement", "logistics")),
        ("POST", "/api/v1/procurement/inspections/{inspection_id}/result", ("procurement", "logistics")),
        ("GET", "/api/v1/procurement/return-notes/{return_note_id}/pdf", ("procurement", "finance", "logistics")),
        ("PUT", "/api/v1/procurement/reorder-rules/{sku}", ("procurement",)),
        ("GET", "/api/v1/procurement/reorder-rules", ("procurement", "finance", "logistics")),
    ),
}


@dataclass(frozen=True, slots=True)
class Rule:
    method: str
    path: str
    public: bool
    roles: frozenset[str] | None  # None: any authenticated caller

    def allows(self, roles: frozenset[str]) -> bool:
        """Whether a token with these roles may call the route (admin may call every route)."""
        return self.roles is None or "admin" in roles or not self.roles.isdisjoint(roles)

    @property
    def access(self) -> Access:
        if self.public:
            return PUBLIC
        return AUTHENTICATED if self.roles is None else tuple(sorted(self.roles))


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::path)?\}")


def _compile(path: str) -> re.Pattern[str]:
    """A path template as an anchored regex: `{name}` is one segment, `{name:path}` the rest."""
    out, last = [], 0
    for match in _PARAM.finditer(path):
        out.append(re.escape(path[last : match.start()]))
        out.append(".+" if match.group(0).endswith(":path}") else "[^/]+")
        last = match.end()
    out.append(re.escape(path[last:]))
    return re.compile("".join(out))


def _rule(method: str, path: str, access: Access) -> Rule:
    if access == PUBLIC:
        return Rule(method, path, True, frozenset())
    if access == AUTHENTICATED:
        return Rule(method, path, False, None)
    unknown = set(access) - set(ROLES)
    if unknown or not access:
        raise ValueError(f"{method} {path}: unknown roles {sorted(unknown)}")
    return Rule(method, path, False, frozenset(access))


class RoleMatrix:
    """The matrix compiled for lookups on every proxied request: department → method → patterns."""

    def __init__(self, matrix: dict[str, tuple[tuple[str, str, Access], ...]] = MATRIX) -> None:
        self.rules: dict[str, list[Rule]] = {}
        self._index: dict[str, dict[str, tuple[tuple[re.Pattern[str], Rule], ...]]] = {}
        for department, routes in matrix.items():
            by_method: dict[str, list[tuple[re.Pattern[str], Rule]]] = {}
            for method, path, access in routes:
                rule = _rule(method, path, access)
                self.rules.setdefault(department, []).append(rule)
                by_method.setdefault(method, []).append((_compile(path), rule))
            self._index[department] = {m: tuple(rules) for m, rules in by_method.items()}

    def lookup(self, department: str, method: str, path: str) -> Rule | None:
        """The rule of a request, or None when the department has no such route (it answers 404)."""
        candidates = self._index.get(department, {}).get("GET" if method == "HEAD" else method)
        if candidates:
            for pattern, rule in candidates:
                if pattern.fullmatch(path):
                    return rule
        return None

    def __iter__(self) -> Iterator[tuple[str, Rule]]:
        for department, rules in self.rules.items():
            for rule in rules:
                yield department, rule


# -- what the code says: the guards on an app's routes ------------------------------------------------


def declared_access(dependant: Any) -> Access:
    """The access a route's own dependencies enforce: its require_roles guard, any token, or none."""
    found = _find_guard(dependant)
    return PUBLIC if found is None else found


def _find_guard(dependant: Any) -> Access | None:
    for dependency in dependant.dependencies:
        call = dependency.call
        if getattr(call, "__qualname__", "") == "require_roles.<locals>.guard":
            return tuple(inspect.getclosurevars(call).nonlocals["roles"])
        if call is current_principal:
            return AUTHENTICATED
        found = _find_guard(dependency)
        if found is not None:
            return found
    return None


def app_routes(app: Any, prefix: str = "/api/") -> Iterator[tuple[str, str, Access]]:
    """(method, path, access) of every API route of a FastAPI app, in registration order."""
    from fastapi.routing import iter_route_contexts

    for route in iter_route_contexts(app.routes):
        path, methods, dependant = route.path, route.methods, getattr(route, "dependant", None)
        if not path or not path.startswith(prefix) or not methods or dependant is None:
            continue
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            yield method, path, declared_access(dependant)
