"""Start-up benchmark: how long a big scripted scenario takes to validate, and to start a run.

Generates a scenario of 30,000 scripted actions by 15,000 users (about 3 MB of YAML: the
users, a hundred application databases with charged documents, sessions that open,
read, write, edit, transfer, close and log out, and a tenth of server tasks: mail, web
requests, agents, replications) into a temporary directory, then measures, best of N:

- `billsim validate FILE`: wall time, CPU time (user + system) and peak RSS of the process;
- `billsim run FILE --out OUT`: the wall time and CPU time from the command's start to the
  first frame in OUT (the file polled every millisecond); the run is then stopped;
- `billsim run FILE --broker …` to a mosquitto this bench starts on a free loopback port
  (when `mosquitto` and `mosquitto_sub` are installed): the wall time from the command's
  start to the first frame a subscriber receives (the issue's "starts publishing"), so
  the MQTT imports and the connect count too;
- where validate's CPU time goes, in one more process: the imports, loading the scenario
  (of which reading the YAML, timed on its own before), the dry run of the script.

The best of each is the run with the least CPU time: on a shared machine wall time says
more about the other processes than about billsim.

The package's bytecode is compiled first (into its `__pycache__` directories, which git
ignores), as pip compiles it when it installs billsim: with PYTHONDONTWRITEBYTECODE set
(this workplace, the Docker image's build) nothing would cache it, and each command
would compile its sixty modules from source again (7% of validate's instructions).

Each command is a fresh `python -m simulator` process, so interpreter start and imports
count, as they do for a user. Run by hand: `python bench/startup.py [--repeat 3]
[--actions 30000 --users 15000] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from e2e import start_broker

ROOT = Path(__file__).resolve().parent.parent
DATABASES = 100
DOCUMENTS_PER_DATABASE = 8
# Of the actions, the share that are server tasks (not a user's session), by kind.
TASK_SHARES = {"mail": 0.05, "http": 0.035, "agent": 0.01, "replicate": 0.005}
DURATION_S = 8 * 3600
_SUBSCRIBER = ("mosquitto_sub", "-h", "127.0.0.1", "-t", "domino/billing/#", "-R", "-F", "%U %t")


def _address(n: int) -> str:
    return f"10.{1 + n // 62500}.{n // 250 % 250}.{1 + n % 250}"


def generate(actions: int, users: int, seed: int = 1) -> str:
    """The scenario's YAML text: deterministic for its arguments."""
    rng = random.Random(seed)
    out = [
        "name: startup-bench",
        f"description: {actions:,} scripted actions by {users:,} users over a working day.",
        f"seed: {seed}",
        'start: "2026-11-23T08:00:00Z"',
        "duration: 8h",
        "server: CN=Mail01/O=Acme",
        "server_address: 10.1.0.1",
        "notes_ini:",
        '  BillingClass: "Session,Database,Document,Mail,Replication,Agent,HttpRequest"',
        "  BillingSuppressTime: 15",
        "databases:",
    ]
    for db in range(1, DATABASES + 1):
        out.append(f"  apps/app{db:03}.nsf:")
        out.append(f'    replica_id: "85258A3B:{0x0052C100 + db:08X}"')
        documents = ", ".join(
            f"0x{0x2300 + doc * 4:X}: {{charge_read: 0.0{doc}, charge_write: 0.{doc}5}}"
            for doc in range(1, DOCUMENTS_PER_DATABASE + 1)
        )
        out.append(f"    documents: {{{documents}}}")
    out.append("users:")
    for n in range(1, users + 1):
        out.append(f'  u{n:05}: {{name: "CN=User {n:05}/O=Acme", address: "{_address(n)}"}}')

    tasks = {kind: round(actions * share) for kind, share in TASK_SHARES.items()}
    session_actions = actions - sum(tasks.values())
    # Each user has at least one action; the rest are dealt out at random.
    per_user = [1] * users
    for _ in range(session_actions - users):
        per_user[rng.randrange(users)] += 1
    lines: list[tuple[float, str]] = []
    for index, count in enumerate(per_user):
        lines.extend(_session(rng, f"u{index + 1:05}", count))
    for kind, count in tasks.items():
        for _ in range(count):
            lines.append(_task(rng, kind, users))
    lines.sort(key=lambda line: line[0])
    out.append("script:")
    out.extend(text for _, text in lines)
    return "\n".join(out) + "\n"


def _at(seconds: float) -> str:
    return f"{seconds:.3f}s"


def _db(rng: random.Random) -> str:
    return f"apps/app{rng.randint(1, DATABASES):03}.nsf"


def _note(rng: random.Random) -> str:
    return f"0x{0x2300 + rng.randint(1, DOCUMENTS_PER_DATABASE) * 4:X}"


def _session(rng: random.Random, user: str, count: int) -> list[tuple[float, str]]:
    """A user's actions: open first, logout last (when there are two or more), between
    them reads, writes, edits and transfers of the database opened, and maybe a close."""
    at = rng.uniform(0, DURATION_S * 0.8)
    db = _db(rng)
    lines: list[tuple[float, str]] = []

    def add(body: str) -> None:
        lines.append((at, f"  - {{at: {_at(at)}, user: {user}, {body}}}"))

    if count == 1:
        kind = rng.choice(["open", "read", "transfer"])
        if kind == "transfer":
            add(f"action: transfer, bytes_in: {rng.randint(100, 9000)}, bytes_out: 2000")
        else:
            add(f"action: {kind}, db: {db}, bytes_in: {rng.randint(100, 4000)}")
        return lines
    add(f"action: open, db: {db}, bytes_in: 400, bytes_out: {rng.randint(1000, 9000)}")
    opened = True
    for position in range(count - 2):
        at += rng.uniform(5, 600)
        roll = rng.random()
        if roll < 0.4:
            note = f", note_id: {_note(rng)}" if rng.random() < 0.7 else ""
            add(f"action: read, db: {db}{note}, bytes_out: {rng.randint(200, 20000)}")
            opened = True
        elif roll < 0.6:
            bytes_in = rng.randint(200, 9000)
            add(f"action: write, db: {db}, note_id: {_note(rng)}, bytes_in: {bytes_in}")
            opened = True
        elif roll < 0.75:
            add(f"action: edit, db: {db}, bytes_in: {rng.randint(100, 3000)}, bytes_out: 300")
            opened = True
        elif roll < 0.9 or not opened or position == 0:
            add(f"action: transfer, bytes_in: {rng.randint(100, 9000)}, bytes_out: 64000")
        else:
            add(f"action: close, db: {db}")
            opened = False
    at += rng.uniform(5, 600)
    add(f"action: logout, bytes_in: {rng.randint(10, 400)}")
    return lines


def _task(rng: random.Random, kind: str, users: int) -> tuple[float, str]:
    at = rng.uniform(0, DURATION_S * 0.95)
    user = f"u{rng.randint(1, users):05}"
    if kind == "mail":
        to = ", ".join(f"u{rng.randint(1, users):05}" for _ in range(rng.randint(1, 3)))
        body = (
            f"action: mail, from: {user}, to: [{to}], size: {rng.randint(1000, 90000)}, "
            f"delay: {rng.randint(0, 60)}s"
        )
    elif kind == "http":
        body = (
            f"action: http, user: {user}, address: {_address(rng.randint(1, users))}, "
            f'request: "GET /{_db(rng)}/byDate?OpenView HTTP/1.1", '
            f"bytes: {rng.randint(500, 50000)}, time_ms: {rng.randint(2, 400)}"
        )
    elif kind == "agent":
        body = (
            f"action: agent, db: {_db(rng)}, agent: Nightly cleanup, signer: {user}, "
            f"elapsed: {rng.randint(1, 90)}s, flags: [public]"
        )
    else:
        body = (
            f"action: replicate, with: CN=Hub01/O=Acme, direction: pull, duration: 2m, "
            f"databases: [{{db: {_db(rng)}, bytes_in: {rng.randint(1000, 90000)}, bytes_out: 800}}]"
        )
    return at, f"  - {{at: {_at(at)}, {body}}}"


def _billsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a running process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_validate(path: Path) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS in MiB and the output of one `billsim validate`."""
    started = time.perf_counter()
    child = subprocess.Popen(
        _billsim("validate", str(path)),
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert child.stdout is not None
    output = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"billsim validate failed ({child.returncode}):\n{output}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output.strip()


def measure_first_publish(path: Path, port: int) -> float:
    """Wall seconds from the start of `billsim run --broker` to the first frame that a
    subscriber receives (the server's status message does not count)."""
    sub = subprocess.Popen(
        # -R: live messages only, no status a former run left retained.
        [*_SUBSCRIBER, "-p", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # subscribed before the run starts
    started = time.time()
    child = subprocess.Popen(
        _billsim("run", str(path), "--broker", f"mqtt://127.0.0.1:{port}", "--speed", "max"),
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert sub.stdout is not None
        for line in sub.stdout:  # "%U %t": receive time (Unix seconds), topic
            stamp, topic = line.split()
            if not topic.endswith("/status"):
                return float(stamp) - started
        raise SystemExit("the subscriber ended before a frame")
    finally:
        _stop(child)
        _stop(sub)


def measure_first_frame(path: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds from the start of `billsim run --out` to its first frame."""
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    child = subprocess.Popen(
        _billsim("run", str(path), "--out", str(out)),
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if out.stat().st_size > 0:
                    break
            except FileNotFoundError:
                pass
            if child.poll() is not None:
                raise SystemExit(f"billsim run ended ({child.returncode}) before a frame")
            time.sleep(0.001)
        wall = time.perf_counter() - started
        cpu = _cpu_seconds(child.pid)
    finally:
        _stop(child)
    return wall, cpu


def _stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, and SIGKILL if it is still there after 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_PHASES = """
import json, sys, time
started = time.process_time()
from simulator.commands.loading import check_script, load
from simulator.domino.simulation import RunOptions
from simulator.scenario.yamlsource import read_yaml
imported = time.process_time()
read_yaml(sys.argv[1])
read = time.process_time()
scenario, settings = load(sys.argv[1], None)
loaded = time.process_time()
check_script(scenario, settings, RunOptions())
checked = time.process_time()
print(json.dumps({
    "imports": imported - started,
    "load": loaded - read,
    "dry run": checked - loaded,
    "of the load, reading the YAML": read - imported,
}))
"""


def measure_phases(path: Path) -> dict[str, float]:
    """CPU seconds of each step of `validate`, in a fresh process (see _PHASES)."""
    output = subprocess.run(
        [sys.executable, "-c", _PHASES, str(path)],
        env=_environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    phases: dict[str, float] = json.loads(output)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--actions", type=int, default=30_000, help="scripted actions")
    parser.add_argument("--users", type=int, default=15_000, help="declared users")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument("--keep", type=Path, help="write the scenario here and keep it")
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "simulator", quiet=1)
    with tempfile.TemporaryDirectory(prefix="billsim-startup-") as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "startup.yaml"
        path.write_text(generate(args.actions, args.users))
        size = path.stat().st_size
        print(f"{path.name}: {args.actions:,} actions, {args.users:,} users, {size:,} bytes")
        best_validate: tuple[float, float, float] | None = None
        for _ in range(args.repeat):
            wall, cpu, rss, output = measure_validate(path)
            print(f"  validate: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss:,.0f} MiB")
            if best_validate is None or cpu < best_validate[1]:
                best_validate = (wall, cpu, rss)
        print(f"  ({output})")
        best_run: tuple[float, float] | None = None
        for _ in range(args.repeat):
            wall, cpu = measure_first_frame(path, Path(tmp) / "out.nbf")
            print(f"  run --out: first frame after {wall:.2f} s wall, {cpu:.2f} s CPU")
            if best_run is None or cpu < best_run[1]:
                best_run = (wall, cpu)
        best_publish: float | None = None
        if shutil.which("mosquitto") and shutil.which("mosquitto_sub"):
            broker, port = start_broker(Path(tmp))
            try:
                for _ in range(args.repeat):
                    wall = measure_first_publish(path, port)
                    print(f"  run --broker: first frame at a subscriber after {wall:.2f} s wall")
                    best_publish = wall if best_publish is None else min(best_publish, wall)
            finally:
                broker.terminate()
                broker.wait()
        best_phases: dict[str, float] | None = None
        for _ in range(args.repeat):
            phases = measure_phases(path)
            if best_phases is None or sum(phases.values()) < sum(best_phases.values()):
                best_phases = phases
        assert best_validate is not None and best_run is not None and best_phases is not None
        wall, cpu, rss = best_validate
        print(
            f"validate (best of {args.repeat}): {wall:.2f} s wall, {cpu:.2f} s CPU, "
            f"peak RSS {rss:,.0f} MiB (aim < 1 s)"
        )
        wall, cpu = best_run
        print(
            f"run --out, first frame (best of {args.repeat}): {wall:.2f} s wall, "
            f"{cpu:.2f} s CPU (aim < 1.5 s)"
        )
        if best_publish is None:
            print("run --broker: not measured (install mosquitto and its clients)")
        else:
            print(
                f"run --broker, first frame at a subscriber (best of {args.repeat}): "
                f"{best_publish:.2f} s wall (aim < 1.5 s)"
            )
        steps = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in best_phases.items())
        print(f"validate's CPU time (best of {args.repeat}): {steps}")


if __name__ == "__main__":
    main()
