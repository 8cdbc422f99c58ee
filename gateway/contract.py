"""Events the gateway publishes (topic hanse.gateway): only its answer to privacy requests."""

from __future__ import annotations

from hanse.privacy import PrivacyAnswer


class PrivacyAnswered(PrivacyAnswer, event_type="gateway.privacy_request.answered.v1"):
    """The gateway's answer: staff and partner users with that address in its user store."""
