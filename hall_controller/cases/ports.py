"""Ports of the online-case integration: cases and their event log, API keys, webhooks.

``postgres_store.PostgresCaseStore`` implements them over the controller's
database, ``memory_store.MemoryCaseStore`` in memory; the shared contract tests
(``tests/support/case_store_contract.py``) hold both to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hall_controller.cases.rules import (
    ApiKey,
    Case,
    CaseEvent,
    CaseStatus,
    CompletionOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueDelivery,
    NewCaseEvent,
    OneTripCounts,
    PersonIdentity,
    Webhook,
)


class CaseStore(Protocol):
    async def get_case(self, case_id: str) -> Case | None: ...

    async def list_cases(
        self, *, person_id: str | None = None, campus_card: str | None = None,
        status: CaseStatus | None = None, service_code: str | None = None, limit: int = 100,
    ) -> list[Case]:
        """Matching cases, oldest first (by creation)."""
        ...

    async def save_case(self, case: Case, expected_version: int,
                        events: Sequence[NewCaseEvent]) -> list[CaseEvent]:
        """Write ``case`` as version ``expected_version + 1`` and append ``events``, with one
        webhook delivery per event and active webhook, all in one transaction.

        ``expected_version`` 0 means the case must not exist yet. Raises Conflict when the
        stored version is not ``expected_version`` (someone else wrote it meanwhile; re-read
        and retry). Returns the appended events with their ids, in order.
        """
        ...

    async def events_after(self, cursor: int, limit: int,
                           case_id: str | None = None) -> list[CaseEvent]:
        """Events with id > cursor, oldest first. An event is never visible before the events
        with smaller ids, so a reader following the cursor misses none."""
        ...

    async def one_trip_counts(self, from_ms: int, to_ms: int) -> OneTripCounts:
        """Over the cases resolved in [from_ms, to_ms)."""
        ...


class ApiKeyStore(Protocol):
    async def insert_api_key(self, key: ApiKey) -> None:
        """Raises Conflict if the key id exists."""
        ...

    async def get_api_key(self, key_id: str) -> ApiKey | None: ...

    async def list_api_keys(self) -> list[ApiKey]:
        """Oldest first, revoked ones included."""
        ...

    async def revoke_api_key(self, key_id: str, at_ms: int) -> ApiKey:
        """Raises NotFound; revoking twice keeps the first time."""
        ...


class WebhookStore(Protocol):
    async def insert_webhook(self, url: str, secret: str, description: str, at_ms: int,
                             created_by: str) -> Webhook: ...

    async def get_webhook(self, webhook_id: int) -> Webhook | None: ...

    async def list_webhooks(self) -> list[Webhook]: ...

    async def set_webhook_active(self, webhook_id: int, active: bool) -> Webhook:
        """Raises NotFound. An inactive webhook gets no new deliveries and sends none."""
        ...

    async def claim_due_deliveries(self, now_ms: int, lease_ms: int,
                                   limit: int) -> list[DueDelivery]:
        """Pending deliveries of active webhooks due at ``now_ms``, oldest due first; each is
        pushed ``lease_ms`` into the future, so another dispatcher (or this one, if it dies
        mid-send) picks it up again only after the lease."""
        ...

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Log the attempt and update its delivery (attempts, status, next attempt, ...).

        The attempt is numbered by the store (the delivery's attempts + 1). Ignored unless the
        delivery is pending: a late answer cannot undo a delivery already made."""
        ...

    async def get_delivery(self, delivery_id: int) -> Delivery | None: ...

    async def list_deliveries(
        self, *, webhook_id: int | None = None, event_id: int | None = None,
        status: DeliveryStatus | None = None, limit: int = 100,
    ) -> list[Delivery]:
        """Newest first."""
        ...

    async def list_attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        """Oldest first."""
        ...

    async def retry_delivery(self, delivery_id: int, now_ms: int) -> Delivery:
        """Make a delivery pending and due now (an admin's redelivery). Raises NotFound."""
        ...


class IntegrationStore(CaseStore, ApiKeyStore, WebhookStore, Protocol):
    """Everything the online-case integration stores."""


class CaseLinks(Protocol):
    """What the queue engine needs from the online cases (``services.cases.CaseService``
    implements it): the ticket service and the clerk flow depend on this, not on the class."""

    async def open_cases_for(self, identity: PersonIdentity, service_code: str) -> list[Case]:
        """The visitor's cases for the service that need a visit (awaiting_visit,
        materials_required), oldest first."""
        ...

    async def link_ticket(self, case_id: str, ticket_id: str,
                          ticket_number: str | None = None) -> Case:
        """Raises NotFound; linking the same ticket again is a no-op."""
        ...

    async def complete_linked(self, case_id: str, ticket_id: str, outcome: CompletionOutcome,
                              reason: str | None = None) -> Case:
        """Count the visit and advance the case; repeating it is harmless. Raises NotFound."""
        ...
