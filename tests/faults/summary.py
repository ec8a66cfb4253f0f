"""The reliability summary line of the test command: the fault matrix's cells and checks, the
fuzz cases run, the panic proof, and canaries leaked, from the figures each run kept in
target/reliability/ (a run that did not happen is reported as missing, never as passed).

    python tests/faults/summary.py --fuzz-cases N
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def figures(name: str) -> dict | None:
    path = ROOT / "target" / "reliability" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fuzz-cases", type=int, required=True, help="cases the property tests ran, all passing")
    args = parser.parse_args()
    matrix, panic = figures("matrix"), figures("panic")
    if matrix is None or panic is None:
        print(f"reliability: missing figures ({'matrix' if matrix is None else 'panic proof'} did not run)")
        return 1
    leaked = matrix["canariesLeaked"] + panic["canariesLeaked"]
    print(
        f"reliability: {matrix['cells']} cells tried, {matrix['checksPassed']} invariant checks passed "
        f"({matrix['checksFailed']} failed), {args.fuzz_cases:,} fuzz cases run, "
        f"a panic {'answered its job' if panic['answered'] else 'LEFT ITS JOB UNANSWERED'} ({panic['build']} build), "
        f"canaries leaked ({leaked})"
    )
    return 0 if not matrix["checksFailed"] and panic["answered"] and leaked == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
