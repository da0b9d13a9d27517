"""The online-case integration's stores in memory: the fake for unit tests of the services.

Same observable behaviour as ``PostgresCaseStore`` (the shared contract tests run against
both). State is public so tests can look at it; ``available = False`` makes every call raise
StoreUnavailable, as a database outage would. Records handed out are copies.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

from hall_controller.cases.rules import (
    ApiKey,
    Case,
    CaseEvent,
    CaseStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueDelivery,
    NewCaseEvent,
    OneTripCounts,
    Webhook,
)
from hall_controller.kernel.error_codes import ErrorCode
from hall_controller.kernel.errors import Conflict, NotFound, StoreUnavailable


class MemoryCaseStore:
    """``cases.ports.IntegrationStore`` kept in dictionaries and lists."""

    def __init__(self) -> None:
        self.available = True
        self.cases: dict[str, Case] = {}
        self.events: list[CaseEvent] = []
        self.api_keys: dict[str, ApiKey] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.deliveries: dict[int, Delivery] = {}
        self.attempts: list[DeliveryAttempt] = []

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory case store set unavailable")

    # -- cases --------------------------------------------------------------------------------

    async def get_case(self, case_id: str) -> Case | None:
        self._check()
        case = self.cases.get(case_id)
        return None if case is None else copy.deepcopy(case)

    async def list_cases(
        self, *, person_id: str | None = None, campus_card: str | None = None,
        status: CaseStatus | None = None, service_code: str | None = None, limit: int = 100,
    ) -> list[Case]:
        self._check()
        found = [
            c for c in self.cases.values()
            if (person_id is None or c.applicant.person_id == person_id)
            and (campus_card is None or c.applicant.campus_card == campus_card)
            and (status is None or c.status == status)
            and (service_code is None or c.service_code == service_code)
        ]
        found.sort(key=lambda c: (c.created_ms, c.case_id))
        return copy.deepcopy(found[:limit])

    async def save_case(self, case: Case, expected_version: int,
                        events: Sequence[NewCaseEvent]) -> list[CaseEvent]:
        self._check()
        stored = self.cases.get(case.case_id)
        current = 0 if stored is None else stored.version
        if current != expected_version:
            raise Conflict(f"case {case.case_id!r} is at version {current}, "
                           f"not {expected_version}",
                           code=ErrorCode.CASE_VERSION_CONFLICT, case=case.case_id)
        saved = copy.deepcopy(case)
        saved.version = expected_version + 1
        self.cases[case.case_id] = saved
        case.version = saved.version
        appended: list[CaseEvent] = []
        for new in events:
            event = CaseEvent(len(self.events) + 1, new.case_id, new.type, new.at_ms,
                              copy.deepcopy(new.data))
            self.events.append(event)
            appended.append(event)
            for webhook in self.webhooks.values():
                if webhook.active:
                    delivery_id = len(self.deliveries) + 1
                    self.deliveries[delivery_id] = Delivery(
                        id=delivery_id, webhook_id=webhook.id, event_id=event.id,
                        status=DeliveryStatus.PENDING, attempts=0, created_ms=new.at_ms,
                        next_attempt_ms=new.at_ms)
        return appended

    async def events_after(self, cursor: int, limit: int,
                           case_id: str | None = None) -> list[CaseEvent]:
        self._check()
        found = [e for e in self.events
                 if e.id > cursor and (case_id is None or e.case_id == case_id)]
        return copy.deepcopy(found[:limit])

    async def one_trip_counts(self, from_ms: int, to_ms: int) -> OneTripCounts:
        self._check()
        resolved = [c for c in self.cases.values()
                    if c.status is CaseStatus.RESOLVED and c.resolved_ms is not None
                    and from_ms <= c.resolved_ms < to_ms and c.visit_count >= 1]
        return OneTripCounts(len(resolved), sum(1 for c in resolved if c.visit_count == 1))

    # -- API keys -----------------------------------------------------------------------------

    async def insert_api_key(self, key: ApiKey) -> None:
        self._check()
        if key.key_id in self.api_keys:
            raise Conflict(f"API key {key.key_id!r} exists",
                           code=ErrorCode.API_KEY_EXISTS, key=key.key_id)
        self.api_keys[key.key_id] = key

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        self._check()
        return self.api_keys.get(key_id)

    async def list_api_keys(self) -> list[ApiKey]:
        self._check()
        return sorted(self.api_keys.values(), key=lambda k: (k.created_ms, k.key_id))

    async def revoke_api_key(self, key_id: str, at_ms: int) -> ApiKey:
        self._check()
        key = self.api_keys.get(key_id)
        if key is None:
            raise NotFound(f"unknown API key {key_id!r}",
                           code=ErrorCode.API_KEY_UNKNOWN, key=key_id)
        if key.revoked_ms is None:
            key = self.api_keys[key_id] = replace(key, revoked_ms=at_ms)
        return key

    # -- webhooks -----------------------------------------------------------------------------

    async def insert_webhook(self, url: str, secret: str, description: str, at_ms: int,
                             created_by: str) -> Webhook:
        self._check()
        webhook = Webhook(len(self.webhooks) + 1, url, secret, description, True, at_ms,
                          created_by)
        self.webhooks[webhook.id] = webhook
        return webhook

    async def get_webhook(self, webhook_id: int) -> Webhook | None:
        self._check()
        return self.webhooks.get(webhook_id)

    async def list_webhooks(self) -> list[Webhook]:
        self._check()
        return [self.webhooks[i] for i in sorted(self.webhooks)]

    async def set_webhook_active(self, webhook_id: int, active: bool) -> Webhook:
        self._check()
        webhook = self.webhooks.get(webhook_id)
        if webhook is None:
            raise NotFound(f"unknown webhook {webhook_id}",
                           code=ErrorCode.WEBHOOK_UNKNOWN, webhook=webhook_id)
        webhook = self.webhooks[webhook_id] = replace(webhook, active=active)
        return webhook

    async def claim_due_deliveries(self, now_ms: int, lease_ms: int,
                                   limit: int) -> list[DueDelivery]:
        self._check()
        due = sorted(
            (d for d in self.deliveries.values()
             if d.status is DeliveryStatus.PENDING and d.next_attempt_ms is not None
             and d.next_attempt_ms <= now_ms and self.webhooks[d.webhook_id].active),
            key=lambda d: (d.next_attempt_ms or 0, d.id))[:limit]
        claimed: list[DueDelivery] = []
        for delivery in due:
            leased = self.deliveries[delivery.id] = replace(delivery,
                                                            next_attempt_ms=now_ms + lease_ms)
            event = self.events[delivery.event_id - 1]
            claimed.append(DueDelivery(leased, self.webhooks[delivery.webhook_id],
                                       copy.deepcopy(event)))
        return claimed

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        self._check()
        delivery = self.deliveries.get(attempt.delivery_id)
        if delivery is None or delivery.status is not DeliveryStatus.PENDING:
            return  # as in PostgreSQL: a late answer cannot undo a delivery already made
        attempt = replace(attempt, attempt=delivery.attempts + 1)
        self.attempts.append(attempt)
        self.deliveries[delivery.id] = replace(
            delivery, status=attempt.result, attempts=delivery.attempts + 1,
            next_attempt_ms=attempt.next_attempt_ms, last_status_code=attempt.status_code,
            last_error=attempt.error,
            delivered_ms=attempt.at_ms if attempt.result is DeliveryStatus.DELIVERED
            else delivery.delivered_ms)

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        self._check()
        return self.deliveries.get(delivery_id)

    async def list_deliveries(
        self, *, webhook_id: int | None = None, event_id: int | None = None,
        status: DeliveryStatus | None = None, limit: int = 100,
    ) -> list[Delivery]:
        self._check()
        found = [d for d in self.deliveries.values()
                 if (webhook_id is None or d.webhook_id == webhook_id)
                 and (event_id is None or d.event_id == event_id)
                 and (status is None or d.status is status)]
        found.sort(key=lambda d: d.id, reverse=True)
        return found[:limit]

    async def list_attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        self._check()
        return [a for a in self.attempts if a.delivery_id == delivery_id]

    async def retry_delivery(self, delivery_id: int, now_ms: int) -> Delivery:
        self._check()
        delivery = self.deliveries.get(delivery_id)
        if delivery is None:
            raise NotFound(f"unknown delivery {delivery_id}",
                           code=ErrorCode.DELIVERY_UNKNOWN, delivery=delivery_id)
        if delivery.status is not DeliveryStatus.DELIVERED:
            delivery = self.deliveries[delivery_id] = replace(
                delivery, status=DeliveryStatus.PENDING, next_attempt_ms=now_ms)
        return delivery
