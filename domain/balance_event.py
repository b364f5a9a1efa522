"""What every wallet balance event does (Wallet.BalanceEvent, domain/wallet.py, declares the
events and their fields): it moves the buckets by its `deltas`, then changes what the wallet holds
besides balances (`apply_to_lines`), and an early one lacking the agent gets it from the opening.
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from domain.log import FilledFromHistory


class BalanceMovement(FilledFromHistory):
    """A mixin of Wallet.BalanceEvent. `apply` only assigns: checks ran before."""

    def missing_facts(self) -> bool:
        return self.agent_code is None  # type: ignore[attr-defined]

    def filled(self, first: Sequence[Any]) -> Any:
        return replace(self, agent_code=first[0].agent_code)  # type: ignore[type-var]

    def deltas(self) -> dict[str, int]:
        return {}

    def movement_fen(self) -> int:
        """The movement's amount as statements show it (signed where it can go either way)."""
        return int(getattr(self, "amount_fen", 0))

    def apply(self, aggregate: Any) -> None:
        for bucket, delta in self.deltas().items():
            aggregate.balances[bucket] += delta
        self.apply_to_lines(aggregate)

    def apply_to_lines(self, wallet: Any) -> None:
        """Changes to what the wallet holds besides balances, for the events that have any."""
