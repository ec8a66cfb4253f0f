"""The benchmark: cold start, invocation latency, memory, package size and AWS calls of the four
functions, side by side in one run with the floor (a bare `lambda_runtime` function, same
profile) and a peer (Python 3.11 with boto3 under awslambdaric, the same clients and first call).

    scripts/bench                  # release builds; arm64 packages too (a release arm64 build of
                                   # an EC2-using function takes 14-26 min here)
    scripts/bench --no-arm64       # the x86_64 release builds only
    scripts/bench --smoke          # debug builds, few runs: proves the benchmark works (the test command)

Every process runs as Lambda runs it: the real binary under a local Lambda Runtime API
(tests/faults/runtime_api.py, Python), with Lambda's environment and its certificate layout (one
bundle file, SSL_CERT_FILE; this machine's /etc/ssl/certs holds hundreds of files). What is
measured:
  init        exec -> the first GET /runtime/invocation/next, min and median over --runs
  cold start  exec -> the first invocation's answer, against the canned endpoint
  first/warm  invocation latency (the event handed over -> the answer), first in a process and
              p50 / p99 over --warm invocations, against the emulator and against a canned
              endpoint (bench/canned.py: the emulator's recorded answers replayed, so the
              emulator's own speed is not in the figure)
  peak RSS    VmHWM of the process after its warm invocations
  size        the stripped x86_64 binary; the arm64 binary and bootstrap.zip (cargo lambda)
  AWS calls   from the emulator's request log, per scenario, and a tracked refresh of
              --instances instances (calls per continuation)
  Lambda-s    billed seconds per release, from those counts (see `lambda_seconds`)
The cold runs are interleaved (each round runs every subject once), so a noisy moment of the
machine falls on all of them alike. Prints the tables, writes target/bench/bench.json (a smoke run: smoke.json).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests" / "faults"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_run  # noqa: E402
import matrix as scenarios  # noqa: E402
from canned import Canned, Recorder  # noqa: E402
from emulator.server import Emulator  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from runtime_api import Outcome, RuntimeApi  # noqa: E402

FUNCTIONS = local_run.FUNCTIONS
FLOOR = "floor-hello"
# Each function's representative event: the scenario of the fault matrix it repeats.
REPRESENTATIVE = {
    "instance-refresh": "track",
    "lifecycle-health": "launch",
    "qa-notify": "ready-for-qa",
    "approval-gate": "production-check",
}
# The scenarios counted for AWS calls per decision, beside the representative ones.
COUNTED = [("instance-refresh", "start"), ("approval-gate", "approval")]
BUDGET = 30.0
# Lambda's certificate layout on provided.al2023: one bundle file.
CERT_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
PEER_VENV = ROOT / ".venv-bench"
# The staging refresh's preferences as template.yaml deploys them (all new instances at once,
# each warming 60 s).
STAGING_PREFERENCES = {
    "minHealthyPercentage": 100,
    "maxHealthyPercentage": 200,
    "instanceWarmupSeconds": 60,
    "skipMatching": True,
    "autoRollback": True,
}
MEMORY_MB = 128  # template.yaml's MemorySize


@dataclass
class Subject:
    """One process kind measured: a function, the floor, or a function's peer."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path | None = None
    event: dict[str, Any] = field(default_factory=dict)


@dataclass
class Figures:
    init_ms: list[float] = field(default_factory=list)
    cold_ms: list[float] = field(default_factory=list)
    first_canned_ms: list[float] = field(default_factory=list)
    warm_canned_ms: list[float] = field(default_factory=list)
    first_emulator_ms: float | None = None
    warm_emulator_ms: list[float] = field(default_factory=list)
    peak_rss_kb: int = 0
    calls_per_invocation: dict[str, int] = field(default_factory=dict)
    first_call: str = ""


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in [0, 100])."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def median(values: list[float]) -> float:
    return percentile(values, 50)


# ---------- processes ----------


def lambda_env(function: str, endpoint: str) -> dict[str, str]:
    bundle = next((b for b in CERT_BUNDLES if Path(b).exists()), None)
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": scenarios.ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_SESSION_TOKEN": "bench-session",
        "LANG": "C.UTF-8",
        "HEALTH_RECHECK_QUEUE_URL": f"{endpoint}/123456789012/{scenarios.RECHECK_QUEUE}",
        **({"SSL_CERT_FILE": bundle} if bundle else {}),
    }


class Running:
    """One process of a subject, under a Runtime API of its own."""

    def __init__(self, subject: Subject, endpoint: str, first_event: dict[str, Any] | None = None) -> None:
        self.api = RuntimeApi()
        self.log = tempfile.TemporaryFile()
        env = {**lambda_env(subject.name, endpoint), **subject.env, "AWS_LAMBDA_RUNTIME_API": self.api.address}
        self.began = time.monotonic()
        if first_event is not None:  # queued before exec: the cold start is exec -> its answer
            self.api.invoke(first_event, BUDGET)
        self.process = subprocess.Popen(
            subject.command, env=env, cwd=subject.cwd, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.name = subject.name

    def answer(self) -> Outcome:
        outcome = self.api.wait(BUDGET + 5)
        if outcome.kind != "response":
            self.log.seek(0)
            tail = self.log.read()[-2000:].decode(errors="replace")
            raise SystemExit(f"{self.name}: the invocation ended with {outcome.kind}: {outcome.body}\n{tail}")
        return outcome

    def invoke(self, event: dict[str, Any]) -> float:
        """One invocation of a process waiting for it; its latency in ms."""
        if not self.api.wait_polling(BUDGET):
            raise SystemExit(f"{self.name}: the process did not ask for its next event")
        self.api.invoke(event, BUDGET)
        return self.answer().seconds * 1000

    def init_ms(self) -> float:
        assert self.api.first_poll is not None
        return (self.api.first_poll - self.began) * 1000

    def peak_rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.api.close()
        self.log.close()


def fresh(event: dict[str, Any], control: local_run.Control | None = None) -> dict[str, Any]:
    """The event again as a new delivery: a new job (registered with the emulator) or event id."""
    again = copy.deepcopy(event)
    if "CodePipeline.job" in again:
        again["CodePipeline.job"]["id"] = str(uuid.uuid4())
        if control is not None:
            control.call("POST", "/codepipeline/jobs", {"event": again})
    elif "id" in again:
        again["id"] = str(uuid.uuid4())
    if "detail-type" in again:  # an EventBridge event's time starts its wait: sent now
        again["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return again


# ---------- against the emulator ----------


def scenario(function: str, name: str) -> scenarios.Scenario:
    return next(s for s in scenarios.SCENARIOS if (s.function, s.name) == (function, name))


def function_subject(function: str, binaries: Path, extra_env: dict[str, str]) -> Subject:
    return Subject(function, [str(binaries / function)], extra_env)


def against_emulator(function: str, binaries: Path, warm: int) -> tuple[Figures, dict[str, Any], dict[str, Any]]:
    """Records the representative invocation's AWS answers and calls, then measures the first and
    warm invocations against the emulator. Answers the figures, the recording and the event."""
    chosen = scenario(function, REPRESENTATIVE[function])
    figures = Figures()
    subject = function_subject(function, binaries, chosen.env)
    with Emulator(realtime=True) as emulator:
        world = scenarios.Matrix(emulator)
        world.binaries = binaries
        world.reset()  # moto's state is the process's: another emulator's may be in it
        recorder = Recorder(emulator.endpoint)
        prepared = chosen.prepare(world)
        emulator.world.calls.clear()
        recording = Running(subject, recorder.endpoint)
        try:
            recording.invoke(prepared.event)
        finally:
            recording.stop()
        answered = prepared.answer()
        if answered.kind is None or answered.kind in scenarios.FAILURES:
            raise SystemExit(f"{function} {chosen.name}: the recorded run answered {answered}")
        figures.calls_per_invocation = world.calls()
        order = recorder.take_order()
        figures.first_call = order[0] if order else ""
        recorded, recorded_event = dict(recorder.recorded), prepared.event
        recorder.close()

        # Measured in a world of its own, straight to the emulator.
        world.reset()
        prepared = chosen.prepare(world)
        running = Running(subject, emulator.endpoint)
        try:
            figures.first_emulator_ms = running.invoke(prepared.event)
            for _ in range(warm):
                figures.warm_emulator_ms.append(running.invoke(fresh(prepared.event, world.control)))
            figures.peak_rss_kb = running.peak_rss_kb()
        finally:
            running.stop()
    return figures, recorded, recorded_event


def calls_of(function: str, name: str, binaries: Path) -> dict[str, int]:
    """The AWS calls of one clean invocation of a matrix scenario."""
    chosen = scenario(function, name)
    with Emulator(realtime=True) as emulator:
        world = scenarios.Matrix(emulator)
        world.binaries = binaries
        world.reset()
        prepared = chosen.prepare(world)
        emulator.world.calls.clear()
        running = Running(function_subject(function, binaries, chosen.env), emulator.endpoint)
        try:
            running.invoke(prepared.event)
        finally:
            running.stop()
        if prepared.answer().kind is None:
            raise SystemExit(f"{function} {name}: no answer")
        return world.calls()


@dataclass
class TrackedRefresh:
    instances: int
    start_calls: int
    continuations: int
    calls_per_continuation: float
    calls_by_operation: dict[str, int]


def tracked_refresh(instances: int, binaries: Path, poll_seconds: float) -> TrackedRefresh:
    """A refresh of `instances` instances from its start to its end, with staging's deployed
    preferences, one continuation every `poll_seconds` of the emulator's clock (CodePipeline's
    interval is not documented)."""
    subject = function_subject("instance-refresh", binaries, {})
    with Emulator(realtime=True) as emulator:
        world = scenarios.Matrix(emulator)
        world.reset()
        local_run.seed_group(emulator.endpoint, desired=instances)
        event = scenarios.job_event("instance-refresh/start.json")
        parameters = json.loads(
            event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"]
        )
        parameters["preferences"] = STAGING_PREFERENCES
        event = scenarios.job_event("instance-refresh/start.json", parameters)
        running = Running(subject, emulator.endpoint)
        try:
            job = fresh(event, world.control)
            running.invoke(job)
            start_calls = sum(world.calls().values())
            continuations = 0
            while True:
                record = world.control.call("GET", f"/codepipeline/jobs/{job['CodePipeline.job']['id']}")
                result = record["result"] or {}
                if result.get("kind") != "continuation":
                    break
                if continuations > 500:
                    raise SystemExit("the refresh did not end within 500 continuations")
                world.control.call("POST", "/clock/advance", {"seconds": poll_seconds})
                event["CodePipeline.job"]["data"]["continuationToken"] = result["continuationToken"]
                job = fresh(event, world.control)
                running.invoke(job)
                continuations += 1
            if result.get("kind") != "success":
                raise SystemExit(f"the tracked refresh ended with {result}")
        finally:
            running.stop()
        calls = world.calls()
    total = sum(calls.values())
    return TrackedRefresh(
        instances,
        start_calls,
        continuations,
        (total - start_calls) / max(1, continuations),
        dict(sorted(calls.items())),
    )


# ---------- Lambda-seconds ----------


def lambda_seconds(
    figures: dict[str, Figures], refresh: TrackedRefresh, calls: dict[str, int], ready_seconds: float, call_ms: float
) -> dict[str, Any]:
    """Billed seconds of one release (staging then production, `refresh.instances` instances
    each), modelled: an invocation costs its compute (the warm p50 against the canned endpoint)
    plus `call_ms` per AWS call. lifecycle-health looks at a warming instance once an invocation,
    each recheck delivered by its queue after a delay: the wait for the instance to become ready
    (`ready_seconds`) is not billed. Compared: the design before the recheck queue, the same
    looks inside one invocation that sleeps through the wait (billed in full)."""

    def invocation(function: str, calls_made: float) -> float:
        return (median(figures[function].warm_canned_ms) + calls_made * call_ms) / 1000

    per_environment = {
        "instance-refresh": invocation("instance-refresh", refresh.start_calls)
        + refresh.continuations * invocation("instance-refresh", refresh.calls_per_continuation),
    }
    # The looks lifecycle-health makes while an instance warms: its backoff (first 5 s, x1.5, at
    # most 30 s; the jitter's mean 0.75) until the instance is ready.
    looks, waited, attempt = 1, 0.0, 0
    while waited < ready_seconds:
        waited += min(5 * 1.5**attempt, 30) * 0.75
        attempt += 1
        looks += 1
    look_calls = calls["lifecycle-health"]
    waiting_inside = ready_seconds + looks * invocation("lifecycle-health", look_calls)
    delayed = looks * invocation("lifecycle-health", look_calls)
    release = {
        "instance-refresh": 2 * per_environment["instance-refresh"],
        "lifecycle-health": 2 * refresh.instances * delayed,
        "qa-notify": 2 * invocation("qa-notify", calls["qa-notify"]),
        "approval-gate": 2 * invocation("approval-gate", calls["approval-gate"]),
    }
    total = sum(release.values())
    sleeping = total - release["lifecycle-health"] + 2 * refresh.instances * waiting_inside
    return {
        "model": {"readySeconds": ready_seconds, "awsCallMs": call_ms, "looksPerInstance": looks},
        "perRelease": {k: round(v, 3) for k, v in release.items()},
        "total": round(total, 2),
        "gbSeconds": round(total * MEMORY_MB / 1024, 2),
        "sleepingInsideTotal": round(sleeping, 2),
        "sleepingInsideGbSeconds": round(sleeping * MEMORY_MB / 1024, 3),
    }


# ---------- builds ----------


def build(release: bool, target_dir: Path | None) -> tuple[Path, float]:
    """Builds the four functions (in one cargo run, so their features are unified: the binaries
    are within 0.1 MB of those `sam build` makes one package at a time, and the SDK crates are
    built once instead of four times) and the floor on its own (unified with the functions' it
    would carry their Tokio features). Answers their directory and the seconds taken."""
    env = {**os.environ, **({"CARGO_TARGET_DIR": str(target_dir)} if target_dir else {})}
    profile = ["--release"] if release else []
    began = time.monotonic()
    functions = [a for f in FUNCTIONS for a in ("-p", f)]
    for packages in (functions, ["-p", FLOOR]):
        subprocess.run(["cargo", "build", "--locked", *profile, *packages], cwd=ROOT, env=env, check=True)
    directory = (target_dir or ROOT / "target") / ("release" if release else "debug")
    return directory, time.monotonic() - began


def arm64_packages() -> tuple[dict[str, dict[str, int]], float]:
    """`cargo lambda build --release --arm64 --output-format zip`, one package at a time as `sam
    build` runs it: the stripped arm64 binary and bootstrap.zip of each."""
    lambda_dir = ROOT / "target" / "lambda-arm64"
    began = time.monotonic()
    sizes = {}
    for name in (*FUNCTIONS, FLOOR):
        subprocess.run(
            ["cargo", "lambda", "build", "--release", "--arm64", "--output-format", "zip"]
            + ["--lambda-dir", str(lambda_dir), "-p", name],
            cwd=ROOT,
            check=True,
        )
        archive = lambda_dir / name / "bootstrap.zip"
        with zipfile.ZipFile(archive) as opened:
            binary = opened.getinfo("bootstrap").file_size
        sizes[name] = {"zip": archive.stat().st_size, "binary": binary}
    return sizes, time.monotonic() - began


def peer_python() -> Path:
    """The peer's interpreter: .venv-bench with bench/peer/requirements.txt."""
    python = PEER_VENV / "bin" / "python"
    requirements = ROOT / "bench" / "peer" / "requirements.txt"
    stamp = PEER_VENV / ".requirements"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    if not stamp.exists() or stamp.read_text() != requirements.read_text():
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)],
            check=True,
        )
        stamp.write_text(requirements.read_text())
    return python


# ---------- the run ----------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="debug builds, 3 cold runs, 30 warm, no arm64")
    parser.add_argument("--runs", type=int, default=20, help="cold starts per subject (interleaved)")
    parser.add_argument("--warm", type=int, default=1000, help="warm invocations per subject and endpoint")
    parser.add_argument("--no-arm64", action="store_true", help="skip the arm64 packages")
    parser.add_argument("--clean-build", action="store_true", help="time a clean release build (a new target dir)")
    parser.add_argument("--binaries", type=Path, help="measure the binaries in this directory, built already")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also measure the function binaries in DIR (another build, e.g. before a change), side by side",
    )
    parser.add_argument("--instances", type=int, default=4, help="instances in the tracked refresh")
    parser.add_argument("--poll-seconds", type=float, default=30, help="between continuations of the tracked refresh")
    parser.add_argument("--ready-seconds", type=float, default=120, help="an instance's launch to ready, for Lambda-s")
    parser.add_argument("--aws-call-ms", type=float, default=25, help="one AWS call's latency, for Lambda-s")
    parser.add_argument("--json", type=Path, help="where the figures go (target/bench/bench.json; smoke.json)")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.warm, args.no_arm64 = min(args.runs, 3), min(args.warm, 30), True
    args.json = args.json or ROOT / "target" / "bench" / ("smoke.json" if args.smoke else "bench.json")
    console = Console(width=220)
    started = time.monotonic()

    clean_dir = ROOT / "target" / "bench-clean" if args.clean_build else None
    if clean_dir is not None:
        shutil.rmtree(clean_dir, ignore_errors=True)
    if args.binaries:
        binaries, build_seconds = args.binaries.resolve(), None
    else:
        binaries, build_seconds = build(not args.smoke, clean_dir)
    compared = {label: Path(d).resolve() for label, d in (c.split("=", 1) for c in args.compare)}
    sizes_x86 = {n: (binaries / n).stat().st_size for n in (*FUNCTIONS, FLOOR)}
    for label, directory in compared.items():
        sizes_x86 |= {f"{f} @{label}": (directory / f).stat().st_size for f in FUNCTIONS}
    arm64, arm64_seconds = ({}, None) if args.no_arm64 else arm64_packages()
    python = peer_python()

    figures: dict[str, Figures] = {}
    recordings: dict[str, Any] = {}
    events: dict[str, Any] = {}
    for function in FUNCTIONS:
        console.print(f"{function}: recording its AWS answers, then {args.warm} invocations against the emulator")
        figures[function], recordings[function], events[function] = against_emulator(function, binaries, args.warm)
    counted = {f"{f} {n}": calls_of(f, n, binaries) for f, n in COUNTED}
    refresh = tracked_refresh(args.instances, binaries, args.poll_seconds)

    # Against the canned endpoints: the floor, the functions and their peers.
    canned = {f: Canned(recordings[f]) for f in FUNCTIONS}
    subjects: list[tuple[Subject, str]] = [(Subject(FLOOR, [str(binaries / FLOOR)], {}, event={"hello": 1}), "")]
    for function in FUNCTIONS:
        env = scenario(function, REPRESENTATIVE[function]).env
        subjects.append((Subject(function, [str(binaries / function)], env, event=events[function]), function))
        for label, directory in compared.items():
            other = Subject(f"{function} @{label}", [str(directory / function)], env, event=events[function])
            subjects.append((other, function))
            figures[other.name] = Figures(calls_per_invocation=figures[function].calls_per_invocation)
    for function in FUNCTIONS:
        peer_env = {"PEER_FUNCTION": function, "PEER_CALL": figures[function].first_call}
        peer = Subject(f"peer {function}", [str(python), "-m", "awslambdaric", "handler.handle"], peer_env)
        peer.cwd, peer.event = ROOT / "bench" / "peer", {"peer": True}
        subjects.append((peer, function))
        figures[peer.name] = Figures(first_call=figures[function].first_call)
    figures[FLOOR] = Figures()
    try:
        console.print(f"cold starts: {args.runs} rounds of {len(subjects)} subjects")
        for _ in range(args.runs):
            for subject, behind in subjects:
                endpoint = canned[behind].endpoint if behind else "http://127.0.0.1:9"
                running = Running(subject, endpoint, first_event=fresh(subject.event))
                try:
                    outcome = running.answer()
                    found = figures[subject.name]
                    found.init_ms.append(running.init_ms())
                    found.cold_ms.append(outcome.seconds * 1000)
                    found.first_canned_ms.append(outcome.seconds * 1000 - running.init_ms())
                finally:
                    running.stop()
        console.print(f"warm: {args.warm} invocations of each against the canned endpoints")
        for subject, behind in subjects:
            endpoint = canned[behind].endpoint if behind else "http://127.0.0.1:9"
            running = Running(subject, endpoint)
            try:
                running.invoke(fresh(subject.event))
                found = figures[subject.name]
                found.warm_canned_ms = [running.invoke(fresh(subject.event)) for _ in range(args.warm)]
                found.peak_rss_kb = max(found.peak_rss_kb, running.peak_rss_kb())
            finally:
                running.stop()
    finally:
        for server in canned.values():
            server.close()

    calls = {f: sum(figures[f].calls_per_invocation.values()) for f in FUNCTIONS}
    billed = lambda_seconds(figures, refresh, calls, args.ready_seconds, args.aws_call_ms)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "profile": "debug (smoke)" if args.smoke else "release",
        "machine": f"{os.uname().machine}, {os.cpu_count()} cores",
        "certificates": "one bundle file (SSL_CERT_FILE), as on provided.al2023",
        "build": {
            "x86_64Seconds": build_seconds and round(build_seconds, 1),
            "clean": clean_dir is not None,
            "arm64Seconds": arm64_seconds and round(arm64_seconds, 1),
        },
        "subjects": {name: summary(f, sizes_x86.get(name), arm64.get(name)) for name, f in ordered(figures).items()},
        "calls": {
            **{f"{f} {REPRESENTATIVE[f]}": figures[f].calls_per_invocation for f in FUNCTIONS},
            **counted,
        },
        "trackedRefresh": asdict(refresh),
        "lambdaSecondsPerRelease": billed,
    }
    add_ratios(report["subjects"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    args.json.with_suffix(".md").write_text(markdown(report))
    print_tables(console, report)
    console.print(
        f"bench: {len(figures)} subjects, {args.runs} cold starts and {args.warm} warm invocations each, "
        f"{time.monotonic() - started:.0f} s; figures in {args.json.relative_to(ROOT)} (and .md, README's table)",
        highlight=False,
    )
    return 0


def summary(f: Figures, x86: int | None, arm64: dict[str, int] | None) -> dict[str, Any]:
    def ms(values: list[float], q: float) -> float | None:
        return round(percentile(values, q), 2) if values else None

    return {
        "initMinMs": round(min(f.init_ms), 2) if f.init_ms else None,
        "initMedianMs": ms(f.init_ms, 50),
        "coldStartMedianMs": ms(f.cold_ms, 50),
        "firstInvocationCannedMs": ms(f.first_canned_ms, 50),
        "warmCannedP50Ms": ms(f.warm_canned_ms, 50),
        "warmCannedP99Ms": ms(f.warm_canned_ms, 99),
        "firstInvocationEmulatorMs": f.first_emulator_ms and round(f.first_emulator_ms, 2),
        "warmEmulatorP50Ms": ms(f.warm_emulator_ms, 50),
        "warmEmulatorP99Ms": ms(f.warm_emulator_ms, 99),
        "peakRssMb": round(f.peak_rss_kb / 1024, 1),
        "binaryX86Mb": x86 and round(x86 / 1e6, 2),
        "binaryArm64Mb": arm64 and round(arm64["binary"] / 1e6, 2),
        "zipArm64Mb": arm64 and round(arm64["zip"] / 1e6, 2),
        "awsCallsPerInvocation": sum(f.calls_per_invocation.values()) or None,
        "firstCall": f.first_call or None,
    }


def ordered(figures: dict[str, Figures]) -> dict[str, Figures]:
    """The floor, then each function with its compared builds and its peer."""
    names = [FLOOR]
    for function in FUNCTIONS:
        names += [function, *sorted(n for n in figures if n.startswith(f"{function} @")), f"peer {function}"]
    return {n: figures[n] for n in names if n in figures}


def add_ratios(subjects: dict[str, dict[str, Any]]) -> None:
    floor = subjects[FLOOR]
    for name, ours in subjects.items():
        function = name.split(" @")[0]
        if function not in FUNCTIONS:
            continue
        peer = subjects[f"peer {function}"]
        ours["initVsFloor"] = round(ours["initMedianMs"] / floor["initMedianMs"], 2)
        ours["coldStartVsFloor"] = round(ours["coldStartMedianMs"] / floor["coldStartMedianMs"], 2)
        ours["peerColdStartVsOurs"] = round(peer["coldStartMedianMs"] / ours["coldStartMedianMs"], 1)
        ours["peerRssVsOurs"] = round(peer["peakRssMb"] / ours["peakRssMb"], 1)


def markdown(report: dict[str, Any]) -> str:
    """The README's table: one row a subject, ms and MB."""
    columns = {
        "init med (min)": lambda f: f["initMedianMs"] and f"{f['initMedianMs']} ({f['initMinMs']})",
        "cold start": lambda f: f["coldStartMedianMs"],
        "init / floor": lambda f: f.get("initVsFloor"),
        "cold / floor": lambda f: f.get("coldStartVsFloor"),
        "peer / ours, cold": lambda f: f.get("peerColdStartVsOurs"),
        "warm p50 / p99 (canned)": lambda f: (
            f["warmCannedP50Ms"] and f"{f['warmCannedP50Ms']} / {f['warmCannedP99Ms']}"
        ),
        "warm p50 / p99 (emulator)": lambda f: (
            f["warmEmulatorP50Ms"] and f"{f['warmEmulatorP50Ms']} / {f['warmEmulatorP99Ms']}"
        ),
        "peak RSS": lambda f: f["peakRssMb"],
        "x86_64 binary": lambda f: f["binaryX86Mb"],
        "arm64 binary / zip": lambda f: f["zipArm64Mb"] and f"{f['binaryArm64Mb']} / {f['zipArm64Mb']}",
        "AWS calls": lambda f: f["awsCallsPerInvocation"],
    }
    lines = [
        "| subject | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, figures in report["subjects"].items():
        cells = ["" if (v := get(figures)) is None else str(v) for get in columns.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def subject_table(table: Table, columns: dict[str, str], subjects: dict[str, dict[str, Any]]) -> Table:
    """`table` with a row a subject: its figures under `columns` (heading -> key)."""
    table.add_column("subject")
    for column in columns:
        table.add_column(column, justify="right")
    for name, figures in subjects.items():
        table.add_row(name, *("" if figures.get(key) is None else str(figures[key]) for key in columns.values()))
    return table


def print_tables(console: Console, report: dict[str, Any]) -> None:
    subjects = report["subjects"]
    table = Table(title=f"start, memory, size ({report['profile']}, {report['machine']}; ms, MB)")
    columns = {
        "init min": "initMinMs",
        "init med": "initMedianMs",
        "cold start": "coldStartMedianMs",
        "init/floor": "initVsFloor",
        "cold/floor": "coldStartVsFloor",
        "peer/ours cold": "peerColdStartVsOurs",
        "peak RSS": "peakRssMb",
        "peer/ours RSS": "peerRssVsOurs",
        "x86_64 bin": "binaryX86Mb",
        "arm64 bin": "binaryArm64Mb",
        "arm64 zip": "zipArm64Mb",
    }
    console.print(subject_table(table, columns, subjects))

    latency = Table(title="invocation latency (ms): the event handed over -> the answer")
    columns = {
        "first (canned)": "firstInvocationCannedMs",
        "warm p50 (canned)": "warmCannedP50Ms",
        "warm p99 (canned)": "warmCannedP99Ms",
        "first (emulator)": "firstInvocationEmulatorMs",
        "warm p50 (emulator)": "warmEmulatorP50Ms",
        "warm p99 (emulator)": "warmEmulatorP99Ms",
        "AWS calls": "awsCallsPerInvocation",
        "first call": "firstCall",
    }
    console.print(subject_table(latency, columns, subjects))

    calls = Table(title="AWS calls per scenario (the emulator's request log)")
    calls.add_column("scenario")
    calls.add_column("calls", justify="right")
    calls.add_column("operations")
    for name, by_operation in report["calls"].items():
        calls.add_row(name, str(sum(by_operation.values())), ", ".join(f"{k} {v}" for k, v in by_operation.items()))
    refresh = report["trackedRefresh"]
    calls.add_row(
        f"tracked refresh of {refresh['instances']} instances",
        str(sum(refresh["calls_by_operation"].values())),
        f"start {refresh['start_calls']}, {refresh['continuations']} continuations of "
        f"{refresh['calls_per_continuation']:.1f} calls",
    )
    console.print(calls)

    billed = report["lambdaSecondsPerRelease"]
    model = billed["model"]
    console.print(
        f"Lambda-seconds per release (staging + production, {refresh['instances']} instances each; instances "
        f"ready {model['readySeconds']:.0f} s after launch, {model['awsCallMs']:.0f} ms per AWS call): "
        f"{billed['total']} s ({billed['gbSeconds']} GB-s at {MEMORY_MB} MB), of which lifecycle-health "
        f"{billed['perRelease']['lifecycle-health']} s for {model['looksPerInstance']} looks per instance, each "
        f"delivered by the recheck queue after its delay; sleeping through the wait inside one invocation "
        f"(the design before): {billed['sleepingInsideTotal']} s ({billed['sleepingInsideGbSeconds']} GB-s)",
        highlight=False,
    )


if __name__ == "__main__":
    sys.exit(main())
