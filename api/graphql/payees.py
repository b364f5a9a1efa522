"""Agents as payees: entity type, real-name verification, personal data and payout accounts.

Personal data is encrypted here before any command carries it (api/pii.py) and decrypted only for
finance and admins; every other reader gets the masked form (decision 0024).
"""

from datetime import datetime
from typing import Annotated, Any

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.mutations.base import audit_of, mutate
from api.graphql.scalars import DateTime
from api.graphql.types import UserError
from api.pii import mask
from application.results import PayeeRecorded
from application.use_cases.payees import (
    AddPayoutAccount,
    ChangeRealNameVerification,
    RemovePayoutAccount,
    SetPayeeEntityType,
    SetPayeePersonalData,
)
from domain.errors import AgentNotFound, InvalidInput
from domain.identity import Role
from domain.payee import INDIVIDUAL

AsOf = Annotated[
    DateTime | None,
    strawberry.argument(description="The payee as it was at this effective time (default: now)."),
]
MAX_PERSONAL_TEXT = 64  # longest ID number, phone or account number accepted


def sees_personal_data(info: strawberry.Info) -> bool:
    """Finance and admins see personal data in full; everyone else masked."""
    principal = info.context.principal
    return bool(principal.unchecked or principal.roles & {Role.ADMIN, Role.FINANCE})


@strawberry.type(description="A payout account; its number masked except for finance and admins.")
class PayoutAccount:
    id: str
    kind: str
    holder_name: str
    bank_name: str | None
    number: str
    added_at: DateTime


@strawberry.type
class Payee:
    agent_code: str
    entity_type: str = strawberry.field(description="INDIVIDUAL (劳务报酬 withheld) or COMPANY.")
    real_name_verified: bool
    verification_evidence: str | None = strawberry.field(
        description="The evidence reference of the change that made it so (none: as registered)."
    )
    id_number: str | None
    phone: str | None
    accounts: list[PayoutAccount]


def _personal(
    info: strawberry.Info, found: tuple[str, str] | None, agent_code: str, field: str
) -> str | None:
    if found is None:
        return None
    if sees_personal_data(info):
        return info.context.app.pii.open(found[0], agent_code, field)  # type: ignore[no-any-return]
    return found[1]


@strawberry.type
class PayeeQueries:
    @strawberry.field(description="An agent as a payee, as of an effective time.")
    async def payee(
        self, info: strawberry.Info, agent_code: str, as_of: AsOf = None
    ) -> Payee | None:
        ledger = info.context.app.ledger
        at: datetime = as_of or ledger.clock.now()

        def read() -> Payee | None:
            try:
                agent = ledger.agent(agent_code)
            except AgentNotFound:
                return None
            payee = ledger.existing_payee(agent_code)
            if payee is None:
                verified, evidence, entity = bool(agent.real_name_verified), None, INDIVIDUAL
                id_number = phone = None
                accounts: list[PayoutAccount] = []
            else:
                verified, evidence = payee.verification(at, agent.real_name_verified)
                entity = payee.entity_type(at)
                id_number = _personal(
                    info, payee.personal_at("ID_NUMBER", at), agent_code, "ID_NUMBER"
                )
                phone = _personal(info, payee.personal_at("PHONE", at), agent_code, "PHONE")
                accounts = [
                    PayoutAccount(
                        id=account_id,
                        kind=a["kind"],
                        holder_name=a["holder_name"],
                        bank_name=a["bank_name"],
                        number=_personal(
                            info,
                            (a["number_sealed"], a["number_masked"]),
                            agent_code,
                            f"ACCOUNT:{account_id}",
                        )
                        or "",
                        added_at=a["added_at"],
                    )
                    for account_id, a in payee.accounts_at(at)
                ]
            return Payee(
                agent_code=agent_code,
                entity_type=entity,
                real_name_verified=verified,
                verification_evidence=evidence,
                id_number=id_number,
                phone=phone,
                accounts=accounts,
            )

        return await run_in_threadpool(read)


@strawberry.input
class SetPayeeEntityTypeInput:
    agent_code: str
    entity_type: str = strawberry.field(description="INDIVIDUAL or COMPANY")
    reason: str = ""
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class ChangeRealNameVerificationInput:
    agent_code: str
    verified: bool
    evidence_ref: str = strawberry.field(description="Where the evidence is kept (a reference).")
    reason: str
    occurred_at: DateTime | None = None
    idempotency_key: str | None = None


@strawberry.input
class SetPayeePersonalDataInput:
    agent_code: str
    field: str = strawberry.field(description="ID_NUMBER or PHONE")
    value: str
    idempotency_key: str | None = None


@strawberry.input
class AddPayoutAccountInput:
    agent_code: str
    account_id: str
    kind: str = strawberry.field(description="BANK_CARD, WECHAT or ALIPAY")
    holder_name: str
    number: str = strawberry.field(description="Card number, or the WeChat / Alipay account.")
    bank_name: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RemovePayoutAccountInput:
    agent_code: str
    account_id: str
    reason: str = ""
    idempotency_key: str | None = None


@strawberry.type
class PayeePayload:
    agent_code: str | None
    user_errors: list[UserError]


def _payload(done: Any) -> PayeePayload:
    result: PayeeRecorded | None = done.result
    if result is None:
        return PayeePayload(agent_code=None, user_errors=done.errors)
    return PayeePayload(agent_code=result.agent_code, user_errors=[])


def _plain(value: str, field: str) -> str:
    """Personal text as given: printable, bounded (checked before it is encrypted)."""
    text = value.strip()
    if not text or len(text) > MAX_PERSONAL_TEXT or not text.isprintable():
        raise InvalidInput(field, f"{field} must be 1 to {MAX_PERSONAL_TEXT} printable characters")
    return text


@strawberry.type
class PayeeMutations:
    @strawberry.mutation(description="Individual (劳务报酬 withheld) or company, from occurredAt.")
    async def set_payee_entity_type(
        self, info: strawberry.Info, input: SetPayeeEntityTypeInput
    ) -> PayeePayload:
        return await mutate(
            info,
            lambda: SetPayeeEntityType(
                agent_code=input.agent_code,
                entity_type=input.entity_type,
                audit=audit_of(info, input.occurred_at, input.reason),
                key=input.idempotency_key,
            ),
            _payload,
        )

    @strawberry.mutation(
        description="Verifies (or unverifies) an agent's real name, with evidence."
    )
    async def change_real_name_verification(
        self, info: strawberry.Info, input: ChangeRealNameVerificationInput
    ) -> PayeePayload:
        return await mutate(
            info,
            lambda: ChangeRealNameVerification(
                agent_code=input.agent_code,
                verified=input.verified,
                evidence_ref=input.evidence_ref,
                audit=audit_of(info, input.occurred_at, input.reason),
                key=input.idempotency_key,
            ),
            _payload,
        )

    @strawberry.mutation(description="Records an ID number or phone, encrypted at rest.")
    async def set_payee_personal_data(
        self, info: strawberry.Info, input: SetPayeePersonalDataInput
    ) -> PayeePayload:
        pii = info.context.app.pii

        def command() -> SetPayeePersonalData:
            plain = _plain(input.value, "value")
            return SetPayeePersonalData(
                agent_code=input.agent_code,
                field=input.field,
                sealed=pii.seal(plain, input.agent_code, input.field),
                masked=mask(plain),
                audit=audit_of(info, None),
                key=input.idempotency_key,
            )

        return await mutate(info, command, _payload)

    @strawberry.mutation(description="Adds a payout account; its number is encrypted at rest.")
    async def add_payout_account(
        self, info: strawberry.Info, input: AddPayoutAccountInput
    ) -> PayeePayload:
        pii = info.context.app.pii

        def command() -> AddPayoutAccount:
            plain = _plain(input.number, "number")
            return AddPayoutAccount(
                agent_code=input.agent_code,
                account_id=input.account_id,
                kind=input.kind,
                holder_name=input.holder_name,
                bank_name=input.bank_name,
                number_sealed=pii.seal(plain, input.agent_code, f"ACCOUNT:{input.account_id}"),
                number_masked=mask(plain),
                audit=audit_of(info, None),
                key=input.idempotency_key,
            )

        return await mutate(info, command, _payload)

    @strawberry.mutation
    async def remove_payout_account(
        self, info: strawberry.Info, input: RemovePayoutAccountInput
    ) -> PayeePayload:
        return await mutate(
            info,
            lambda: RemovePayoutAccount(
                agent_code=input.agent_code,
                account_id=input.account_id,
                audit=audit_of(info, None, input.reason),
                key=input.idempotency_key,
            ),
            _payload,
        )
