"""The workload presets (`preset: typical-mail | app-server | web`) and how a scenario's own
keys override them (docs/workload.md, where each number's source is given).

A preset is a raw `workload:` mapping, written as a scenario author would write it, so it
goes through the same validation as the author's keys. The author's keys win: a top-level
key replaces the preset's, except the blocks `calendar`, `session`, `databases` (as a
mapping), `mail` and `http`, which are merged key by key, so `calendar: {timezone:
Europe/Berlin}` keeps the preset's curve. A key inside a block (a distribution, a weight
table such as `http.mix`) is replaced whole: weights merged with a preset's would not say
what the author wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Merged key by key under the author's keys; every other key is replaced whole.
MERGED_BLOCKS = frozenset({"calendar", "session", "databases", "mail", "http"})

_WORKING_WEEK = ["mon", "tue", "wed", "thu", "fri"]
# A working day with a lunch dip, in the calendar's local time.
_OFFICE_DAY = [
    ["08:00", 0.3],
    ["09:00", 1.0],
    ["12:00", 0.6],
    ["13:00", 1.0],
    ["17:00", 0.4],
    ["18:00", 0],
]
_WEB_MIX = {"view": 0.4, "open": 0.35, "save": 0.12, "search": 0.05, "agent": 0.05, "static": 0.03}
_WEB_STATUS = {200: 0.95, 304: 0.03, 404: 0.015, 500: 0.005}

PRESETS: dict[str, dict[str, Any]] = {
    "typical-mail": {
        "users": 4000,
        "active": 0.5,
        "calendar": {"days": _WORKING_WEEK, "curve": _OFFICE_DAY},
        "session": {
            "length": {"lognormal": {"median": "4h", "sigma": 0.5}},
            "idle_timeout": "240m",
        },
        # The 15-minute loop of 8 actions: read 5, delete 2 (edit), file 1 (write).
        "think_time": {"exponential": {"mean": "112.5s"}},
        "mix": {"read": 5, "edit": 2, "write": 1},
        "databases": {"mail_file": "mail/{user}.nsf", "mail_share": 1.0},
        "mail": {
            "per_day": 29,
            "recipients": {"poisson": {"mean": 2}},
            "size": "notesbench",
            "external": 0.1,
        },
        "replication": [
            {
                "with": "CN=Hub01/O=Acme",
                "every": "360m",
                "window": "08:00-22:00",
                "databases": 20,
                "bytes": {"lognormal": {"median": "2MB", "sigma": 1}},
            }
        ],
        "http": {"share": 0.15, "per_visit": 12, "mix": _WEB_MIX, "status": _WEB_STATUS},
    },
    "app-server": {
        "users": 1500,
        "active": 0.3,
        "calendar": {"days": _WORKING_WEEK, "curve": _OFFICE_DAY},
        "databases": {"count": 200, "popularity": {"zipf": 0.9}, "charged": 0.05},
        "agents": [
            {
                "db": "apps/app0001.nsf",
                "agent": "Refresh",
                "every": {"uniform": ["30m", "60m"]},
            },
            {
                "db": "apps/app0001.nsf",
                "agent": "Nightly",
                "at": "02:00",
                "every": "1d",
                "elapsed": {"lognormal": {"median": "3m", "sigma": 0.7}},
            },
        ],
    },
    "web": {
        "users": 2000,
        "active": 0.5,
        "calendar": {"days": _WORKING_WEEK, "curve": _OFFICE_DAY},
        "http": {
            "share": 1.0,
            "visits_per_day": 4,
            "per_visit": 12,
            "anonymous": 0.5,
            "mix": _WEB_MIX,
            "status": _WEB_STATUS,
        },
    },
}


def with_preset(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The author's `workload:` keys over their preset's (none, or an unknown name: as written;
    the model then reports the name)."""
    preset = PRESETS.get(raw["preset"]) if isinstance(raw.get("preset"), str) else None
    if preset is None:
        return dict(raw)
    merged = dict(preset)
    for key, value in raw.items():
        base = merged.get(key)
        if key in MERGED_BLOCKS and isinstance(base, Mapping) and isinstance(value, Mapping):
            merged[key] = {**base, **value}
        else:
            merged[key] = value
    session = merged.get("session")
    if "session_length" in raw and isinstance(session, Mapping):
        # The author's flat session_length is the length, over the preset's session.length.
        own = raw.get("session")
        if not (isinstance(own, Mapping) and "length" in own):
            merged["session"] = {k: v for k, v in session.items() if k != "length"}
    return merged
