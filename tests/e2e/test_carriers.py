"""Carriers end to end, against the carrier simulator over HTTP (decision 0031): usage pushed
signed, a quota decision, the command through the outbox to the carrier, the carrier's state
and ours following; duplicates, reordering, outages and lost answers along the way."""

import json
import secrets
import time
from typing import Any

import httpx

from api.auth.sealing import Sealer
from application.carriers import CardStateReport
from domain.common import Audit
from domain.usage import UsageReport
from tests.e2e.carrier_fixtures import (  # noqa: F401 (the fixture is used by its name)
    MB,
    Carriers,
    carriers_fixture,
    issue_push_key,
    personal_card,
)
from tests.e2e.conftest import client_for

ICCID = "89860000000000000001"


def commands(fenrun: Any, status: str | None = None) -> list[Any]:
    return fenrun.outbox.rows(kind="carrier.card", status=status)


def test_usage_over_quota_stops_the_card_at_the_carrier_and_our_state_follows(
    carriers: Carriers, server: str, fenrun
) -> None:
    personal_card(fenrun, ICCID, quota_mb=100)
    carriers.card("CMCC", ICCID, "2")
    carriers.push_to(server, issue_push_key(fenrun))
    carriers.report(ICCID)  # the carrier's status push: in service (OneLink 2 已激活)
    carriers.use(ICCID, 60)
    [answer] = carriers.flush()
    assert answer["status"] == 200, answer
    assert (answer["body"]["recorded"], answer["body"]["errors"]) == (2, [])
    card = fenrun.ledger.card(ICCID)
    assert (card.carrier, str(card.status)) == ("CMCC", "ACTIVATED")
    assert commands(fenrun) == []  # 60 MB of 100: nothing to decide

    carriers.use(ICCID, 50)  # 110 MB this month
    carriers.flush()
    [command] = commands(fenrun)
    assert command.status == "PENDING"
    assert fenrun.ledger.card(ICCID).last_command[0] == "STOP"
    assert carriers.seen(ICCID)["rawState"] == "2"  # decided, not sent yet

    assert fenrun.dispatcher.run_until_idle() == 1
    [command] = commands(fenrun)
    assert command.status == "DELIVERED"
    assert carriers.seen(ICCID)["rawState"] == "4"  # 停机 at the carrier
    answered = fenrun.ledger.carrier_answer(command.command_id)
    assert (answered.outcome, answered.raw_state, answered.iccid) == ("ACCEPTED", "4", ICCID)
    fenrun.catch_up()
    assert str(fenrun.ledger.card(ICCID).status) == "SUSPENDED"  # ours follows the carrier
    # The carrier then pushes the change itself: the same state, recorded, nothing moves.
    [pushed] = carriers.flush()
    assert pushed["body"]["recorded"] == 1
    assert str(fenrun.ledger.card(ICCID).status) == "SUSPENDED"
    # More usage decides nothing more, and nothing is sent again.
    carriers.use(ICCID, 10)
    carriers.flush()
    assert fenrun.dispatcher.run_until_idle() == 0
    assert len(carriers.seen(ICCID)["changes"]) == 1
    # Operators see the command, its delivery and the carrier's answer.
    query = (
        'query { outboxCommands(kind: "carrier.card") { edges { node {'
        " commandId status attempts answer } } } }"
    )
    [edge] = client_for(server, fenrun)(query)["data"]["outboxCommands"]["edges"]
    node = edge["node"]
    assert (node["commandId"], node["status"], node["attempts"]) == (
        command.command_id,
        "DELIVERED",
        1,
    )
    assert json.loads(node["answer"])["rawState"] == "4"


def test_duplicated_and_reordered_pushes_count_once_and_by_their_own_time(
    carriers: Carriers, server: str, fenrun
) -> None:
    personal_card(fenrun, ICCID, quota_mb=1000)
    carriers.card("CUCC", ICCID, "ACTIVATED")
    carriers.push_to(server, issue_push_key(fenrun, carrier="CUCC"))
    carriers.report(ICCID)
    carriers.use(ICCID, 10)
    carriers.change(ICCID, "DEACTIVATED")  # the carrier stops it, then resumes it
    carriers.use(ICCID, 15)  # month to date: 25 MB
    carriers.change(ICCID, "ACTIVATED")
    carriers.faults(duplicatePushes=True, reversePushes=True)  # newest first, everything twice
    first, second = carriers.flush()
    assert (first["body"]["recorded"], first["body"]["duplicates"]) == (5, 0)
    assert (second["body"]["recorded"], second["body"]["duplicates"]) == (0, 5)
    card = fenrun.ledger.card(ICCID)
    # The newest state report is the card's state, though it arrived first.
    assert (str(card.status), card.carrier_state) == ("ACTIVATED", "ACTIVATED")
    # The month's usage is the carrier's latest counter (25 MB), not the last to arrive (10 MB).
    assert fenrun.usage.card_month_bytes(ICCID, fenrun.usage.month_of(fenrun.clock.now())) == (
        25 * MB
    )


def test_the_carrier_down_for_a_while_delays_the_command_and_loses_nothing(
    carriers: Carriers, server: str, fenrun
) -> None:
    personal_card(fenrun, ICCID, quota_mb=100)
    carriers.card("CMCC", ICCID, "2")
    carriers.push_to(server, issue_push_key(fenrun))
    carriers.report(ICCID)
    carriers.use(ICCID, 150)
    carriers.flush()
    fenrun.dispatcher.backoff_seconds = (0.05, 0.2)
    carriers.faults(down=True)
    for _ in range(4):
        fenrun.dispatcher.run_until_idle()
        time.sleep(0.25)
    [command] = commands(fenrun)
    assert command.status == "PENDING"
    assert command.attempts >= 3
    assert "503" in command.last_error
    assert carriers.seen(ICCID)["changes"] == []
    carriers.faults(down=False)
    time.sleep(0.25)
    fenrun.dispatcher.run_until_idle()
    [command] = commands(fenrun)
    assert command.status == "DELIVERED"
    assert [c["to"] for c in carriers.seen(ICCID)["changes"]] == ["4"]
    fenrun.catch_up()
    assert str(fenrun.ledger.card(ICCID).status) == "SUSPENDED"


def test_an_answer_lost_on_the_way_back_is_one_change_at_the_carrier(
    carriers: Carriers, server: str, fenrun
) -> None:
    """The carrier acted, its answer never came: sent again under the same id (OneLink's
    transid), it is the same request there; the answer is recorded once."""
    personal_card(fenrun, ICCID, quota_mb=100)
    carriers.card("CMCC", ICCID, "2")
    carriers.push_to(server, issue_push_key(fenrun))
    carriers.report(ICCID)
    carriers.use(ICCID, 150)
    carriers.flush()
    fenrun.dispatcher.backoff_seconds = (0.0, 0.0)
    carriers.faults(loseAnswers=1)
    fenrun.dispatcher.run_until_idle()
    [command] = commands(fenrun)
    assert (command.status, command.attempts) == ("DELIVERED", 2)
    seen = carriers.seen(ICCID)
    assert [c["to"] for c in seen["changes"]] == ["4"]
    assert fenrun.ledger.carrier_answer(command.command_id).outcome == "ACCEPTED"


def test_a_refusal_is_an_answer_not_a_retry(carriers: Carriers, server: str, fenrun) -> None:
    personal_card(fenrun, ICCID, quota_mb=100)
    carriers.card("CTCC", ICCID, "4")
    carriers.push_to(server, issue_push_key(fenrun, carrier="CTCC"))
    carriers.report(ICCID)
    carriers.use(ICCID, 150)
    carriers.flush()
    carriers.change(ICCID, "7")  # 拆机 at the carrier before the stop is sent
    fenrun.dispatcher.run_until_idle()
    [command] = commands(fenrun)
    assert (command.status, command.attempts) == ("DELIVERED", 1)
    answered = fenrun.ledger.carrier_answer(command.command_id)
    assert (answered.outcome, answered.iccid) == ("REFUSED", ICCID)


def test_a_badly_signed_push_is_refused_and_records_nothing(
    carriers: Carriers, server: str, fenrun
) -> None:
    personal_card(fenrun, ICCID)
    carriers.card("CMCC", ICCID, "2")
    issue_push_key(fenrun)
    carriers.push_to(server, "not-the-secret")
    carriers.report(ICCID)
    [answer] = carriers.flush()
    assert answer["status"] == 401
    assert fenrun.ledger.card(ICCID).carrier is None
    assert httpx.post(f"{server}/v1/carrier-reports/CMCC", json={"reports": []}).status_code == 401
    # A key for settlement rows may not push carrier reports.
    secret = secrets.token_urlsafe(32)
    sealed = Sealer.of(fenrun.settings).seal(secret, "fk_settlements")
    at = Audit("ops", fenrun.clock.now())
    fenrun.ledger.issue_api_key(
        "fk_settlements", "carrier", ("settlements",), sealed, at, speaks_for="CUCC"
    )
    carriers.push_to(server, secret, "fk_settlements")
    carriers.report(ICCID)
    [answer] = carriers.flush()
    assert answer["status"] == 401
    assert fenrun.ledger.card(ICCID).carrier is None


def enterprise_with_cards(fenrun: Any, iccids: list[str], pool_mb: int) -> None:
    for iccid in iccids:
        personal_card(fenrun, iccid, quota_mb=10_000)
    at = Audit("ops", fenrun.clock.now())
    fenrun.ledger.create_enterprise("E1", "Fleet Co", pool_mb, None, "STOP_ALL", at)
    fenrun.ledger.assign_enterprise_cards("E1", tuple(iccids), at)
    fenrun.catch_up()


def test_a_pool_used_up_stops_its_cards_and_a_top_up_resumes_them(
    carriers: Carriers, server: str, fenrun
) -> None:
    cards = ["89860000000000000021", "89860000000000000022"]
    enterprise_with_cards(fenrun, cards, pool_mb=100)
    carriers.push_to(server, issue_push_key(fenrun, carrier="CUCC"))
    for iccid in cards:
        carriers.card("CUCC", iccid, "ACTIVATED")
        carriers.report(iccid)
    carriers.use(cards[0], 70)
    carriers.use(cards[1], 40)  # 110 MB of the pool's 100
    carriers.flush()
    assert [r.status for r in commands(fenrun)] == ["PENDING", "PENDING"]  # STOP, one per card
    fenrun.dispatcher.run_until_idle()
    assert [carriers.seen(i)["rawState"] for i in cards] == ["DEACTIVATED", "DEACTIVATED"]
    fenrun.catch_up()
    assert {str(fenrun.ledger.card(i).status) for i in cards} == {"SUSPENDED"}

    fenrun.ledger.top_up_enterprise_pool("E1", 100, Audit("finance", fenrun.clock.now()))
    fenrun.catch_up()
    assert len(commands(fenrun, "PENDING")) == 2  # RESUME, one per card
    fenrun.dispatcher.run_until_idle()
    assert [carriers.seen(i)["rawState"] for i in cards] == ["ACTIVATED", "ACTIVATED"]
    fenrun.catch_up()
    assert {str(fenrun.ledger.card(i).status) for i in cards} == {"ACTIVATED"}


def test_a_newer_decision_supersedes_a_command_the_carrier_has_not_had_yet(
    carriers: Carriers, server: str, fenrun
) -> None:
    """The carrier is down when the pool runs out (STOP waits), then the pool is topped up
    (RESUME): only the latest word goes out, and the card is never stopped at the carrier."""
    [iccid] = cards = ["89860000000000000031"]
    enterprise_with_cards(fenrun, cards, pool_mb=100)
    carriers.push_to(server, issue_push_key(fenrun))
    carriers.card("CMCC", iccid, "2")
    carriers.report(iccid)
    carriers.use(iccid, 120)
    carriers.flush()
    fenrun.dispatcher.backoff_seconds = (0.0, 0.0)
    carriers.faults(down=True)
    fenrun.dispatcher.run_once()
    [stop] = commands(fenrun)
    assert (stop.status, stop.attempts) == ("PENDING", 1)
    fenrun.ledger.top_up_enterprise_pool("E1", 100, Audit("finance", fenrun.clock.now()))
    carriers.faults(down=False)
    fenrun.dispatcher.run_until_idle()
    stop, resume = commands(fenrun)
    assert (stop.status, stop.superseded_by) == ("SUPERSEDED", resume.command_id)
    assert resume.status == "DELIVERED"
    assert carriers.seen(iccid)["changes"] == []  # never stopped at the carrier
    assert fenrun.ledger.carrier_answer(resume.command_id).outcome == "ACCEPTED"


def test_a_paid_order_activates_the_card_at_the_carrier(
    carriers: Carriers, server: str, fenrun
) -> None:
    personal_card(fenrun, ICCID)
    carriers.card("CMCC", ICCID, "7")  # 库存: in stock at the carrier
    carriers.push_to(server, issue_push_key(fenrun))
    carriers.report(ICCID)
    carriers.flush()
    at = Audit("ops", fenrun.clock.now())
    fenrun.ledger.set_cost_price("A", "P", 6000, at)
    fenrun.ledger.set_retail_price("A", "P", 9000, at)
    fenrun.ledger.place_order("O-1", "P", "A", ICCID, None, "CUSTOMER_PAYS", at)
    fenrun.ledger.complete_order("O-1", at)
    [command] = commands(fenrun, "PENDING")
    assert json.loads(command.payload)["action"] == "ACTIVATE"
    fenrun.dispatcher.run_until_idle()
    assert [(c["from"], c["to"]) for c in carriers.seen(ICCID)["changes"]] == [("7", "2")]
    fenrun.catch_up()
    assert str(fenrun.ledger.card(ICCID).status) == "ACTIVATED"


def test_a_carriers_key_reports_for_its_own_carrier_and_cards_only(
    carriers: Carriers, server: str, fenrun
) -> None:
    """Security review: a push key speaks for one carrier (403 for another's URL), and a
    report on a card another carrier reports on is refused, recording nothing."""
    personal_card(fenrun, ICCID)
    carriers.card("CUCC", ICCID, "ACTIVATED")
    carriers.push_to(server, issue_push_key(fenrun, carrier="CMCC"))
    carriers.report(ICCID)
    [answer] = carriers.flush()  # CUCC's card pushed with CMCC's key
    assert answer["status"] == 403, answer
    assert answer["body"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert fenrun.ledger.card(ICCID).carrier is None

    fenrun.carrier_reports.record(
        "key:cucc", [CardStateReport("r-1", "CUCC", ICCID, "ACTIVATED", fenrun.clock.now())], []
    )
    assert fenrun.ledger.card(ICCID).carrier == "CUCC"
    # China Mobile (through its own key, or an operator) says the CUCC card is cancelled.
    cancelled = CardStateReport("r-2", "CMCC", ICCID, "9", fenrun.clock.now())
    done = fenrun.carrier_reports.record("key:cmcc", [cancelled], [])
    assert [(e["reportId"], e["code"]) for e in done.errors] == [("r-2", "INVALID_STATE")]
    card = fenrun.ledger.card(ICCID)
    assert (card.carrier, str(card.status), card.seen_report("r-2")) == (
        "CUCC",
        "ACTIVATED",
        False,
    )


def test_usage_on_another_carriers_card_is_refused_report_by_report(
    carriers: Carriers, server: str, fenrun
) -> None:
    """Security review: a carrier's usage reports count only on its own cards; one on a card
    another carrier reports on is refused by its id, and the rest of the batch is recorded."""
    other = "89860000000000000002"
    personal_card(fenrun, ICCID)
    personal_card(fenrun, other)
    now = fenrun.clock.now()
    fenrun.carrier_reports.record(
        "key:cucc", [CardStateReport("s-1", "CUCC", ICCID, "ACTIVATED", now)], []
    )
    fenrun.catch_up()  # the cards view knows the card's carrier
    day = now.astimezone(fenrun.settings.zone).date()
    usage = [
        UsageReport(ICCID, "u-1", 5 * MB, now, day=day),  # CUCC's card
        UsageReport(other, "u-2", 7 * MB, now, day=day),  # no carrier has reported on it yet
    ]
    done = fenrun.carrier_reports.record("key:cmcc", [], usage, "CMCC")
    assert [(e["reportId"], e["code"]) for e in done.errors] == [("u-1", "INVALID_STATE")]
    assert (done.recorded, done.duplicates) == (1, 0)
    month = fenrun.usage.month_of(now)
    assert fenrun.usage.cards_month_bytes([ICCID, other], month) == {other: 7 * MB}
    # The card's own carrier reports on it (and CMCC's refused id stays free for CUCC's count).
    done = fenrun.carrier_reports.record(
        "key:cucc", [], [UsageReport(ICCID, "u-3", 5 * MB, now, day=day)], "CUCC"
    )
    assert (done.recorded, done.errors) == (1, [])
    assert fenrun.usage.card_month_bytes(ICCID, month) == 5 * MB


def test_a_push_key_named_for_its_carrier_before_for_existed_still_pushes(
    carriers: Carriers, server: str, fenrun
) -> None:
    """Keys issued before `--for` speak for their name: `carrier-cmcc`, as the docs said."""
    personal_card(fenrun, ICCID)
    carriers.card("CMCC", ICCID, "2")
    secret = secrets.token_urlsafe(32)
    sealed = Sealer.of(fenrun.settings).seal(secret, "fk_legacy")
    at = Audit("ops", fenrun.clock.now())
    fenrun.ledger.issue_api_key("fk_legacy", "carrier-cmcc", ("carrier-reports",), sealed, at)
    carriers.push_to(server, secret, "fk_legacy")
    carriers.report(ICCID)
    [answer] = carriers.flush()
    assert answer["status"] == 200, answer
    assert fenrun.ledger.card(ICCID).carrier == "CMCC"
