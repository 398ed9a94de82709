"""A domain's summary: the servers' summed in one server's shape (docs/workload.md#domain)."""

from __future__ import annotations

import io
from typing import Any

from simulator.commands.domain_summary import merge_summaries, print_domain_summary
from simulator.domino.server import BILL_FIELDS


def summary(server: str, run: str, users: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "scenario": "s",
        "server": server,
        "seed": 7,
        "virtual_start": "2026-11-21T09:00:00.00Z",
        "virtual_end": fields.get("end", "2026-11-21T10:00:00.00Z"),
        "virtual_span_s": fields.get("span", 3600.0),
        "wall_time_s": fields.get("wall", 1.0),
        "events": 10,
        "records": fields.get("records", 8),
        "rate_per_s": 8.0,
        "records_by_class": {"session": fields.get("records", 8)},
        "records_by_type": {"SESSIONREC": {"START": 2}},
        "users": users,
        "sessions_started": 2,
        "peak_sessions": 2,
        "queue": {
            "name": "MQ$BILLING",
            "quota": 100,
            "policy": "block",
            "put": 8,
            "high_water": fields.get("high_water", 3),
        },
        "dropped": 0,
        "abandoned_tasks": 0,
        "agent_runs": {"Nightly": 1},
        "run": run,
        "qos": 1,
    }


BILL = {"sessions": 1, "bytes_in": 10, "charges": 0.25, "mail": 2}


def test_counts_sum_spans_and_walls_take_the_longest_and_shared_values_stay() -> None:
    first = summary("CN=Mail01/O=Acme", "r1", {"A": BILL}, wall=2.0, high_water=9)
    second = summary(
        "CN=Mail02/O=Acme",
        "r2",
        {"B": BILL},
        end="2026-11-21T11:00:00.00Z",
        span=7200.0,
        records=5,
    )
    merged = merge_summaries({"CN=Mail01/O=Acme": first, "CN=Mail02/O=Acme": second})
    assert merged["server"] == "CN=Mail01/O=Acme, CN=Mail02/O=Acme"
    assert (merged["records"], merged["events"], merged["sessions_started"]) == (13, 20, 4)
    assert merged["records_by_class"] == {"session": 13}
    assert merged["records_by_type"] == {"SESSIONREC": {"START": 4}}
    assert merged["agent_runs"] == {"Nightly": 2}
    assert merged["rate_per_s"] == 16.0
    assert (merged["virtual_span_s"], merged["virtual_end"]) == (7200.0, second["virtual_end"])
    assert merged["wall_time_s"] == 2.0
    assert merged["queue"] == {
        "name": "MQ$BILLING",
        "quota": 100,
        "policy": "block",
        "put": 16,
        "high_water": 9,
    }
    assert (merged["seed"], merged["qos"]) == (7, 1)  # the run's, not sums
    assert "run" not in merged  # each server's own, in `servers`
    assert merged["servers"]["CN=Mail02/O=Acme"]["run"] == "r2"
    # One server's fields in one server's order, then each server's summary.
    assert list(merged) == [*(key for key in first if key != "run"), "servers"]


def test_a_user_on_two_servers_has_each_bill_field_summed() -> None:
    merged = merge_summaries(
        {
            "CN=Mail01/O=Acme": summary("CN=Mail01/O=Acme", "r1", {"A": BILL, "B": BILL}),
            "CN=Mail02/O=Acme": summary("CN=Mail02/O=Acme", "r2", {"A": BILL}),
        }
    )
    assert merged["users"] == {
        "A": {"sessions": 2, "bytes_in": 20, "charges": 0.5, "mail": 4},
        "B": BILL,
    }


def test_the_printed_summary_has_a_line_per_server_then_the_domains() -> None:
    users = {"A": {f: 0 for f in BILL_FIELDS}}
    merged = merge_summaries(
        {
            "CN=Mail01/O=Acme": summary("CN=Mail01/O=Acme", "r1", users),
            "CN=Mail02/O=Acme": summary("CN=Mail02/O=Acme", "r2", {}),
        }
    )
    out = io.StringIO()
    print_domain_summary(merged, out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("CN=Mail01/O=Acme: 8 records, 2 sessions (peak 2), 1 users")
    assert lines[1].startswith("CN=Mail02/O=Acme: 8 records")
    assert lines[2].startswith("s on CN=Mail01/O=Acme, CN=Mail02/O=Acme: 16 records")
