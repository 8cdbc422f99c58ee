"""How the compliance department reacts to other departments' events: it screens parties and orders,
re-screens accounts and suppliers, and remembers which orders have left."""

from __future__ import annotations

from gateway.contract import PrivacyAnswered as GatewayAnswered
from hanse.consumer import Handler
from services.compliance.config import UoW
from services.compliance.domain import privacy, rescreening, screening
from services.finance.contract import PrivacyAnswered as FinanceAnswered
from services.logistics.contract import PrivacyAnswered as LogisticsAnswered
from services.logistics.contract import ShipmentDispatched
from services.marketing.contract import LeadCaptured
from services.marketing.contract import PrivacyAnswered as MarketingAnswered
from services.procurement.contract import PrivacyAnswered as ProcurementAnswered
from services.procurement.contract import SupplierRegistered
from services.sales.contract import AccountCreated, AccountUpdated, InquiryReceived, OrderCancelled, OrderPlaced
from services.sales.contract import PrivacyAnswered as SalesAnswered

PrivacyAnswers = (
    MarketingAnswered,
    SalesAnswered,
    FinanceAnswered,
    LogisticsAnswered,
    ProcurementAnswered,
    GatewayAnswered,
)


async def on_account_updated(uow: UoW, account: AccountUpdated) -> None:
    await rescreening.rescreen_account(uow, account.account_id)


async def on_shipment_dispatched(uow: UoW, shipment: ShipmentDispatched) -> None:
    await rescreening.record_dispatch(uow, shipment.order_id)


async def on_privacy_answered(
    uow: UoW,
    answer: MarketingAnswered
    | SalesAnswered
    | FinanceAnswered
    | LogisticsAnswered
    | ProcurementAnswered
    | GatewayAnswered,
) -> None:
    await privacy.record_answer(uow, answer)


# Each reaction is a domain transaction `(uow, payload)`; its payload annotation is the contract.
HANDLERS: dict[str, Handler] = {
    LeadCaptured.event_type: screening.screen_lead,
    AccountCreated.event_type: screening.screen_account,
    AccountUpdated.event_type: on_account_updated,
    InquiryReceived.event_type: screening.screen_inquiry,
    SupplierRegistered.event_type: rescreening.screen_supplier,
    OrderPlaced.event_type: screening.screen_order,
    OrderCancelled.event_type: screening.close_cancelled_order,
    ShipmentDispatched.event_type: on_shipment_dispatched,
    **{answered.event_type: on_privacy_answered for answered in (*PrivacyAnswers, GatewayAnswered)},
}
