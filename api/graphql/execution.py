"""Plain fields completed without graphql-core's per-field machinery (decision 0041).

A page of `commissions(first: 100)` with six fields is ~700 fields, 600 of them attributes of
a row read as they are (`id`, `amount`, `status` ...), 100 the edge's `node`. graphql-core
completes each through the path of a resolver with arguments: a resolve info (strawberry's, an
object per field), the resolver through the middleware, the type unwrapped one check at a
time (about half of that request's CPU). Here a field is *plain* when its resolver is
strawberry's default (no resolver and no field extension: so no policy entry and no permission
either), it takes no arguments and no extension resolves every field; then
- a scalar or enum is read and serialised directly, as graphql-core would serialise it;
- an object (not an interface or union, no is_type_of) is read and its selection executed
  directly, its errors handled by graphql-core's own handler at the field's path; so is an
  object item of any list.
Anything else, or anything unusual about a leaf's value (null for a non-null field, an
exception, a value the type cannot serialise), goes through graphql-core's own path, which
answers it as it always did. The loop is graphql-core's execute_fields with those branches.
"""

from collections.abc import Awaitable
from typing import Any

from graphql import (
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
    is_object_type,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

LEAF, OBJECT = 1, 2
# How a plain field is completed: (kind, attribute, unwrapped type, declared type, non-null).
Plan = tuple[int, str, Any, GraphQLOutputType, bool]
# (parent type, field name) -> its plan, or None: not plain. Types are the schema's own
# objects, built once: the table is as bounded as the schema.
_PLANS: dict[tuple[GraphQLObjectType, str], Plan | None] = {}


def _plan(parent: GraphQLObjectType, name: str) -> Plan | None:
    field = parent.fields.get(name)
    if field is None or field.args or not getattr(field.resolve, "_is_default", False):
        return None
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is None or definition.base_resolver or definition.extensions:
        return None
    if definition.default_resolver is not getattr:  # a configured resolver reads otherwise
        return None
    kind, non_null = field.type, False
    if isinstance(kind, GraphQLNonNull):
        kind, non_null = kind.of_type, True
    if is_leaf_type(kind):
        return LEAF, definition.python_name, kind, field.type, non_null
    if is_object_type(kind) and not kind.is_type_of:
        return OBJECT, definition.python_name, kind, field.type, non_null
    return None


def plan_of(parent: GraphQLObjectType, name: str) -> Plan | None:
    key = (parent, name)
    if key not in _PLANS:
        _PLANS[key] = _plan(parent, name)
    return _PLANS[key]


class PlainFieldsExecution(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:  # an extension resolves every field
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, details in grouped_field_set.items():
                plan = plan_of(parent_type, details[0].node.name.value)
                result: Any = Undefined
                if plan is not None and plan[0] == LEAF:
                    result = _leaf(source_value, plan)
                elif plan is not None:
                    result = self._object(
                        source_value, plan, details, path, response_name, parent_type,
                        position_context,
                    )  # fmt: skip
                if result is Undefined:
                    field_path = Path(path, response_name, parent_type.name)
                    result = self.execute_field(
                        parent_type, source_value, details, field_path, position_context
                    )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _object(
        self,
        source: Any,
        plan: Plan,
        details: Any,
        path: Path | None,
        response_name: str,
        parent_type: GraphQLObjectType,
        position_context: Any,
    ) -> Any:
        """The object's selection executed (Undefined: let graphql-core's path answer)."""
        _, attribute, object_type, declared, non_null = plan
        try:
            value = getattr(source, attribute)
        except Exception:
            return Undefined
        if value is None:
            return Undefined if non_null else None
        if isinstance(value, Exception) or self.is_awaitable(value):
            return Undefined
        field_path = Path(path, response_name, parent_type.name)
        try:
            completed = self.collect_and_execute_subfields(
                object_type, details, field_path, value, position_context
            )
        except Exception as raw_error:  # as execute_field handles a completion's error
            self.handle_field_error(raw_error, declared, details, field_path)
            return None
        if self.is_awaitable(completed):
            return self._await_completed(completed, declared, details, field_path)
        return completed

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        item_path: Path,
        position_context: Any,
    ) -> bool:
        """An object item of a list (a connection's edge) has its selection executed directly;
        the list itself (streams, iterables, awaitable items) stays graphql-core's."""
        object_type = _object_item(item_type)
        if object_type is None or item is None or item is Undefined or isinstance(item, Exception):
            return super().complete_list_item_value(
                item, complete_results, item_type, field_details_list, info, item_path,
                position_context,
            )  # fmt: skip
        try:
            completed = self.collect_and_execute_subfields(
                object_type, field_details_list, item_path, item, position_context
            )
            if self.is_awaitable(completed):
                complete_results.append(
                    self._await_completed(completed, item_type, field_details_list, item_path)
                )
                return True
            complete_results.append(completed)
        except Exception as raw_error:  # as complete_list_item_value handles it
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            complete_results.append(None)
        return False

    async def _await_completed(
        self, completed: Awaitable[Any], declared: GraphQLOutputType, details: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, declared, details, path)
            return None


_ITEMS: dict[GraphQLOutputType, GraphQLObjectType | None] = {}


def _object_item(item_type: GraphQLOutputType) -> GraphQLObjectType | None:
    """The object type of a list's items when completing one is executing its selection."""
    if item_type not in _ITEMS:
        kind = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        plain = is_object_type(kind) and not kind.is_type_of  # type: ignore[union-attr]
        _ITEMS[item_type] = kind if plain else None  # type: ignore[assignment]
    return _ITEMS[item_type]


def _leaf(source: Any, plan: Plan) -> Any:
    """The field's serialised value, or Undefined: let graphql-core's path answer it."""
    _, attribute, leaf, _, non_null = plan
    try:
        value = getattr(source, attribute)
        if value is None:
            return Undefined if non_null else None
        if isinstance(value, Exception):
            return Undefined
        coerced = leaf.coerce_output_value(value)
    except Exception:
        return Undefined
    return Undefined if coerced is None or coerced is Undefined else coerced
