"""The schema, with the extension that reports the request's read position."""

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ValidationCache,
    max_aliases,
    query_depth_limiter,
)
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from api.graphql.audit import AuditQueries
from api.graphql.cost import QueryCost
from api.graphql.jobs import JobMutations, JobQueries
from api.graphql.limits import Admission, ReadTimeouts
from api.graphql.mutations.agents import AgentMutations
from api.graphql.mutations.cards import CardMutations
from api.graphql.mutations.commissions import CommissionMutations
from api.graphql.mutations.levels import LevelMutations
from api.graphql.mutations.orders import OrderMutations
from api.graphql.mutations.plans import PlanCorrectionMutations, PlanMutations
from api.graphql.mutations.settlements import SettlementMutations
from api.graphql.mutations.wallets import WalletMutations
from api.graphql.plans import PlanQueries
from api.graphql.queries import Query
from api.graphql.reports import ReportQueries
from api.graphql.scalars import SCALARS
from api.heavy import MAX_TOKENS
from api.observability.metrics import OperationMetrics
from projections.queries import PositionNotReady


class ReadPosition(SchemaExtension):
    """Puts the log position (and its time) the request read at into the response extensions."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        pins = getattr(context, "pins", None)
        if not pins:
            return {}
        first = next(iter(pins.values()))
        out: dict[str, Any] = {
            "position": str(first.position),
            "asOf": first.as_of.isoformat() if first.as_of else None,
        }
        if len({p.position for p in pins.values()}) > 1:
            out["positions"] = sorted({str(p.position) for p in pins.values()})
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
# The cost rule depends on the settings: QueryCost adds the one built for them.
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
    CardMutations,
    CommissionMutations,
    LevelMutations,
    SettlementMutations,
    PlanCorrectionMutations,
    JobMutations,
)

schema = strawberry.Schema(
    query=merge_types("Query", (Query, ReportQueries, PlanQueries, AuditQueries, JobQueries)),
    mutation=merge_types("Mutation", MUTATIONS),
    config=StrawberryConfig(scalar_map=SCALARS),
    extensions=[
        OperationMetrics,
        ReadPosition,
        lambda: AddValidationRules(list(RULES)),
        QueryCost,
        _factory(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        # Clients send the same texts again and again: validate each once. (strawberry's
        # ParserCache raises a syntax error from its hook, which the metrics then count as an
        # execution error: not used.)
        _factory(ValidationCache, maxsize=512),
        Admission,
        ReadTimeouts,
        _factory(MaskErrors, should_mask_error=_should_mask),
    ],
)
