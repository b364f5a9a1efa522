"""Read models built from the ledger's notification log, each answering "as of" any position."""
