"""Plain fields completed in one loop (api/graphql/execution.py) answer exactly what
graphql-core's own path answers: data, errors, their paths and null propagation."""

import asyncio
from enum import Enum
from typing import Any

import pytest
import strawberry

from api.graphql.execution import PlainFieldsExecution, plan_of


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Inner:
    name: str
    maybe: str | None
    must: str
    color: Color
    count: int

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


@strawberry.type
class Outer:
    inner: Inner
    optional: Inner | None
    items: list[Inner]
    broken: Inner  # its `must` is None: the error propagates to the nearest nullable field


def inner(name: str, **given: Any) -> Inner:
    values: dict[str, Any] = {"maybe": None, "must": "m", "color": Color.BLUE, "count": 3}
    return Inner(name=name, **{**values, **given})


@strawberry.type
class Query:
    @strawberry.field
    def outer(self) -> Outer:
        return Outer(
            inner=inner("a", maybe="x"),
            optional=None,
            items=[inner("b", color=Color.RED), inner("c")],
            broken=inner("d", must=None),
        )

    @strawberry.field
    def bad_count(self) -> Inner | None:
        return inner("e", count="not a number")

    @strawberry.field
    def bad_items(self) -> list[Inner] | None:
        return [inner("f"), inner("g", must=None)]

    @strawberry.field
    async def later(self) -> Inner:
        return inner("h")

    @strawberry.field
    def some(self) -> list[Inner | None]:
        return [inner("i"), None, inner("j", must=None)]

    @strawberry.field
    async def items_later(self) -> list[Inner]:
        return [inner("k"), inner("l")]


QUERIES = [
    "{ outer { inner { name maybe must color count shout } optional { name } } }",
    "{ outer { items { name color } a: inner { n: name, m: name } } }",
    "{ outer { inner { ...F } } } fragment F on Inner { name __typename color }",
    "{ outer { broken { name must } } }",
    "{ outer { inner { name } broken { must } } }",
    "{ badCount { name count } }",
    "{ badItems { name must } }",
    "{ later { name color } outer { inner { name } } }",
    "{ outer { inner { name @include(if: false) color @skip(if: false) } } }",
    "{ some { name } }",
    "{ some { name must } }",
    "{ itemsLater { name shout } some { color } }",
]


def answer(schema: strawberry.Schema, query: str) -> dict[str, Any]:
    result = asyncio.run(schema.execute(query))
    errors = [(e.message, e.path) for e in result.errors or []]
    return {"data": result.data, "errors": errors}


@pytest.mark.parametrize("query", QUERIES)
def test_the_same_answer_as_graphql_cores_path(query: str) -> None:
    plain = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecution)
    assert answer(plain, query) == answer(strawberry.Schema(query=Query), query)


def test_only_fields_read_as_they_are_are_plain() -> None:
    types = strawberry.Schema(query=Query)._schema.type_map
    assert plan_of(types["Inner"], "name") is not None
    assert plan_of(types["Inner"], "color") is not None  # an enum: serialised directly
    assert plan_of(types["Outer"], "inner") is not None  # an object: its selection directly
    assert plan_of(types["Inner"], "shout") is None  # a resolver
    assert plan_of(types["Outer"], "items") is None  # a list: graphql-core's path
    assert plan_of(types["Query"], "outer") is None


def test_the_runner_hands_each_stage_the_extensions_that_implement_it() -> None:
    from strawberry.extensions import SchemaExtension

    from api.graphql.hooks import HookRunner

    seen: list[str] = []

    class Parses(SchemaExtension):
        def on_parse(self):  # type: ignore[no-untyped-def]
            seen.append("parse")
            yield

    class Operates(SchemaExtension):
        def on_operation(self):  # type: ignore[no-untyped-def]
            seen.append("operation")
            yield

        def get_results(self) -> dict[str, Any]:
            return {"here": True}

    class Schema(strawberry.Schema):
        def create_extensions_runner(self, execution_context: Any, extensions: Any) -> Any:
            return HookRunner(execution_context, extensions)

    schema = Schema(query=Query, extensions=[Parses, Operates, SchemaExtension])
    result = asyncio.run(schema.execute("{ outer { inner { name } } }"))
    assert result.data == {"outer": {"inner": {"name": "a"}}}
    assert result.extensions == {"here": True}
    assert seen == ["operation", "parse"]
