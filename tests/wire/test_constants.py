"""billing.h's values as billsim defines them, against the C header it ships (queue/billmsg.h)."""

from __future__ import annotations

import re

from paths import REPO

from simulator.wire import constants as c

QUEUE_DIR = REPO / "queue"


def test_billmsg_h_gives_the_c_apis_mail_values_and_frame_limit() -> None:
    """The C header and the simulator agree on MQ_MAX_MSGSIZE and the DELIVERY_* values."""
    text = (QUEUE_DIR / "billmsg.h").read_text()
    defines = dict(re.findall(r"^#define ([A-Z_]+) +([0-9]+)\b", text, re.M))
    assert int(defines["MQ_MAX_MSGSIZE"]) == c.MQ_MAX_MSGSIZE == 65342
    reports = {
        name.removeprefix("DELIVERY_REPORT_"): int(value)
        for name, value in defines.items()
        if name.startswith("DELIVERY_REPORT_")
    }
    # The C API spells `confirm` CONFIRMED.
    c_names = {"confirm": "CONFIRMED"}
    assert reports == {
        c_names.get(name, name.upper().replace("-", "_")): value
        for name, value in c.MAIL_REPORT.items()
    }
    priorities = {
        name.removeprefix("DELIVERY_PRIORITY_"): int(value)
        for name, value in defines.items()
        if name.startswith("DELIVERY_PRIORITY_")
    }
    assert priorities == {name.upper(): value for name, value in c.MAIL_PRIORITY.items()}


def test_the_c_integer_limits() -> None:
    assert (c.WORD_MAX, c.DWORD_MAX, c.DWORD_WRAP) == (0xFFFF, 0xFFFF_FFFF, 1 << 32)
