"""The commission policy: turns order and card events into commission events, exactly once.

It reads the ledger's own notification log in batches. The commission events of a whole batch
and the batch's last position are saved in one transaction (a process recorder with single-row
tracking), so a crash loses nothing and a re-run doubles nothing: the tracking insert conflicts
and the batch is retried from the committed position. Commission ids derive from the fact they
pay for, so even a re-delivered fact cannot accrue twice.
"""

from datetime import tzinfo
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, Tracking

from application.facts import (
    BUSINESS_TZ,
    OWN_LOOKUPS,
    RELEVANT_SUFFIXES,
    Batch,
    FactProcessor,
    WalletBatch,
)
from application.ledger import Ledger
from application.simulation import apply_differences, correction_differences
from domain.plan import CommissionPlan
from domain.processed import ProcessedFact
from domain.wallet import Wallet

log = structlog.get_logger(__name__)
_MAX_KEPT_WALLETS = 20_000


class CommissionPolicy(FactProcessor):
    name = "commission-policy"

    def __init__(
        self,
        ledger: Ledger,
        batch_size: int = 500,
        max_retries: int = 20,
        business_tz: tzinfo = BUSINESS_TZ,
    ) -> None:
        super().__init__(ledger, business_tz)
        self.batch_size = batch_size
        self.max_retries = max_retries
        # Wallets stay loaded between batches: a busy wallet is not replayed for every batch.
        self._wallets: dict[str, Wallet] = {}
        self._position = 0  # of the fact being handled

    def position(self) -> int:
        return self.ledger.recorder.max_tracking_id(self.name) or 0  # type: ignore[attr-defined]

    def run_until_idle(self) -> int:
        total = 0
        while processed := self.run_once():
            total += processed
        return total

    def run_once(self) -> int:
        """Processes one batch; returns how many notifications it consumed (0 when idle)."""
        for attempt in range(self.max_retries):
            start = self.position()
            notifications = self.ledger.recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return 0
            self._load_plans(start)
            relevant = self._unprocessed(
                [n for n in notifications if n.topic.endswith(RELEVANT_SUFFIXES)]
            )
            self._prefetch(relevant, notifications[-1].id)
            batch = WalletBatch(self.ledger, self._wallets)
            plans_before = {k: list(v) for k, v in self._plans.items()}
            levels_before = dict(self._levels)
            try:
                for notification in relevant:
                    self._position = notification.id
                    self._handle(self.ledger.mapper.to_domain_event(notification), batch)
                facts = [
                    ProcessedFact.record(n.originator_id, n.originator_version)
                    for n in relevant
                    if not n.topic.endswith(OWN_LOOKUPS)
                ]
                self.ledger.save_tracked(
                    Tracking(self.name, notifications[-1].id), *batch.changed(), *facts
                )
            except IntegrityError:
                # Another writer changed a wallet, or another worker committed this batch.
                self._plans, self._levels, self._plans_at = plans_before, levels_before, None
                self._wallets.clear()
                log.info("commission_policy.retry", attempt=attempt, start=start)
                continue
            except BaseException:
                self._wallets.clear()  # they may hold changes that were never saved
                self._plans_at = None
                raise
            self._plans_at = notifications[-1].id
            if len(self._wallets) + len(batch.wallets) > _MAX_KEPT_WALLETS:
                self._wallets.clear()
            self._wallets.update(batch.wallets)
            return len(notifications)
        raise RuntimeError(f"{self.name}: gave up after {self.max_retries} conflicting attempts")

    def _handle(self, event: Any, batch: Batch) -> None:
        if isinstance(event, CommissionPlan.CorrectionDefined):
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

    def _unprocessed(self, notifications: list[Any]) -> list[Any]:
        """Drops facts already acted on (a re-delivery): their effects are in the store."""
        ids = {
            ProcessedFact.create_id(str(n.originator_id), n.originator_version): n
            for n in notifications
            if not n.topic.endswith(OWN_LOOKUPS)
        }
        if not ids:
            return notifications
        with self.ledger.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                "SELECT originator_id FROM ledger_events WHERE originator_id = ANY(%s)"
                " AND originator_version = 1",
                (list(ids),),
            ).fetchall()
        done = {id(ids[r["originator_id"]]) for r in rows}
        if done:
            log.warning("commission_policy.redelivered", facts=len(done))
        return [n for n in notifications if id(n) not in done]
