"""The lifetime limit every new fact that counts (a sale, a card's fact, a settlement) meets."""

from typing import TYPE_CHECKING

from domain.money import require_lifetime_room

if TYPE_CHECKING:
    from application.ledger import Ledger


def require_room_for_facts(ledger: "Ledger") -> None:
    """Refuses a fact once the platform's lifetime totals reach their limit. The totals come
    from the views (one row), as the release job's candidates do; a ledger without a read side
    (a tool replaying history) has nothing to read them from."""
    if ledger.directory is not None:
        require_lifetime_room(*ledger.directory.lifetime_totals())
