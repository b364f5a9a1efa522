"""Driver for the dispatcher crash test: delivers the due carrier commands, and after each send,
before its answer is recorded, says so and waits to be killed.

    python -m tests.integration.carrier_dispatch_worker DSN

Carriers' URLs and credentials come from the environment (FENRUN_CHINA_MOBILE_URL, ...). It
prints `ready`, then `sent <command id>` when a carrier has been sent a command; the test
SIGKILLs it there (the carrier has acted, Fenrun has recorded nothing). With no command due it
prints `idle`.
"""

import sys
import time
from typing import Any

from api.bootstrap import bootstrap
from application.settings import Settings


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.integration.carrier_dispatch_worker DSN")
        return 2
    app = bootstrap(Settings(database_url=argv[1]), run_migrations=False)
    app.dispatcher.lease_seconds = 1.0  # the next dispatcher need not wait long for the row
    sender = app.dispatcher.senders["carrier.card"]
    record = sender.record

    def record_after_a_pause(delivery: Any, answer: dict[str, Any]) -> None:
        print(f"sent {delivery.command_id}", flush=True)
        time.sleep(60)  # killed here: sent, not recorded
        record(delivery, answer)

    sender.record = record_after_a_pause  # type: ignore[method-assign]
    try:
        print("ready", flush=True)
        app.dispatcher.run_until_idle()
        print("idle", flush=True)
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
