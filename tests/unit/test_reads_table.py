"""The table of which views each GraphQL field reads (api/graphql/reads.py) covers the schema:
a field left out would pin the wrong position and hide a failing view's lag (decision 0019)."""

from graphql import GraphQLNonNull, GraphQLObjectType

from api.graphql.reads import READS
from api.graphql.schema import schema
from projections.queries import VIEWS

# Payload types whose fields are read from views after the write.
READING_PAYLOADS = {
    "WalletPayload",
    "UnfreezeRequestsPayload",
    "StatementPayload",
    "AdjustmentPayload",
    "RunReconciliationPayload",  # the run reads the views it compares
}


def _name(field_type: object) -> str:
    while isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    assert isinstance(field_type, GraphQLObjectType)
    return field_type.name


def test_every_field_that_reads_at_a_position_is_in_the_table() -> None:
    graphql = schema._schema
    assert graphql.query_type is not None
    assert graphql.mutation_type is not None
    reading = {name for name, f in graphql.query_type.fields.items() if "position" in f.args}
    assert reading == {k for k in READS if "." not in k and k in graphql.query_type.fields}
    payloads = {
        name
        for name, f in graphql.mutation_type.fields.items()
        if _name(f.type) in READING_PAYLOADS
    }
    assert payloads == {k for k in READS if k in graphql.mutation_type.fields}
    for key in READS:
        root = key.split(".")[0]
        assert root in graphql.query_type.fields or root in graphql.mutation_type.fields, key


def test_the_table_names_only_live_views() -> None:
    assert {view for views in READS.values() for view in views} <= set(VIEWS)
