"""The billing.h constants, and billsim's own encodings where no public source fixes one."""

from __future__ import annotations

from typing import Final

BILL_QUEUE_NAME: Final = "MQ$BILLING"

# The C integer types' ranges: a WORD field or count wraps at WORD_MAX, a DWORD counter
# (BytesIn, DBOpenTime, …) at DWORD_MAX.
WORD_MAX: Final = 0xFFFF
DWORD_MAX: Final = 0xFFFF_FFFF
# 2^32: a DWORD counts modulo this, so a wrap takes a whole multiple of it off a total.
DWORD_WRAP: Final = DWORD_MAX + 1

MAXUSERNAME: Final = 256
MAXNETADR: Final = 64
DESIGN_NAME_MAX: Final = 130

# The C API's mq.h: MAXONESEGSIZE - 0x40, with MAXONESEGSIZE = MAXWORD - 1 - 128 (osmem.h).
MQ_MAX_MSGSIZE: Final = (WORD_MAX - 1 - 128) - 0x40  # 65342

BILL_CLASS_SESSION: Final = 0x01
BILL_CLASS_REPLICATION: Final = 0x02
BILL_CLASS_DOCUMENT: Final = 0x04
BILL_CLASS_MAIL: Final = 0x08
BILL_CLASS_DATABASE: Final = 0x10
BILL_CLASS_AGENT: Final = 0x20
BILL_CLASS_HTTPREQUEST: Final = 0x40

# The words notes.ini's BillingClass accepts, in billing.h order, lower-cased for lookup.
BILLING_CLASS_BY_WORD: Final[dict[str, int]] = {
    "session": BILL_CLASS_SESSION,
    "replication": BILL_CLASS_REPLICATION,
    "document": BILL_CLASS_DOCUMENT,
    "mail": BILL_CLASS_MAIL,
    "database": BILL_CLASS_DATABASE,
    "agent": BILL_CLASS_AGENT,
    "httprequest": BILL_CLASS_HTTPREQUEST,
}
# As docs/mqtt.md spells them in MQTT topics.
CLASS_TOPIC_NAME: Final[dict[int, str]] = {
    BILL_CLASS_SESSION: "session",
    BILL_CLASS_DATABASE: "database",
    BILL_CLASS_DOCUMENT: "document",
    BILL_CLASS_MAIL: "mail",
    BILL_CLASS_REPLICATION: "replication",
    BILL_CLASS_AGENT: "agent",
    BILL_CLASS_HTTPREQUEST: "httprequest",
}

BILL_SESSIONREC: Final = 1
BILL_REPLREC: Final = 1001
BILL_DOCCHARGE: Final = 2001
BILL_MAILREC: Final = 3001
BILL_DBREC: Final = 4001
BILL_AGENTREC: Final = 5001
BILL_HTTPREQREC: Final = 6001
CUSTOM_STRUCT_TYPE_MIN: Final = 32001
CUSTOM_STRUCT_TYPE_MAX: Final = WORD_MAX

BILL_SESSION_START: Final = 1
BILL_DB_OPEN: Final = 2
BILL_DB_CLOSE: Final = 3
BILL_SESSION_STAMP: Final = 4
BILL_DB_STAMP: Final = 5
BILL_DB_CLOSE_END: Final = 6
BILL_SESSION_END: Final = 255

BILLCHARGEREAD: Final = 1
BILLCHARGEWRITE: Final = 2

# The names people read in summaries, `check` reports and `tail` lines.
SESSION_ACTION_NAMES: Final[dict[int, str]] = {
    BILL_SESSION_START: "START",
    BILL_SESSION_STAMP: "STAMP",
    BILL_SESSION_END: "END",
}
DB_ACTION_NAMES: Final[dict[int, str]] = {
    BILL_DB_OPEN: "OPEN",
    BILL_DB_CLOSE: "CLOSE",
    BILL_DB_STAMP: "STAMP",
    BILL_DB_CLOSE_END: "CLOSE_END",
}
CHARGE_TYPE_NAMES: Final[dict[int, str]] = {BILLCHARGEREAD: "READ", BILLCHARGEWRITE: "WRITE"}

MAIL_ROUTING_STATE: Final[dict[str, int]] = {"pending": 0, "dead": 1, "hold": 2}

BILL_AGENT_WARNINGS: Final = 0x1
BILL_AGENT_MAIL: Final = 0x2
BILL_AGENT_PUBLIC: Final = 0x4
AGENT_FLAGS: Final[dict[str, int]] = {
    "warnings": BILL_AGENT_WARNINGS,
    "mail": BILL_AGENT_MAIL,
    "public": BILL_AGENT_PUBLIC,
}

# MAILREC Priority and Report: the C API's DELIVERY_PRIORITY_* and DELIVERY_REPORT_* values
# (mailserv.h), by the names scenarios use and `decode --format text` shows.
MAIL_PRIORITY: Final[dict[str, int]] = {"low": 0, "normal": 1, "high": 2}
MAIL_REPORT: Final[dict[str, int]] = {
    "none": 0,  # DELIVERY_REPORT_NONE
    "basic": 1,  # DELIVERY_REPORT_BASIC: on failure
    "confirm": 2,  # DELIVERY_REPORT_CONFIRMED
    "trace": 3,  # DELIVERY_REPORT_TRACE
    "trace-no-deliver": 4,  # DELIVERY_REPORT_TRACE_NO_DELIVER
    "confirm-no-deliver": 5,  # DELIVERY_REPORT_CONFIRM_NO_DELIVER
}

# Simulator-defined encodings (docs/wire-format.md): no public source fixes these values.
REPL_PRIORITY: Final[dict[str, int]] = {"low": 0, "medium": 1, "high": 2}
# AGENTREC.ElapsedRunTime is in hundredths of a second, like DBREC.DBOpenTime.
