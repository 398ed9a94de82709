"""The run summary: records by class and type, ground truth per user, timing, drops."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from simulator.commands.columns import aligned
from simulator.domino.server import BILL_FIELDS
from simulator.domino.simulation import Simulation
from simulator.wire import constants as c
from simulator.wire.records import BUILTIN_KINDS
from simulator.wire.timedate import VirtualTimeStamper, format_timedate

_ACTION_NAMES = {
    c.BILL_SESSIONREC: c.SESSION_ACTION_NAMES,
    c.BILL_DBREC: c.DB_ACTION_NAMES,
    c.BILL_DOCCHARGE: c.CHARGE_TYPE_NAMES,
}
# A generated population can have a million users: the terminal shows the first few.
_USERS_SHOWN = 25
_KIND_NAMES = {kind.struct_type: kind.name for kind in BUILTIN_KINDS}
_KIND_CLASSES = {kind.struct_type: kind.bill_class for kind in BUILTIN_KINDS}


def records_by_class(by_struct_type: dict[tuple[int, int], int]) -> dict[str, int]:
    """Records written, by the class name of their MQTT topic (custom types: custom/N).

    `by_struct_type` is BillingWriter's counter; the summary and the stats topic both use this.
    """
    out: dict[str, int] = {}
    for (struct_type, _detail), count in sorted(by_struct_type.items()):
        bill_class = _KIND_CLASSES.get(struct_type)
        name = f"custom/{struct_type}" if bill_class is None else c.CLASS_TOPIC_NAME[bill_class]
        out[name] = out.get(name, 0) + count
    return out


def build_summary(
    sim: Simulation,
    *,
    delivered: int | None = None,
    extra: dict[str, Any] | None = None,
    wall_time: float | None = None,
) -> dict[str, Any]:
    """The summary as a JSON-ready dict (what `--summary FILE` writes). `wall_time`: the
    seconds the whole run took (broker, connection and drain included), else the
    simulation's own."""
    by_class = records_by_class(sim.writer.by_struct_type)
    by_type: dict[str, dict[str, int]] = {}
    for (struct_type, detail), count in sorted(sim.writer.by_struct_type.items()):
        kind_name = _KIND_NAMES.get(struct_type)
        if kind_name is None:
            kind_codec = sim.codec.kind_codec(struct_type)
            kind_name = kind_codec.kind.name if kind_codec else str(struct_type)
        label = _ACTION_NAMES.get(struct_type, {}).get(detail, "all")
        by_type.setdefault(kind_name, {})[label] = by_type.get(kind_name, {}).get(label, 0) + count
    wall = max(wall_time if wall_time is not None else sim.wall_ended - sim.wall_started, 1e-9)
    stats = sim.queue.stats()
    # The run's own clock: a fault may step or label the one the server stamps with.
    clock = VirtualTimeStamper(sim.scenario.start)
    summary: dict[str, Any] = {
        "scenario": sim.scenario.name,
        "server": sim.server_name,
        "seed": sim.seed,
        "layout": str(sim.options.layout),
        "framing": str(sim.options.framing),
        "speed": sim.pace,
        "virtual_start": format_timedate(clock(0)),
        "virtual_end": format_timedate(clock(sim.now)),
        "virtual_span_s": sim.now / 1e6,
        "wall_time_s": round(wall, 6),
        "events": sim.events,
        "records": sim.writer.frames,
        "rate_per_s": rounded_rate(sim.writer.frames / wall),
        "records_by_class": by_class,
        "records_by_type": by_type,
        "users": sim.server.ledger.as_dict(),
        "sessions_started": sim.server.sessions_started,
        "peak_sessions": sim.server.peak_sessions,
        "queue": {
            "name": stats.name,
            "quota": stats.quota,
            "policy": str(stats.policy),
            "put": stats.put,
            "high_water": stats.high_water,
        },
        "dropped": stats.dropped,
        "abandoned_tasks": sim.abandoned_tasks,
        # Agent runs by the agent's own name, which no AGENTREC carries (docs/scenario.md).
        "agent_runs": dict(sorted(sim.tasks.agent_runs.items())),
    }
    if sim.traffic is not None:
        # Generated messages whose recipient list was cut to fit one frame (docs/workload.md).
        summary["mail_recipients_cut"] = sim.traffic.recipients_cut
    if delivered is not None:
        summary["delivered"] = delivered
    if extra:
        summary.update(extra)
    if sim.faults is not None:
        # What docs/faults.md injected, each with the frames it touched: verify's evidence.
        run = summary.get("run")
        summary["faults"] = sim.faults.entries(
            sim.server_name, run if isinstance(run, str) else None
        )
    return summary


def rounded_rate(rate: float) -> float:
    """Three significant figures at least: a demo's 0.13 records/s is not 0."""
    return round(rate, 1) if rate >= 100 else round(rate, 3)


def _rate_text(rate: float) -> str:
    if rate >= 100:
        return f"{rate:,.0f}"
    return f"{rate:.3g}"


def summary_json(summary: dict[str, Any]) -> str:
    """The text `--summary FILE` holds (written whole: `simulator.adapters.atomic`)."""
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def _width(stream: TextIO) -> int | None:
    """The terminal's width (None: rich asks it), or 160 off a terminal."""
    return None if stream.isatty() else 160


# The bill's fields (domino.server.BILL_FIELDS) as the table heads them.
USER_HEADERS: dict[str, str] = {
    "sessions": "sessions",
    "bytes_in": "bytes in",
    "bytes_out": "bytes out",
    "db_open_time": "db open (1/100 s)",
    "charges": "charges",
    "documents": "docs",
    "mail": "mail",
    "mail_bytes": "mail bytes",
    "replication_bytes_in": "repl in",
    "replication_bytes_out": "repl out",
    "agents": "agents",
    "agent_time": "agent time (1/100 s)",
    "web": "web",
    "web_bytes": "web bytes",
}


def user_table_lines(rows: Sequence[tuple[str, ...]], width: int) -> list[str]:
    """The per-user table, names and numbers always whole (they are what a reader matches
    against a consumer's bill): as columns when they fit `width`, else a block a user."""
    headers = ("user", *(USER_HEADERS[field] for field in BILL_FIELDS))
    table = aligned([headers, *rows])
    if max(len(text) for text in table) <= width:
        return table
    return [
        row[0] + "\n  " + ", ".join(f"{h} {v}" for h, v in zip(headers[1:], row[1:], strict=True))
        for row in rows
    ]


# A fault's entries shown by their seq numbers up to this many, then counted.
_SEQS_SHOWN = 8


def faults_line(faults: Sequence[dict[str, Any]]) -> str:
    """The injected faults in one line: each kind with its count and first seq numbers; a
    crash with its time and what it cut."""
    if not faults:
        return "faults injected: none"
    parts: list[str] = []
    by_kind: dict[str, list[int]] = {}
    for entry in faults:
        kind = entry["fault"]
        if kind == "crash":
            restart = entry["restart_at"]
            parts.append(
                f"crash at {entry['at']} ({entry['sessions_without_end']} sessions without END, "
                f"{len(entry['lost'])} frames lost in MQ$BILLING, "
                + (f"restart at {restart})" if restart else "no restart)")
            )
        elif kind == "clock_step":
            parts.append(f"clock step at {entry['at']} by {entry['by_s']:+g} s")
        elif kind == "dst":
            parts.append(f"times labelled with zone {entry['zone']}")
        else:
            by_kind.setdefault(kind, []).extend(
                entry["seq"] if kind != "reorder" else [entry["held"]]
            )
    for kind, seqs in by_kind.items():
        shown = ", ".join(str(seq) for seq in seqs[:_SEQS_SHOWN])
        more = f", … {len(seqs) - _SEQS_SHOWN} more" if len(seqs) > _SEQS_SHOWN else ""
        what = "frames with counters past 2^32" if kind == "wrap" else "frames"
        parts.append(f"{kind} {len(seqs)} {what} (seq {shown}{more})" if seqs else f"{kind} none")
    return "faults injected: " + "; ".join(parts)


def print_summary(summary: dict[str, Any], stream: TextIO) -> None:
    """The summary for people: a few lines and two small tables."""
    # rich only here, at the end of a run: importing it would delay the first frame.
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    # Off a terminal (a log, CI) rich would fold the tables to 80 columns; keep rows whole.
    console = Console(file=stream, highlight=False, width=_width(stream))
    console.print(
        f"[bold]{summary['scenario']}[/] on {summary['server']}: {summary['records']} records "
        f"in {summary['virtual_start']} .. {summary['virtual_end']} "
        f"({summary['virtual_span_s']:g} s virtual, {summary['wall_time_s']:.3f} s wall, "
        f"{_rate_text(summary['rate_per_s'])} records/s)"
    )
    delivered = summary.get("delivered")
    undelivered = summary.get("undelivered")
    refused, rejected = summary.get("refused", 0), summary.get("rejected", 0)
    console.print(
        f"dropped {summary['dropped']}, abandoned tasks {summary['abandoned_tasks']}, "
        f"sessions {summary['sessions_started']} (peak {summary['peak_sessions']})"
        + (f", delivered {delivered}" if delivered is not None else "")
        + (f", undelivered {undelivered}" if undelivered else "")
        + (
            f" (refused by the broker {refused}, rejected {rejected})"
            if refused or rejected
            else ""
        )
    )
    if "faults" in summary:
        console.print(faults_line(summary["faults"]), markup=False, highlight=False, soft_wrap=True)
    if summary.get("mail_recipients_cut"):
        cut = summary["mail_recipients_cut"]
        console.print(f"generated messages with recipients cut to fit a frame: {cut}")
    if summary["agent_runs"]:
        runs = ", ".join(f"{name} {count}" for name, count in summary["agent_runs"].items())
        console.print(f"agent runs: {runs}")
    types = Table(title="records by type", title_justify="left", box=None, pad_edge=False)
    types.add_column("class")
    types.add_column("struct")
    types.add_column("detail")
    types.add_column("count", justify="right")
    class_of = {kind.name: c.CLASS_TOPIC_NAME[kind.bill_class] for kind in BUILTIN_KINDS}
    for kind_name, details in summary["records_by_type"].items():
        for detail, count in details.items():
            types.add_row(class_of.get(kind_name, "custom"), kind_name, detail, str(count))
    if summary["records_by_type"]:
        console.print(types)
    shown = list(summary["users"].items())[:_USERS_SHOWN]
    rows = [
        (
            name,
            *(
                f"{totals[field]:.2f}" if field == "charges" else str(totals[field])
                for field in BILL_FIELDS
            ),
        )
        for name, totals in shown
    ]
    if rows:
        console.print("per user (ground truth from the records written)")
        for line in user_table_lines(rows, console.width):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    hidden = len(summary["users"]) - len(shown)
    if hidden > 0:
        console.print(f"… and {hidden:,} more users (every user is in the --summary FILE JSON)")
