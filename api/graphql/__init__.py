"""The GraphQL contract of API.md: scalars, types, queries, mutations and the schema."""
