"""Exports the GraphQL schema to schema.graphql, or with --check fails when the file drifted."""

import sys
from pathlib import Path

from strawberry.printer import print_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def current() -> str:
    from api.graphql.schema import schema

    return print_schema(schema) + "\n"


def main(argv: list[str]) -> int:
    text = current()
    if "--check" in argv:
        if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != text:
            print(
                "schema.graphql is out of date: run `python -m api.schema_export`", file=sys.stderr
            )
            return 1
        return 0
    SCHEMA_FILE.write_text(text)
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
