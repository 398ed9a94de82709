"""Domain benchmark: a 2-server domain to null sinks in one process, then in two.

The same records both ways (each server generates its own users, whichever process runs
it), so the ratio of the rates is what the second process buys; the aim is >= 1.7x. The
wall time counts everything a user waits for: the children's start (spawn, imports, about
half a second of a core), the simulations' construction and the run; the default run
(about 1.5 million records) is long enough for the start to matter little. Also shown:
one server with the whole population (`servers: 1`), the engine's single-core figure.
Run by hand: `python bench/domain.py` (on a quiet machine: the load average is printed
with the figures).

On a busy machine wall times say little, so the CPU time is measured too: each server's
simulation run alone (built and run to a null sink) and the start of a child process
(an interpreter importing billsim). One process costs their sum; two cores, in two
processes, the start plus the busier server: the ratio is what two idle cores would give.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine import THROUGHPUT_SCENARIO  # bench/ is on the path of a script run from it

from simulator.adapters.sinks import NullSink, drain_to_sink
from simulator.commands.loading import load
from simulator.commands.run import RunRequest, run_options
from simulator.commands.run_domain import run_servers
from simulator.domino.domain import Domain, domain_servers
from simulator.domino.simulation import Simulation

# engine.py's record-heavy flat workload, shared out among the domain's servers.
_SCENARIO = THROUGHPUT_SCENARIO + "  servers: {servers}\n"


def domain_run(path: Path, servers: int, procs: int) -> tuple[int, float]:
    """(records, wall seconds) of the scenario at `path`, every server to a null sink."""
    request = RunRequest(scenario=str(path), procs=procs, out=Path(os.devnull))
    scenario, _ = load(request.scenario, request.notes_ini)
    names = domain_servers(scenario.server, servers)
    started = time.perf_counter()
    summaries = asyncio.run(run_servers(request, scenario, names, (None,) * servers, io.StringIO()))
    seconds = time.perf_counter() - started
    return sum(summary["records"] for summary in summaries.values()), seconds


def server_cpu(path: Path, servers: int, index: int) -> float:
    """CPU seconds to build one server of the domain and run it to a null sink."""
    request = RunRequest(scenario=str(path), out=Path(os.devnull))
    scenario, settings = load(request.scenario, request.notes_ini)
    started = time.process_time()
    sim = Simulation(
        scenario,
        settings,
        run_options(request, scenario),
        domain=Domain(domain_servers(scenario.server, servers), index),
    )

    async def run() -> None:
        await asyncio.gather(drain_to_sink(sim.queue, NullSink()), sim.run())

    asyncio.run(run())
    return time.process_time() - started


def child_start_cpu() -> float:
    """CPU seconds of a fresh interpreter importing what a domain's child imports."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = "import simulator.commands.run_domain"
    subprocess.run([sys.executable, "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000, help="users of the whole domain")
    parser.add_argument("--duration", default="6h", help="virtual length of each run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case; best shown")
    args = parser.parse_args()
    print(
        f"billsim domain benchmark: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"
    )
    cases = (
        ("1 server, 1 process", 1, 1),
        ("2 servers, 1 process", 2, 1),
        ("2 servers, 2 processes", 2, 2),
    )
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        for label, servers, procs in cases:
            path = Path(directory) / f"domain-{servers}.yaml"
            path.write_text(
                _SCENARIO.format(users=args.users, duration=args.duration, servers=servers)
            )
            for _ in range(args.repeat):
                records, seconds = domain_run(path, servers, procs)
                rate = records / seconds
                best[label] = max(best.get(label, 0.0), rate)
                print(
                    f"  {label}: {records:,} records in {seconds:.2f} s: {rate:,.0f}/s "
                    f"(load average {os.getloadavg()[0]:.2f})"
                )
        path = Path(directory) / "domain-2.yaml"
        cpu = [min(server_cpu(path, 2, index) for _ in range(args.repeat)) for index in (0, 1)]
        start = min(child_start_cpu() for _ in range(args.repeat))
    print(
        f"CPU: server 1 {cpu[0]:.2f} s, server 2 {cpu[1]:.2f} s, a child's start {start:.2f} s: "
        f"on 2 idle cores, 2 processes ~{sum(cpu) / (start + max(cpu)):.2f}x one"
    )
    one, two = best["2 servers, 1 process"], best["2 servers, 2 processes"]
    print(
        f"best: 1 server {best['1 server, 1 process']:,.0f}/s; 2 servers in 1 process "
        f"{one:,.0f}/s, in 2 processes {two:,.0f}/s: {two / one:.2f}x (aim >= 1.7x); "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )


if __name__ == "__main__":
    main()
