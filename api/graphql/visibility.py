"""How much of the schema a caller sees: introspection and "Did you mean ...?" suggestions.

Off by default for everyone but admins when authentication is on (FENRUN_GRAPHQL_INTROSPECTION,
FENRUN_GRAPHQL_SUGGESTIONS): a company's frontends need neither, and both map the API for
whoever holds a token. With FENRUN_AUTH=off everyone sees everything.

The extension runs validation itself, with the introspection rule added and suggestions hidden
as the caller's roles say; strawberry then skips its own validation (errors already set). It
also caches validation (clients send the same texts again and again), keyed by the document AND
the rules and suggestions of the caller's kind: a generic validation cache placed before it
would answer a non-admin's introspection from an admin's earlier, valid, run of the same text.
"""

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import NoSchemaIntrospectionCustomRule, validate
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from api.auth.principal import Principal
from domain.identity import Role


def allowed(who: str, principal: Principal | None) -> bool:
    if principal is None or principal.unchecked or who == "everyone":
        return True
    return who == "admins" and Role.ADMIN in principal.roles


class SchemaVisibility(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        app = getattr(context.context, "app", None)
        if document is not None and app is not None and context.pre_execution_errors is None:
            principal = getattr(context.context, "principal", None)
            settings = app.settings
            rules = [*context.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule]
            if not allowed(settings.graphql_introspection, principal):
                rules.append(NoSchemaIntrospectionCustomRule)
            context.pre_execution_errors = VALIDATIONS.validate(
                context.schema._schema,
                context.query,
                document,
                tuple(rules),
                not allowed(settings.graphql_suggestions, principal),
            )
        yield


class Validations:
    """Validation results by (schema, query text, rules, hidden suggestions): the rules and
    the suggestions are the caller's kind, so an admin's valid run never answers for another
    caller. Keyed by the text, not the parsed document: hashing a document walks all of it on
    every request. Bounded: distinct texts from a public endpoint must not grow memory."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.found: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        self.lock = threading.Lock()

    def validate(
        self, schema: Any, query: str | None, document: Any, rules: tuple[Any, ...], hide: bool
    ) -> list[Any]:
        if query is None:  # a document without its text (no key to cache it by)
            return validate(schema, document, rules, hide_suggestions=hide)
        key = (schema, query, rules, hide)
        with self.lock:
            if key in self.found:
                self.found.move_to_end(key)
                return self.found[key]
        errors = validate(schema, document, rules, hide_suggestions=hide)
        with self.lock:
            self.found[key] = errors
            if len(self.found) > self.size:
                self.found.popitem(last=False)
        return errors


VALIDATIONS = Validations()
