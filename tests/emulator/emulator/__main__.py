"""python -m emulator [--port N] [--realtime]: serve until interrupted; prints the endpoint."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .server import Emulator


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--realtime", action="store_true", help="let refreshes and lifecycle timeouts follow real time (the local run)"
    )
    parser.add_argument(
        "--functions",
        type=Path,
        metavar="WORKSPACE",
        help="run functions deployed by CloudFormation whose template names their binary with cargo lambda watch in this Cargo workspace",
    )
    parser.add_argument("--log-requests", action="store_true", help="print a line per HTTP request")
    parser.add_argument(
        "--accept-unknown-jobs",
        action="store_true",
        help="register a CodePipeline job id never created here when it is first answered (local leniency for the sample events)",
    )
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="stop when standard input closes (a test harness that dies takes the emulator with it)",
    )
    args = parser.parse_args()
    emulator = Emulator(
        args.host, args.port, args.realtime, args.functions.resolve() if args.functions else None
    ).start()
    emulator.world.codepipeline.accept_unknown_jobs = args.accept_unknown_jobs
    print(f"EMULATOR_ENDPOINT={emulator.endpoint}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    if args.exit_with_stdin:
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    emulator.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
