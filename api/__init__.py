"""The service's edges: the composition root, GraphQL over HTTP, and the CLI."""
