"""The commission policy: turns order and card events into commission events, exactly once.

A LogFollower: the commission events of a whole batch and the batch's last position are saved in
one transaction. Every fact acted on is recorded as a ProcessedFact in that transaction too, so
even a re-delivered fact (a rewound or lost tracking row) pays nothing twice; but a settlement
row, whose lines recognise themselves by their ids (facts.py SELF_IDEMPOTENT).
"""

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import structlog
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from application.facts import (
    BUSINESS_TZ,
    OWN_LOOKUPS,
    RELEVANT_SUFFIXES,
    SELF_IDEMPOTENT,
    Batch,
    FactProcessor,
    WalletBatch,
)
from application.follower import LogFollower
from application.hot_aggregates import HotAggregates
from application.ledger import Ledger
from application.simulation import apply_differences, correction_differences
from domain.plan import CommissionPlan
from domain.processed import ProcessedFact

log = structlog.get_logger(__name__)


class CommissionPolicy(FactProcessor, LogFollower):
    name = "commission-policy"

    def __init__(
        self,
        ledger: Ledger,
        batch_size: int = 500,
        max_retries: int = 20,
        business_tz: tzinfo = BUSINESS_TZ,
    ) -> None:
        FactProcessor.__init__(self, ledger, business_tz)
        LogFollower.__init__(self, ledger, batch_size, max_retries)
        # Wallets and monthly volumes stay loaded between batches, brought forward by what the
        # log says was written to them: a busy one is not replayed for every batch.
        self._hot = HotAggregates()
        self._hot_at: int | None = None  # the log position the kept aggregates reflect
        self._batch = WalletBatch(ledger, self._hot.kept)
        self._position = 0  # of the fact being handled
        self._redelivered = False  # whether that fact was acted on before
        self._done: set[int] = set()

    def process(self, start: int, notifications: Sequence[Notification]) -> list[Any]:
        """Commissions for the batch's facts, with a ProcessedFact for each fact acted on."""
        self._load_plans(start)
        relevant = [n for n in notifications if n.topic.endswith(RELEVANT_SUFFIXES)]
        self._done = self._processed(relevant)
        # A correction acted on before still counts as a plan version for what follows it.
        relevant = [n for n in relevant if id(n) not in self._done or _is_correction(n)]
        self._prefetch(relevant, notifications[-1].id)
        if self._hot_at != start:  # another worker saved batches this one never read
            self._hot.clear()
        self._hot.advance(notifications, self.log.decode)
        self._batch = WalletBatch(self.ledger, self._hot.kept)
        for notification, event in zip(relevant, self.log.decode(relevant), strict=True):
            self._position = notification.id
            self._redelivered = id(notification) in self._done
            self._handle(event, self._batch)
        facts = [
            ProcessedFact.record(n.originator_id, n.originator_version)
            for n in relevant
            if not n.topic.endswith(_UNRECORDED) and id(n) not in self._done
        ]
        return [*self._batch.changed(), *facts]

    def forget(self) -> None:
        self._plans_at = None  # the registries went past the committed position
        self._hot.clear()  # they may hold changes that were never saved
        self._hot_at = None

    def saved(self, position: int) -> None:
        self._plans_at = position
        self._hot.keep(self._batch.loaded())
        self._hot_at = position

    def _handle(self, event: Any, batch: Batch) -> None:
        if isinstance(event, CommissionPlan.CorrectionDefined) and not self._redelivered:
            self._on_correction(event, batch)
        super()._handle(event, batch)

    def _on_correction(self, event: CommissionPlan.CorrectionDefined, batch: Batch) -> None:
        """A correction re-rates the facts of its period processed before it: the differences
        against what was recorded become adjustments, in this batch's transaction."""
        plan = self.ledger.repository.get(event.originator_id, version=event.originator_version)
        candidate = next(v for v in plan.plan_versions() if v.version == event.version)
        differences = correction_differences(self.ledger, candidate, self._position, self.tz)
        applied = apply_differences(batch, differences, candidate, event.actor, event.reason)
        log.info(
            "commission_policy.correction",
            plan=candidate.code,
            version=candidate.version,
            differences=len(differences),
            applied=applied,
        )

    def _processed(self, notifications: list[Any]) -> set[int]:
        """The facts already acted on (a re-delivery): their effects are in the store."""
        ids = {
            ProcessedFact.create_id(str(n.originator_id), n.originator_version): n
            for n in notifications
            if not n.topic.endswith(_UNRECORDED)
        }
        if not ids:
            return set()
        done = {id(ids[found]) for found in self.log.existing(ids)}
        if done:
            log.warning("commission_policy.redelivered", facts=len(done))
        return done


_UNRECORDED = OWN_LOOKUPS + SELF_IDEMPOTENT  # no ProcessedFact: see facts.py
_CORRECTION = get_topic(CommissionPlan.CorrectionDefined).split(":", 1)[1]


def _is_correction(notification: Any) -> bool:
    return bool(notification.topic.endswith(_CORRECTION))
