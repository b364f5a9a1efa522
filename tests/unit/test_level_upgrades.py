"""The automatic upgrade rule, pure: which level an agent's figures reach, and why."""

from typing import Any

import pytest

from domain.levels import (
    LevelProgress,
    LevelRequirements,
    LevelUpgrade,
    automatic_upgrade,
    has_automatic_levels,
    ladder_requirements,
    parse_levels,
)

YUAN = 100  # fen

LADDER = ladder_requirements(
    parse_levels(
        [
            {"code": "member", "name": "Member", "rank": 1},
            {"code": "silver", "name": "Silver", "rank": 2, "conditions": {"ownSales": "1000"}},
            {
                "code": "gold",
                "name": "Gold",
                "rank": 3,
                "conditions": {"ownSales": "10000", "directAgents": 3},
            },
            {
                "code": "diamond",
                "name": "Diamond",
                "rank": 4,
                "conditions": {"teamSales": "100000.50"},
            },
            {"code": "partner", "name": "Partner", "rank": 5},
        ]
    )
)


def progress(own: int = 0, team: int = 0, direct: int = 0) -> LevelProgress:
    return LevelProgress(own_sales_fen=own * YUAN, team_sales_fen=team * YUAN, direct_agents=direct)


def reached(current: str | None = None, **figures: Any) -> str | None:
    upgrade = automatic_upgrade(LADDER, current, progress(**figures))
    return None if upgrade is None else upgrade.level_code


def test_requirements_are_in_fen_and_sorted_by_rank() -> None:
    assert [lv.code for lv in LADDER] == ["member", "silver", "gold", "diamond", "partner"]
    assert LADDER[3] == LevelRequirements("diamond", 4, team_sales_fen=10_000_050)
    assert [lv.automatic for lv in LADDER] == [False, True, True, True, False]


def test_own_sales_condition() -> None:
    assert reached(own=999) is None
    assert reached(own=1000) == "silver"  # the threshold itself is enough


def test_team_sales_condition() -> None:
    assert automatic_upgrade(LADDER, None, LevelProgress(0, 10_000_049, 0)) is None
    assert automatic_upgrade(LADDER, None, LevelProgress(0, 10_000_050, 0)) == LevelUpgrade(
        "diamond", "automatic upgrade to diamond: team sales 100,000.50 ≥ 100,000.50"
    )


def test_direct_agents_condition() -> None:
    ladder = ladder_requirements(
        parse_levels(
            [{"code": "lead", "name": "Lead", "rank": 1, "conditions": {"directAgents": 2}}]
        )
    )
    assert automatic_upgrade(ladder, None, progress(direct=1)) is None
    assert automatic_upgrade(ladder, None, progress(direct=2)) == LevelUpgrade(
        "lead", "automatic upgrade to lead: direct agents 2 ≥ 2"
    )


def test_every_condition_of_a_level_must_hold() -> None:
    assert reached(own=50_000, direct=2) == "silver"  # gold also needs 3 direct agents
    assert reached(own=9_999, direct=10) == "silver"  # and 10,000 of own sales
    assert reached(own=10_000, direct=3) == "gold"


def test_the_highest_qualifying_level_wins() -> None:
    # Diamond asks nothing of own sales: the figures for it hold, so it is chosen over gold.
    assert reached(own=10_000, team=100_001, direct=3) == "diamond"
    assert reached(team=100_001) == "diamond"  # levels are not climbed one by one


def test_never_downgrades_nor_stays_put() -> None:
    assert reached("gold", own=1000) is None  # silver holds but is below gold
    assert reached("silver", own=1000) is None  # already there: no event
    assert reached("silver", own=10_000, direct=3) == "gold"
    assert reached("partner", team=200_000) is None  # an admin-given level above everything


def test_levels_without_conditions_are_never_reached_automatically() -> None:
    assert reached() is None  # "member" asks nothing, yet is left to an admin
    assert reached(own=10**9, team=10**9, direct=10**6) == "diamond"  # never "partner"
    assert not has_automatic_levels(
        ladder_requirements(parse_levels([{"code": "a", "name": "A", "rank": 1}]))
    )
    assert has_automatic_levels(LADDER)


def test_an_admin_level_no_longer_on_the_ladder_is_left_alone() -> None:
    assert reached("retired-grade", own=10**6, team=10**6, direct=100) is None


def test_reason_lists_each_condition_with_its_figures() -> None:
    upgrade = automatic_upgrade(LADDER, "silver", LevelProgress(1_200_000, 0, 3))
    assert upgrade == LevelUpgrade(
        "gold", "automatic upgrade to gold: own sales 12,000.00 ≥ 10,000.00; direct agents 3 ≥ 3"
    )


@pytest.mark.parametrize(
    ("conditions", "figures", "reason"),
    [
        ({"ownSales": "0.01"}, LevelProgress(1, 0, 0), "own sales 0.01 ≥ 0.01"),
        (
            {"ownSales": "1", "teamSales": "1234567.89", "directAgents": 0},
            LevelProgress(100, 123_456_789_00, 0),
            "own sales 1.00 ≥ 1.00; team sales 123,456,789.00 ≥ 1,234,567.89; direct agents 0 ≥ 0",
        ),
    ],
)
def test_reason_figures(conditions: dict[str, Any], figures: LevelProgress, reason: str) -> None:
    ladder = ladder_requirements(
        parse_levels([{"code": "L", "name": "L", "rank": 7, "conditions": conditions}])
    )
    assert automatic_upgrade(ladder, None, figures) == LevelUpgrade(
        "L", f"automatic upgrade to L: {reason}"
    )
