"""Mutations, by area: one input object each, an optional idempotencyKey, and a payload with
userErrors. Every one takes the path in base.py; schema.py merges the areas into `Mutation`."""
