"""Background jobs: their table, the processes that run them, and plan simulations as jobs."""
