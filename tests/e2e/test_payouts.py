"""Payouts through a payment channel, over HTTP, with the simulated channel as an HTTP service of
its own (issue 11, decision 0026): paid; failed then resubmitted under the same out-request id;
refused; timed out; callbacks duplicated, late, or never; a bad signature refused; batch payouts
(平台主动打款); an agent sees its own."""

import secrets
import time

import httpx
import orjson
import pytest

from api.auth.sealing import Sealer
from api.auth.signatures import sign
from domain.common import Audit
from tests.e2e.payout_env import CHANNEL, PayingEnv, paying, with_commissions

__all__ = ["paying"]


def test_a_payout_is_sent_from_the_outbox_and_paid_once(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-1", "1.00")
    # Decided in the request, sent only by the worker: nothing reached the channel yet.
    assert env.payout("W-1")["status"] == "PENDING"
    assert env.books() == {}
    env.work(callbacks=1)
    payout = env.payout("W-1")
    assert payout["status"] == "PAID"
    assert payout["outRequestId"] == "PO-W-1"
    assert payout["channelTxnId"] == "PO-W-1-1"
    assert env.books()["PO-W-1"]["timesPaid"] == 1
    assert env.callbacks.answers == [200]
    assert env.wallet() == {"available": "15.00", "withdrawing": "0.00"}
    rows = env.fenrun.outbox.rows(kind="payout.submit")
    assert [(r.status, r.attempts) for r in rows] == [("DELIVERED", 1)]
    listed = env.gql(
        '{ payouts(agentCode: "P1", status: PAID) { edges { node { withdrawalId } } } }'
    )
    assert [e["node"]["withdrawalId"] for e in listed["data"]["payouts"]["edges"]] == ["W-1"]


def test_a_payout_goes_to_the_agents_latest_payout_account_never_its_number(
    paying: PayingEnv,
) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-A0", "1.00")  # no payout account yet: named by the agent's code
    for account_id, kind, number in (("card-1", "BANK_CARD", "6222020200112233445"),
                                     ("ali-1", "ALIPAY", "zhangsan@example.com")):  # fmt: skip
        account = {"agentCode": "P1", "accountId": account_id, "kind": kind,
                   "holderName": "张三", "number": number}  # fmt: skip
        if kind == "BANK_CARD":
            account["bankName"] = "工商银行"
        env.gql.ok("addPayoutAccount", account)
    env.withdraw("W-A1", "1.00")
    env.work(callbacks=2)
    books = env.books()
    # The simulator's own record of where each payment went.
    assert books["PO-W-A0"]["payeeAccount"] == "agent:P1"
    assert books["PO-W-A1"]["payeeAccount"] == "alipay:ali-1"  # the most recently added
    assert env.payout("W-A1")["status"] == "PAID"
    payloads = [r.payload for r in env.fenrun.outbox.rows(kind="payout.submit")]
    assert "zhangsan@example.com" not in "".join(payloads)


def test_a_failed_payout_is_resubmitted_under_the_same_out_request_id(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-2", "1.11")  # the simulator fails the first attempt
    env.work(callbacks=1)
    failed = env.payout("W-2")
    assert (failed["status"], failed["failureReason"]) == (
        "FAILED",
        "sim callback: payee account frozen",
    )
    assert env.wallet()["withdrawing"] == "1.11"  # still set aside: finance decides
    again = env.gql.ok("resubmitPayout", {"withdrawalId": "W-2"}, "status")
    assert again["status"] == "RESUBMITTED"
    env.work(callbacks=2)
    paid = env.payout("W-2")
    assert (paid["status"], paid["outRequestId"], paid["submissions"]) == ("PAID", "PO-W-2", 2)
    books = env.books()["PO-W-2"]
    assert (books["attempts"], books["timesPaid"], books["history"]) == (2, 1, ["failed", "paid"])
    assert env.wallet() == {"available": "14.89", "withdrawing": "0.00"}
    assert env.events("Paid") == 1
    refused = env.gql.mutate("resubmitPayout", {"withdrawalId": "W-2"}, "status")
    assert refused["userErrors"][0]["code"] == "INVALID_STATE"  # paid is final


def test_a_refused_request_fails_at_once_and_a_timeout_is_retried(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-R", "0.22")  # refused at submit the first time
    env.withdraw("W-T", "0.33")  # taken, but the answer is lost (a timeout)
    env.work()
    assert env.payout("W-R")["status"] == "FAILED"
    assert env.payout("W-R")["failureReason"] == "invalid payee account"
    env.wait_for_callbacks(1)  # the timed-out request was paid: its callback comes
    time.sleep(0.1)
    env.work()
    assert env.payout("W-T")["status"] == "PAID"
    [row] = env.fenrun.outbox.rows(key="PO-W-T")
    assert row.status == "DELIVERED"
    assert row.attempts >= 2
    assert env.books()["PO-W-T"]["timesPaid"] == 1
    env.gql.ok("resubmitPayout", {"withdrawalId": "W-R"})
    env.work(callbacks=2)
    assert env.payout("W-R")["status"] == "PAID"
    assert env.books()["PO-W-R"]["timesPaid"] == 1


def test_a_duplicated_callback_is_recorded_once(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-3", "0.44")  # the callback comes twice
    env.work(callbacks=2)
    assert env.callbacks.answers == [200, 200], env.callbacks.bodies
    assert env.payout("W-3")["status"] == "PAID"
    assert env.events("Paid") == 1
    assert env.wallet()["withdrawing"] == "0.00"


def test_a_missing_callback_is_found_by_the_poll_and_a_late_one_changes_nothing(
    paying: PayingEnv,
) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-4", "0.55")  # the callback never comes
    env.withdraw("W-5", "0.66")  # the callback comes late: after the poll
    env.work()
    assert env.payout("W-4")["status"] == "SUBMITTED"
    assert env.payout("W-5")["status"] == "SUBMITTED"
    done = env.poll()
    assert sorted(done.paid) == ["W-4", "W-5"]
    assert env.payout("W-4")["status"] == env.payout("W-5")["status"] == "PAID"
    assert httpx.post(env.sim_url + "/control/callbacks/release").json() == {"released": 1}
    env.wait_for_callbacks(1)
    assert env.callbacks.answers == [200]
    assert env.events("Paid") == 2  # one each: the late callback recorded nothing
    assert env.poll().paid == []  # nothing submitted is left to ask about
    assert env.wallet() == {"available": "14.79", "withdrawing": "0.00"}


def _signed(env: PayingEnv, body: bytes, secret: str, key_id: str | None = None) -> dict[str, str]:
    stamp, nonce = str(int(time.time())), secrets.token_hex(12)
    path = f"/v1/payment-callbacks/{CHANNEL}"
    return {
        "content-type": "application/json",
        "x-fenrun-key": key_id or env.key_id,
        "x-fenrun-timestamp": stamp,
        "x-fenrun-nonce": nonce,
        "x-fenrun-signature": sign(secret, "POST", path, stamp, nonce, body),
    }


def test_a_callback_with_a_bad_signature_is_refused(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-6", "0.55")  # no callback of its own: the test sends them
    env.work()
    url = f"{env.url}/v1/payment-callbacks/{CHANNEL}"
    body = orjson.dumps(
        {"outRequestId": "PO-W-6", "channelTxnId": "PO-W-6-1", "status": "FAILED", "reason": "x"}
    )
    forged = httpx.post(url, content=body, headers=_signed(env, body, "not-the-secret"))
    assert forged.status_code == 401
    assert httpx.post(url, content=body).status_code == 401  # unsigned
    assert env.payout("W-6")["status"] == "SUBMITTED"
    paid = orjson.dumps({"outRequestId": "PO-W-6", "channelTxnId": "PO-W-6-1", "status": "PAID"})
    done = httpx.post(url, content=paid, headers=_signed(env, paid, env.secret))
    assert done.json() == {"recorded": True, "status": "PAID", "userErrors": []}
    again = httpx.post(url, content=paid, headers=_signed(env, paid, env.secret))
    assert again.json()["recorded"] is False
    stale = httpx.post(url, content=body, headers=_signed(env, body, env.secret))
    assert stale.json()["recorded"] is False  # a failure after paid changes nothing
    unknown = orjson.dumps({"outRequestId": "PO-none", "channelTxnId": "t", "status": "PAID"})
    missing = httpx.post(url, content=unknown, headers=_signed(env, unknown, env.secret))
    assert missing.status_code == 404
    assert "/v1/payment-callbacks/{channel}" in httpx.get(env.url + "/openapi.json").json()["paths"]


def test_another_channels_key_cannot_settle_this_channels_payouts(paying: PayingEnv) -> None:
    """Security review: a `payment-callbacks` key speaks for its own channel only."""
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-9", "0.55")  # no callback of its own: the test sends them
    env.work()
    secret = secrets.token_urlsafe(32)
    sealed = Sealer.of(env.fenrun.settings).seal(secret, "fk_other")
    at = Audit("ops", env.fenrun.clock.now())
    env.fenrun.ledger.issue_api_key(
        "fk_other", "other-pay", ("payment-callbacks",), sealed, at, speaks_for="other-pay"
    )
    url = f"{env.url}/v1/payment-callbacks/{CHANNEL}"
    paid = orjson.dumps({"outRequestId": "PO-W-9", "channelTxnId": "X-1", "status": "PAID"})
    refused = httpx.post(url, content=paid, headers=_signed(env, paid, secret, "fk_other"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["userErrors"][0]["code"] == "FORBIDDEN"
    assert env.payout("W-9")["status"] == "SUBMITTED"
    done = httpx.post(url, content=paid, headers=_signed(env, paid, env.secret))
    assert done.json()["status"] == "PAID"


def test_a_failed_payout_cancelled_returns_the_money(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    env.withdraw("W-7", "2.11")
    env.work(callbacks=1)
    refused = env.gql.mutate("cancelPayout", {"withdrawalId": "W-7"}, "status")
    assert refused["userErrors"][0]["field"] == ["input", "reason"]
    env.gql.ok("cancelPayout", {"withdrawalId": "W-7", "reason": "payee gone"}, "status")
    assert env.payout("W-7")["status"] == "CANCELLED"
    assert env.wallet() == {"available": "16.00", "withdrawing": "0.00"}


def test_agents_see_their_own_payouts_only(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    env.gql.ok("registerAgent", {"code": "Q1", "name": "Other", "realNameVerified": True})
    env.withdraw("W-8", "1.00")
    env.work(callbacks=1)
    own = env.gql.as_user("p1-user", roles=("agent",), agent="P1")
    assert env.payout("W-8", own)["status"] == "PAID"
    other = env.gql.as_user("q1-user", roles=("agent",), agent="Q1")
    body = other.raw('{ payout(withdrawalId: "W-8") { status } }').json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = other.raw('{ payouts(agentCode: "P1") { edges { cursor } } }').json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = own.raw('mutation { resubmitPayout(input: {withdrawalId: "W-8"}) { status } }')
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("paying", ["batch"], indirect=True)
def test_batch_payouts_send_what_finance_releases(paying: PayingEnv) -> None:
    env = paying
    with_commissions(env.gql)
    for n in range(3):
        env.withdraw(f"W-B{n}", "1.00")
    env.work()
    assert env.books() == {}  # held for the batch
    assert all(env.payout(f"W-B{n}")["held"] for n in range(3))
    first = env.gql.ok("payApprovedWithdrawals", {"ids": ["W-B1"]}, "withdrawalIds")
    assert first["withdrawalIds"] == ["W-B1"]
    env.work(callbacks=1)
    assert env.payout("W-B1")["status"] == "PAID"
    rest = env.gql.ok("payApprovedWithdrawals", {"all": True}, "withdrawalIds")
    assert rest["withdrawalIds"] == ["W-B0", "W-B2"]
    env.work(callbacks=3)
    assert {env.payout(f"W-B{n}")["status"] for n in range(3)} == {"PAID"}
    none_left = env.gql.mutate("payApprovedWithdrawals", {"all": True}, "withdrawalIds")
    assert none_left["userErrors"][0]["field"] == ["input", "all"]
    twice = env.gql.mutate("payApprovedWithdrawals", {"ids": ["W-B1"]}, "withdrawalIds")
    assert twice["userErrors"][0]["code"] == "INVALID_STATE"
    auditor = env.gql.as_user("aud", roles=("auditor",))
    denied = auditor.raw(
        "mutation { payApprovedWithdrawals(input: {all: true}) { withdrawalIds } }"
    )
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
