"""Driver for the payout crash test: the worker's own parts (api/worker.py) with a channel.

    python -m tests.integration.payout_crash_worker DSN CHANNEL_URL MODE

MODE pause-after-submit: the dispatcher sends the first payout request to the channel, prints
`submitted <out-request id>` and stops there, before the answer is recorded (the test SIGKILLs
it). pause-after-record: the answer is recorded, but the outbox row is not yet marked delivered.
run: a worker's ticks (policies and views, the outbox, the poll for missing callbacks) until no
command is pending; prints `idle`.
"""

import sys
import threading
import time
from typing import Any

from api.bootstrap import bootstrap
from api.worker import Worker, poll_payouts
from application.settings import Settings

MODES = ("pause-after-submit", "pause-after-record", "run")
LEASE_SECONDS = 1.0  # a killed dispatcher's claim lapses quickly


def _stop_after(target: Any, name: str, say: Any) -> None:
    """Replaces target.name by a version that does its work, says so, then hangs."""
    original = getattr(target, name)

    def then_hang(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        print(say(*args), flush=True)
        time.sleep(3600)
        return result

    setattr(target, name, then_hang)


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[3] not in MODES:
        print(f"usage: python -m tests.integration.payout_crash_worker DSN URL {'|'.join(MODES)}")
        return 2
    dsn, url, mode = argv[1:]
    settings = Settings(
        database_url=dsn,
        payout_channel="sim",
        payout_channel_url=url,
        payout_poll_after_seconds=0,
        outbox_backoff_seconds=0.01,
        outbox_max_backoff_seconds=0.05,
    )
    app = bootstrap(settings, run_migrations=False)
    app.dispatcher.lease_seconds = LEASE_SECONDS
    sender = app.dispatcher.senders["payout.submit"]
    if mode == "pause-after-submit":
        _stop_after(sender, "send", lambda d: f"submitted {d.payload['outRequestId']}")
    elif mode == "pause-after-record":
        _stop_after(sender, "record", lambda d, _: f"recorded {d.payload['outRequestId']}")
    worker = Worker(app, [], threading.Event())
    try:
        print("ready", flush=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            worker.catch_up()
            worker.dispatch()
            if not app.outbox.rows(status="PENDING"):
                break
            time.sleep(0.1)  # a claim of the killed worker's lapses
        worker.catch_up()  # the poll reads the payouts view
        poll_payouts(app, app.clock.now())
        worker.catch_up()
        print("idle", flush=True)
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
