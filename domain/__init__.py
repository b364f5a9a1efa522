"""Fenrun's domain: aggregates, events, money and the commission rules. Pure: no I/O, no clock."""
