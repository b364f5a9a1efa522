"""Where a payout goes (issue 11): the payee's most recently added payout account held when the
payout starts, named by its kind and id (never its number); the agent's code when it has none."""

from datetime import UTC, datetime

from domain.common import Audit
from domain.payee import Payee
from domain.payout import payee_account

T1, T2, T3 = (datetime(2026, 3, d, tzinfo=UTC) for d in (1, 2, 3))


def _add(payee: Payee, account_id: str, kind: str, at: datetime) -> None:
    bank = "工商银行" if kind == "BANK_CARD" else None
    payee.add_account(
        account_id, kind, "张三", bank, "v1:k:sealed", "6222****3445", Audit("op", at)
    )


def test_the_latest_account_held_at_the_time_is_chosen() -> None:
    payee = Payee.start("P1")
    assert payee.payout_account(T3) is None
    _add(payee, "card-1", "BANK_CARD", T1)
    _add(payee, "ali-1", "ALIPAY", T2)
    assert payee.payout_account(T1) == ("card-1", "BANK_CARD")  # ali-1 not yet added
    assert payee.payout_account(T3) == ("ali-1", "ALIPAY")
    payee.remove_account("ali-1", Audit("op", T3, "closed"))
    assert payee.payout_account(T3) == ("card-1", "BANK_CARD")
    payee.remove_account("card-1", Audit("op", T3, "closed"))
    assert payee.payout_account(T3) is None


def test_the_later_of_two_accounts_added_at_once_wins() -> None:
    payee = Payee.start("P1")
    _add(payee, "z-first", "WECHAT", T1)
    _add(payee, "a-second", "WECHAT", T1)
    assert payee.payout_account(T1) == ("a-second", "WECHAT")


def test_the_channel_is_given_the_accounts_kind_and_id_or_the_agents_code() -> None:
    assert payee_account("P1", ("card-1", "BANK_CARD")) == "bank_card:card-1"
    assert payee_account("P1") == "agent:P1"
