"""Driver for the crash-safety tests: runs the commission policy or the projections until idle.

    python -m tests.integration.crash_worker DSN MODE [--wait]     (MODE: policy | projections)

Small batches (policy 5, projections 7) make many transactions, so a SIGKILL at a random moment
lands inside one. It prints `ready` once bootstrapped (with --wait it then waits for a line on
stdin, so that several workers can be started together), `progress <notifications consumed>`
after every batch and `idle <total>` at the end; the test reads these lines to decide when to
kill.
"""

import sys

from api.bootstrap import bootstrap
from application.settings import Settings

MODES = ("policy", "projections")


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4) or argv[2] not in MODES or argv[3:] not in ([], ["--wait"]):
        print(f"usage: python -m tests.integration.crash_worker DSN {'|'.join(MODES)} [--wait]")
        return 2
    dsn, mode, wait = argv[1], argv[2], argv[3:] == ["--wait"]
    settings = Settings(database_url=dsn, policy_batch_size=5, projection_batch_size=7)
    app = bootstrap(settings, run_migrations=False)
    try:
        step = app.policy.run_once if mode == "policy" else app.projections.run_once
        total = 0
        print("ready", flush=True)
        if wait:
            sys.stdin.readline()
        while consumed := step():
            total += consumed
            print(f"progress {total}", flush=True)
        print(f"idle {total}", flush=True)
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
