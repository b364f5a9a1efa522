"""Persisted queries: an optional allow-list of operations for a company's own frontends.

FENRUN_PERSISTED_QUERIES_FILE names a JSON object {sha256 hex of the operation text: the text}
(what build tools export as a manifest). With it, a request runs only an operation on the
list: sent whole (its hash must be listed) or by hash alone in
`extensions.persistedQuery.sha256Hash` (Apollo's convention). Admins may run any operation
(GraphiQL). Without the file, anything valid runs.
"""

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException
from strawberry.http import GraphQLRequestData

from api.auth.principal import Principal
from domain.identity import Role


def operation_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class PersistedQueries:
    operations: dict[str, str] | None  # None: no allow-list

    @classmethod
    def of(cls, path: Path | None) -> "PersistedQueries":
        if path is None:
            return cls(None)
        loaded = orjson.loads(path.read_bytes())
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} must hold a JSON object {{sha256: operation}}")
        for digest, text in loaded.items():
            if not isinstance(text, str) or operation_hash(text) != digest:
                raise ValueError(f"{path}: '{digest}' is not the SHA-256 of its operation")
        return cls(loaded)

    def resolve(self, request: GraphQLRequestData, principal: Principal) -> GraphQLRequestData:
        """The request with its operation text, or 403 when it is not on the list."""
        if self.operations is None:
            return request
        wanted = _hash_of(request.extensions)
        if request.query is None and wanted is not None and wanted in self.operations:
            return replace(request, query=self.operations[wanted])
        if principal.unchecked or Role.ADMIN in principal.roles:
            return request
        if request.query is not None and operation_hash(request.query) in self.operations:
            return request
        raise HTTPException(403, "this operation is not on the persisted queries allow-list")


def _hash_of(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
        return str(persisted["sha256Hash"])
    return None
