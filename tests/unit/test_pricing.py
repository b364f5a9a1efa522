"""The price menu's rule, in one place: PriceLimit (one price against its cost) and PriceChain
(a sale's lineage checked again before it is placed)."""

import pytest

from domain.errors import PriceAboveLimit, PriceRefused
from domain.pricing import Breach, PriceChain, PriceLimit


def test_check_price_limit_boundary():
    PriceLimit(2).check(12000, 6000, "x", below="below")
    with pytest.raises(PriceAboveLimit) as info:
        PriceLimit(2).check(12001, 6000, "x", below="below")
    assert info.value.field == "x"
    assert info.value.message == "120.01 exceeds 2 x the cost price 60.00 (limit 120.00)"


def test_the_band_is_cost_to_factor_times_cost():
    limit = PriceLimit(3)
    assert [limit.breach(p, 100) for p in (99, 100, 300, 301)] == [
        Breach.BELOW_COST,
        None,
        None,
        Breach.ABOVE_LIMIT,
    ]
    with pytest.raises(PriceRefused) as below:
        limit.check(99, 100, "costPrice", below="too low")
    assert not isinstance(below.value, PriceAboveLimit)
    assert (below.value.field, below.value.message) == ("costPrice", "too low")
    with pytest.raises(PriceAboveLimit) as above:
        limit.check(301, 100, "costPrice", below="too low", above="too high")
    assert above.value.message == "too high"


@pytest.mark.parametrize(
    ("costs", "broken"),
    [
        ([("A", 6000), ("B", 6000), ("C", 12000)], None),
        ([("A", 6000), ("B", 12001)], "B"),
        ([("A", 6000), ("B", 7000), ("C", 6999)], "C"),
        ([("A", 6000)], None),
    ],
)
def test_price_chain_checks_every_link(costs, broken):
    chain = PriceChain.of(costs, PriceLimit(2))
    assert chain.as_list() == costs
    if broken is None:
        chain.check()
        return
    with pytest.raises(PriceRefused) as info:
        chain.check()
    assert not isinstance(info.value, PriceAboveLimit)  # a sale names PRICE_REFUSED either way
    assert info.value.field == "agentCode"
    assert info.value.message.startswith(f"the cost price of '{broken}' is no longer within 1-2x")
