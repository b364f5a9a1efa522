"""Use cases on the event-sourced Ledger application, and the policies that react to its events."""
