"""Authentication: who is calling (people by bearer tokens, machines by signed requests)."""
