"""What a GraphQL request costs, from one table of per-field costs, checked before it runs.

Every root field (and every field with a resolver of its own, and every list of objects) has an
entry in COSTS; a test walks the schema and fails when one has none, so a new field cannot skip
this. A request's cost is the sum over its selections, aliases and fragments included:

- a field's own work, its entry's `own` (a database query: 1; a write and its catch-up: 10; a
  replay: 50; none without an entry), plus 1 for each object it builds (0 for plain values);
- a list multiplies what it holds: a connection by its `first` (the schema's default when
  absent; a variable counts as the largest page, since validation runs before variables are
  known), any other list by the length its entry assumes;
- an `exclusive` field (a simulation) costs over half the limit: one per request at most.

A request over `max_query_cost` is refused before anything runs, with a GraphQL error whose
extensions say `QUERY_TOO_COSTLY`, its cost and the limit. The rule is a graphql-core validation
rule built once per (limit, page size) and added by the QueryCost extension, so strawberry's
validation cache keeps hitting (strawberry issue #4635). Rate-limited fields (expensive
operations) are counted by the same walk: api/graphql/limits.py charges them to the client.
"""

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
    parse,
)
from strawberry.extensions.base_extension import SchemaExtension

TOO_COSTLY = "QUERY_TOO_COSTLY"
MAX_TOKENS = 5000  # as the schema's MaxTokensLimiter: a larger document is refused anyway


@dataclass(frozen=True)
class FieldCost:
    own: int = 1  # the field's own work, once per call
    paged: bool = False  # sized by its `first` argument (a connection, or a list)
    items: int = 1  # a list's assumed length when nothing bounds it
    exclusive: bool = False  # over half the limit: one per request
    rate_limited: bool = False  # charged to the client's expensive-operation rate
    background: bool = False  # its own work runs in a job process, not in this one


QUERY = FieldCost(1)  # one read of the views
REPORT = FieldCost(2)  # a report: a few reads
WRITE = FieldCost(10)  # a command, its catch-up and the payload's read
SIMULATION = FieldCost(exclusive=True, rate_limited=True)
SIMULATION_JOB = FieldCost(exclusive=True, rate_limited=True, background=True)

# Keyed "Type.field"; "*.field" for a field of that name on any type.
COSTS: dict[str, FieldCost] = {
    # -- queries ---------------------------------------------------------------------------------
    "Query.agent": QUERY,
    "Query.wallet": QUERY,
    "Query.commissions": FieldCost(1, paged=True),
    "Query.commission": QUERY,
    "Query.unfreezeRequests": FieldCost(1, paged=True),
    "Query.platformTotals": QUERY,
    "Query.commissionPlans": FieldCost(1, items=20),
    "Query.replay": FieldCost(50, rate_limited=True),  # folds one aggregate's whole history
    "Query.teamPerformance": REPORT,
    "Query.activationReport": FieldCost(2, items=12),
    "Query.platformMonth": REPORT,
    "Query.ranking": FieldCost(2, paged=True),
    "Query.simulatePlan": SIMULATION_JOB,  # waits for a job
    "Query.auditHead": QUERY,
    "Query.planSimulationJob": QUERY,
    "Query.outboxCommands": FieldCost(1, paged=True),
    "Query.payouts": FieldCost(1, paged=True),
    "Query.payout": QUERY,
    "Query.me": FieldCost(0),  # the token's claims: nothing read
    "Query.walletMovements": FieldCost(1, paged=True),
    "Query.statements": FieldCost(1, paged=True),
    "Query.statement": QUERY,
    "Query.settlementImports": FieldCost(2, paged=True),  # the imports' records, from the log
    "Query.reconciliations": FieldCost(2, paged=True),  # the runs' records, from the log
    "Query.reconciliation": FieldCost(2),
    # A run keeps up to MAX_ITEMS_KEPT differences: paged by its own `first`, never assumed few.
    "Reconciliation.items": FieldCost(0, paged=True),
    "Reconciliation.decisions": FieldCost(0, items=4),
    "RunReconciliationPayload.reconciliation": FieldCost(0),
    "Query.card": QUERY,
    "Card.usedBytes": QUERY,  # one read of the usage store
    "Query.cards": FieldCost(1, paged=True),
    "Query.enterprise": QUERY,
    # -- fields that read more ---------------------------------------------------------------------
    "Agent.children": FieldCost(1, paged=True),
    "Agent.wallet": QUERY,
    "Agent.commissions": FieldCost(1, paged=True),
    "Commission.history": FieldCost(1, items=5),  # a line moves through a few statuses
    "Commission.explanation": FieldCost(0),  # words from its own row, nothing read
    "UnfreezeRequest.commission": QUERY,
    "UnfreezeRequest.approvals": FieldCost(0, items=2),  # at most two approvers, on its row
    "UnfreezeRequest.awaitingSecondApproval": FieldCost(0),
    "UnfreezeRequestsPayload.requests": FieldCost(0, items=100),
    "WithdrawalsDecidedPayload.withdrawals": FieldCost(0, items=100),
    "WithdrawalsDecidedPayload.awaitingSecondApproval": FieldCost(0, items=100),
    "PlanSimulation.commissions": FieldCost(0, paged=True),  # pages through a result in memory
    "PlanSimulation.agents": FieldCost(0, items=50),
    "PlanSimulationJob.simulation": QUERY,  # decodes the stored result
    "SettlementImport.problems": FieldCost(0, items=10),  # on the import's record (500 at most)
    "*.userErrors": FieldCost(0, items=2),
    "Statement.lines": FieldCost(0, items=10),  # on its row: one per movement kind
    "Statement.categories": FieldCost(0, items=6),
    "Statement.history": FieldCost(1, items=4),
    "StatementPayload.statement": QUERY,
    "AdjustmentPayload.wallet": QUERY,
    # -- mutations -------------------------------------------------------------------------------
    "Mutation.registerAgent": WRITE,
    "Mutation.bindUpline": WRITE,
    "Mutation.definePackage": WRITE,
    "Mutation.setCostPrice": WRITE,
    "Mutation.setRetailPrice": WRITE,
    "Mutation.defineCommissionPlan": WRITE,
    "Mutation.placeOrder": WRITE,
    "Mutation.completeOrder": WRITE,
    "Mutation.refundOrder": WRITE,
    "Mutation.topUpDeposit": WRITE,
    "Mutation.requestWithdrawal": WRITE,
    "Mutation.settleWithdrawal": WRITE,
    "Mutation.approveWithdrawals": WRITE,
    "Query.withdrawals": FieldCost(1, paged=True),
    "Query.withdrawal": QUERY,
    "Query.withdrawalLimits": QUERY,
    "Query.payee": QUERY,
    "Payee.accounts": FieldCost(0, items=20),  # at most 20 accounts, read with the payee
    "Mutation.setPayeeEntityType": WRITE,
    "Mutation.changeRealNameVerification": WRITE,
    "Mutation.setPayeePersonalData": WRITE,
    "Mutation.addPayoutAccount": WRITE,
    "Mutation.removePayoutAccount": WRITE,
    "Mutation.rejectWithdrawals": WRITE,
    "Mutation.setWithdrawalLimits": WRITE,
    "Mutation.moveCommissionToDeposit": WRITE,
    "Mutation.requestAccountFreeze": WRITE,
    "Mutation.decideAccountFreeze": WRITE,
    "Mutation.assignCard": WRITE,
    "Mutation.activateCard": WRITE,
    "Mutation.recordRecharge": WRITE,
    "Mutation.reportCardConditions": WRITE,
    "Mutation.releaseDueCommissions": WRITE,
    "Mutation.approveUnfreezeRequests": WRITE,
    "Mutation.rejectUnfreezeRequests": WRITE,
    "Mutation.defineAgentLevels": WRITE,
    "Mutation.setAgentLevel": WRITE,
    "Mutation.recordCarrierSettlement": WRITE,
    "Mutation.applyPlanCorrection": SIMULATION,  # simulates its preview in the request
    "Mutation.startPlanSimulation": FieldCost(10, rate_limited=True),  # queues a job
    "Mutation.resubmitPayout": WRITE,
    "Mutation.cancelPayout": WRITE,
    "Mutation.payApprovedWithdrawals": WRITE,
    # Reads every agent's movements of the cycle and writes a statement per agent.
    "Mutation.generateStatements": FieldCost(exclusive=True, rate_limited=True),
    "Mutation.approveStatement": WRITE,
    "Mutation.rejectStatement": WRITE,
    "Mutation.voidStatement": WRITE,
    # Reads a cycle's statements, movements and payouts (or a file) and compares them.
    "Mutation.runReconciliation": FieldCost(20, rate_limited=True),
    "Mutation.resolveReconciliationItem": WRITE,
    "Mutation.proposeReconciliationWriteOff": WRITE,
    "Mutation.approveReconciliationWriteOff": WRITE,
    "Mutation.proposeCommissionAdjustment": WRITE,
    "Mutation.approveCommissionAdjustment": WRITE,
    "Mutation.rejectCommissionAdjustment": WRITE,
    "Mutation.recordCarrierCardState": WRITE,
    "Mutation.recordCardConditions": WRITE,
    "Mutation.recordUsageReports": FieldCost(20),  # a bulk write, and the rules it runs
    "Mutation.setPackageQuota": WRITE,
    "Mutation.createEnterprise": WRITE,
    "Mutation.assignEnterpriseCards": WRITE,
    "Mutation.topUpEnterprisePool": WRITE,
    "Mutation.cancelOrder": WRITE,
}


def cost_of(type_name: str, field_name: str) -> FieldCost | None:
    return COSTS.get(f"{type_name}.{field_name}") or COSTS.get(f"*.{field_name}")


@dataclass(frozen=True)
class Limits:
    max_cost: int
    max_page: int


class Tally(NamedTuple):
    cost: int = 0
    rate_limited: int = 0  # calls of rate-limited fields
    background: int = 0  # the part of the cost that job processes bear

    def __add__(self, other: Any) -> "Tally":
        return Tally(*(a + b for a, b in zip(self, other, strict=True)))

    def times(self, count: int) -> "Tally":
        return Tally(*(a * count for a in self))

    @property
    def local(self) -> int:
        """The work this process does itself."""
        return self.cost - self.background


NOTHING = Tally()


class Walk:
    """One operation's tally. Fragments are tallied once per page size (a document spreading
    fragments into each other cannot make this walk exponential); unknown fields and fragment
    cycles count nothing here (the standard rules refuse them)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, limits: Limits) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.done: dict[tuple[str, int], Tally] = {}
        self.active: set[tuple[str, int]] = set()

    def operation(self, operation: OperationDefinitionNode) -> Tally:
        root = self.schema.get_root_type(operation.operation)
        return NOTHING if root is None else self.selections(operation.selection_set, root, 0)

    def selections(self, selection_set: SelectionSetNode | None, parent: Any, page: int) -> Tally:
        total = NOTHING
        for selection in (selection_set.selections or ()) if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.type_of(selection.type_condition) or parent
                total += self.selections(selection.selection_set, inner, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page)
        return total

    def fragment(self, name: str, page: int) -> Tally:
        key = (name, page)
        found = self.fragments.get(name)
        if key in self.done or found is None or key in self.active:
            return self.done.get(key, NOTHING)
        self.active.add(key)
        try:
            tally = self.selections(found.selection_set, self.type_of(found.type_condition), page)
        finally:
            self.active.discard(key)
        self.done[key] = tally
        return tally

    def field(self, node: FieldNode, parent: Any, page: int) -> Tally:
        definition = getattr(parent, "fields", {}).get(node.name.value)
        if definition is None:
            return NOTHING  # __typename, or a field the schema lacks
        entry = cost_of(parent.name, node.name.value)
        named = get_named_type(definition.type)
        builds = 1 if is_composite_type(named) else 0
        first = self.first(node, definition) if entry and entry.paged else page
        each = Tally(builds) + self.selections(node.selection_set, named, first)
        calls = NOTHING
        if entry is not None:
            own = self.own(entry)
            calls = Tally(own, int(entry.rate_limited), own if entry.background else 0)
        if not is_list_type(get_nullable_type(definition.type)):
            return calls + each
        count = first if entry is None or entry.paged else entry.items
        return calls + each.times(count)

    def own(self, entry: FieldCost) -> int:
        return self.limits.max_cost // 2 + 1 if entry.exclusive else entry.own

    def first(self, node: FieldNode, definition: Any) -> int:
        for argument in node.arguments or ():
            if argument.name.value == "first":
                if isinstance(argument.value, IntValueNode):
                    return max(0, min(int(argument.value.value), self.limits.max_page))
                return self.limits.max_page  # a variable: not known before execution
        default = definition.args["first"].default_value if "first" in definition.args else None
        return default if isinstance(default, int) else self.limits.max_page

    def type_of(self, condition: NamedTypeNode | None) -> Any:
        return self.schema.get_type(condition.name.value) if condition else None


def tally(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, limits: Limits
) -> Tally:
    """The tally of the operation a request runs (the only one, or the one named)."""
    walk = Walk(schema, document, limits)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        ):
            return walk.operation(definition)
    return NOTHING


@functools.lru_cache(maxsize=512)
def tally_of_text(
    schema: GraphQLSchema, query: str, operation_name: str | None, limits: Limits
) -> Tally | None:
    """tally() of a request's text (None: it does not parse), worked out once per text: the
    tally depends on nothing else, and clients send the same texts again and again (both the
    turns of heavy requests and the rate limit ask it of every request). Bounded, as
    strawberry's parser cache."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None  # strawberry answers the parse error
    return tally(schema, document, operation_name, limits)


def too_costly(cost: int, limit: int, node: Any = None) -> GraphQLError:
    return GraphQLError(
        f"this request costs {cost}, over the limit of {limit}: ask for fewer or smaller pages,"
        " fewer aliases, or one simulation per request",
        node,
        extensions={"code": TOO_COSTLY, "cost": cost, "limit": limit},
    )


@functools.cache
def cost_rule(limits: Limits) -> type[ValidationRule]:
    """The validation rule for these limits: one class per limits, built once."""

    class QueryCostRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            walk = Walk(self.context.schema, node, limits)
            for definition in node.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    cost = walk.operation(definition).cost
                    if cost > limits.max_cost:
                        self.report_error(too_costly(cost, limits.max_cost, definition))

    return QueryCostRule


def limits_of(context: Any) -> Limits:
    settings = context.app.settings
    return Limits(settings.max_query_cost, settings.max_page_size)


class QueryCost(SchemaExtension):
    """Adds the given rules (built once: the depth and alias limits) and the cost rule for the
    app's settings to the request's validation rules: one extension, one hook per request."""

    def __init__(self, rules: tuple[type[ValidationRule], ...] = ()) -> None:
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        limits = limits_of(ctx.context)
        ctx.validation_rules = (*ctx.validation_rules, *self.rules, cost_rule(limits))
        yield
