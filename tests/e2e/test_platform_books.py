"""The platform's books after number-card settlements (issue 13): the carrier's total is income,
the agents' shares are credits, the platform keeps the rest; months and rankings count it."""

from tests.e2e.conftest import GraphQLClient
from tests.e2e.test_rules_settlement import LONG, row, setup

TOTALS = "{ platformTotals { income agentCredits net } }"


def month(gql: GraphQLClient, text: str) -> dict:
    return gql(f'{{ platformMonth(month: "{text}") {{ income agentCredits net }} }}')["data"][
        "platformMonth"
    ]


def test_a_settlement_row_is_income_and_the_platform_keeps_the_rest(gql: GraphQLClient) -> None:
    setup(gql, [LONG])
    gql.ok("recordCarrierSettlement", row("R-1"), "agentShare")  # 30.00, 40% to the agent
    assert gql(TOTALS)["data"]["platformTotals"] == {
        "income": "30.00",
        "agentCredits": "12.00",
        "net": "18.00",
    }
    assert month(gql, "2026-04") == {"income": "30.00", "agentCredits": "12.00", "net": "18.00"}


def test_other_numbers_with_an_upline(gql: GraphQLClient) -> None:
    setup(gql, [{**LONG, "rate": "25%"}])
    gql.ok("registerAgent", {"code": "TOP", "name": "Top"})
    gql.ok("bindUpline", {"agentCode": "A", "parentCode": "TOP"})
    gql.ok("recordCarrierSettlement", row("R-1", total="88.40"), "agentShare")  # 22.10 to A
    gql.ok("recordCarrierSettlement", row("R-2", total="11.60", period="2026-04"), "agentShare")
    assert gql(TOTALS)["data"]["platformTotals"] == {
        "income": "100.00",
        "agentCredits": "25.00",
        "net": "75.00",
    }
    assert month(gql, "2026-04") == {"income": "100.00", "agentCredits": "25.00", "net": "75.00"}
    assert month(gql, "2026-03")["income"] == "0.00"
    ranked = gql(
        '{ ranking(month: "2026-04") { agentCode cardIncome teamCardIncome teamAmount } }'
    )["data"]["ranking"]
    assert ranked == [
        {
            "agentCode": "TOP",
            "cardIncome": "0.00",
            "teamCardIncome": "100.00",
            "teamAmount": "0.00",
        },
        {"agentCode": "A", "cardIncome": "100.00", "teamCardIncome": "0.00", "teamAmount": "0.00"},
    ]
    perf = gql('{ teamPerformance(agentCode: "A", month: "2026-04") { cardIncome } }')
    assert perf["data"]["teamPerformance"] == {"cardIncome": "100.00"}
