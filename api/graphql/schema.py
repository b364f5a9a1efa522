"""The schema, with the extension that reports the request's read position."""

from collections.abc import Callable
from typing import Any

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    max_aliases,
    query_depth_limiter,
)
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from api.graphql.audit import AuditQueries
from api.graphql.cards import CardQueries
from api.graphql.context import Written, view_states
from api.graphql.cost import QueryCost
from api.graphql.execution import PlainFieldsExecution
from api.graphql.hooks import HookRunner
from api.graphql.imports import ImportQueries
from api.graphql.jobs import JobMutations, JobQueries
from api.graphql.limits import Admission, ReadTimeouts
from api.graphql.me import MeQueries
from api.graphql.mutations.agents import AgentMutations
from api.graphql.mutations.card_management import CardManagementMutations
from api.graphql.mutations.cards import CardMutations
from api.graphql.mutations.commissions import CommissionMutations
from api.graphql.mutations.levels import LevelMutations
from api.graphql.mutations.orders import OrderMutations
from api.graphql.mutations.plans import PlanCorrectionMutations, PlanMutations
from api.graphql.mutations.settlements import SettlementMutations
from api.graphql.mutations.statements import StatementMutations
from api.graphql.mutations.wallets import WalletMutations
from api.graphql.mutations.withdrawals import WithdrawalMutations
from api.graphql.outbox import OutboxQueries
from api.graphql.payees import PayeeMutations, PayeeQueries
from api.graphql.payouts import PayoutMutations, PayoutQueries
from api.graphql.plans import PlanQueries
from api.graphql.policy import enforce
from api.graphql.queries import Query
from api.graphql.reconciliation import ReconciliationMutations, ReconciliationQueries
from api.graphql.reports import ReportQueries
from api.graphql.scalars import SCALARS
from api.graphql.statements import StatementQueries
from api.graphql.types import Agent
from api.graphql.visibility import SchemaVisibility
from api.graphql.withdrawals import WithdrawalQueries
from api.heavy import MAX_TOKENS
from api.observability.metrics import OperationMetrics
from projections.positions import PositionNotReady

log = structlog.get_logger(__name__)


class ReadPosition(SchemaExtension):
    """Puts into the response extensions the log position the request read at (and its time)
    and the server that answered it (`readFrom`: "replica" or "primary"), or for a mutation the
    position of its write; and the views it read that lag or failed."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        writes = getattr(context, "writes", None)
        if writes:
            return _written(writes)
        pins = getattr(context, "pins", None)
        if not pins:
            return {}
        first = next(iter(pins.values()))
        out: dict[str, Any] = {
            "position": str(first.position),
            "asOf": first.as_of.isoformat() if first.as_of else None,
            "readFrom": first.server,
        }
        if len({p.position for p in pins.values()}) > 1:
            out["positions"] = sorted({str(p.position) for p in pins.values()})
        behind = {v.name: v for p in pins.values() for v in p.behind}
        if behind:
            out["views"] = view_states(tuple(behind.values()))
        return out


def _written(writes: list[Written]) -> dict[str, Any]:
    """A mutation's answer: the position of its write (the last one's, if it had several)."""
    last = writes[-1]
    out: dict[str, Any] = {"position": str(last.position)}
    if len(writes) > 1:
        out["positions"] = [str(w.position) for w in writes]
    if last.reads_views:
        out["readAt"] = None if last.read_at is None else str(last.read_at)
    if last.behind:
        out["views"] = view_states(last.behind)
    if any(w.caught_up is False for w in writes):
        out["caughtUp"] = False
    return out


def _is_expected(error: GraphQLError) -> bool:
    """Errors the caller caused keep their message; anything else is a bug and is masked."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError | ValueError | PositionNotReady)


def _should_mask(error: GraphQLError) -> bool:
    return not _is_expected(error)


def _factory(cls: type, **kwargs: Any) -> Callable[[], Any]:
    # Extensions as factories, never shared instances (DESIGN.md, pitfalls).
    return lambda: cls(**kwargs)


# Built once: limiters built per request would defeat the validation cache (strawberry #4635).
# The cost rule depends on the settings: QueryCost adds these and the one built for them.
RULES = (
    query_depth_limiter.create_validator(max_depth=10, should_ignore=None),
    max_aliases.create_validator(max_alias_count=30),
)

# In the order of the schema's fields (schema.graphql).
MUTATIONS = (
    AgentMutations,
    PlanMutations,
    OrderMutations,
    WalletMutations,
    WithdrawalMutations,
    PayeeMutations,
    CardMutations,
    CommissionMutations,
    LevelMutations,
    SettlementMutations,
    PlanCorrectionMutations,
    JobMutations,
    PayoutMutations,
    StatementMutations,
    CardManagementMutations,
    ReconciliationMutations,
)

QUERY = merge_types(
    "Query",
    (
        MeQueries,
        Query,
        ReportQueries,
        PlanQueries,
        AuditQueries,
        JobQueries,
        WithdrawalQueries,
        PayeeQueries,
        OutboxQueries,
        PayoutQueries,
        StatementQueries,
        ImportQueries,
        CardQueries,
        ReconciliationQueries,
    ),
)
MUTATION = merge_types("Mutation", MUTATIONS)
enforce(QUERY, MUTATION, Agent)  # the policy table, on every field it names (api/graphql/policy.py)


class Schema(strawberry.Schema):
    """strawberry's schema, logging as an operator needs: errors the caller caused (refusals,
    bad input, FORBIDDEN, limits) at info without a traceback; only bugs at error level."""

    def create_extensions_runner(self, execution_context: Any, extensions: Any) -> HookRunner:
        return HookRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: Any | None = None
    ) -> None:
        for error in errors:
            if _is_expected(error):
                log.info(
                    "graphql.refused",
                    message=error.message,
                    code=(error.extensions or {}).get("code"),
                    path=error.path,
                )
            else:
                super().process_errors([error], execution_context)


schema = Schema(
    query=QUERY,
    mutation=MUTATION,
    config=StrawberryConfig(scalar_map=SCALARS),
    execution_context_class=PlainFieldsExecution,  # plain fields in one loop (decision 0041)
    extensions=[
        OperationMetrics,
        ReadPosition,
        _factory(QueryCost, rules=RULES),  # the limiters, then the cost rule
        _factory(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        # Parsed documents by text (and the token limit): clients send the same texts again and
        # again. Bounded: distinct texts from a public endpoint must not grow memory.
        _factory(ParserCache, maxsize=512),
        Admission,
        ReadTimeouts,
        _factory(MaskErrors, should_mask_error=_should_mask),
        # Validates (cached per text and kind of caller): after every extension that adds rules.
        SchemaVisibility,
    ],
)
