"""The value rules of a scenario file: what each kind of value may be, and what it loads as.

The `Annotated` types are what the models (`simulator.scenario.models`) declare their
fields with; `custom_value` turns a custom record's field value into the codec's value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from simulator.errors import quoted
from simulator.scenario.durations import DurationUs
from simulator.scenario.names import (
    domino_name,
    net_address,
    no_nul,
    non_empty,
    server_name,
)
from simulator.scenario.rate import parse_rate
from simulator.scenario.speed import Speed
from simulator.wire import constants as c
from simulator.wire.codec import utf8_len
from simulator.wire.layout import CType, parse_ctype
from simulator.wire.records import Oid, Unid
from simulator.wire.timedate import TimeDate, parse_timedate_id, timedate_from_datetime

C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPLICA_ID = re.compile(r"^[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8}$")
_UNID = re.compile(r"^[0-9A-Fa-f]{32}$")


def _max_bytes(limit: int, what: str) -> AfterValidator:
    def check(text: str) -> str:
        size = utf8_len(text)
        if size > limit:
            raise ValueError(f"{what} is {size} bytes of UTF-8, longer than {limit}")
        return text

    return AfterValidator(check)


def _recipient(text: str) -> str:
    # MAILREC packs recipients into one comma-separated string.
    if "," in text:
        raise ValueError("a recipient name must not contain a comma")
    return text


def _replica_id(text: str) -> str:
    if not _REPLICA_ID.match(text):
        raise ValueError(f"expected a replica ID like 85258A3B:0052C1F0, got {quoted(text)}")
    return text.upper()


def _uint(value: object, bits: int, what: str) -> int:
    """An unsigned integer: a YAML int, or its text in decimal or 0x hex."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise ValueError(f"expected a {what}, got {quoted(value)}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"expected a {what}, got {quoted(value)}")
    top = (1 << bits) - 1
    if not 0 <= number <= top:
        raise ValueError(f"{what} {quoted(value)} out of range 0..{top}")
    return number


def _note_id(value: object) -> int:
    return _uint(value, 32, "note ID")


def _aware_utc(value: object) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"expected an ISO-8601 time like 2026-11-21T09:00:00Z, got {quoted(value)}"
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        # YAML reads an unquoted 2026-11-23 as a date: not Python's repr of it.
        day = value.isoformat()
        raise ValueError(f"a date alone ({day}) has no time: like {day}T09:00:00Z")
    if not isinstance(value, datetime):
        raise ValueError(
            f"expected an ISO-8601 time like 2026-11-21T09:00:00Z, got {quoted(value)}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"needs a zone (Z or +hh:mm): {value.isoformat()}")
    return value.astimezone(UTC)


def _speed_number(value: object) -> object:
    # YAML reads `speed: 60` as a number: say what the speed wants, as --speed says it.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"speed must be max, realtime or Nx (e.g. 60x), not {value} (for {value} times "
            f"as fast: {value}x)"
        )
    return value


def _speed(value: str) -> str:
    # The one parser of a speed, shared with `--speed` and the MQTT `speed` command: a
    # scenario that validates must also run.
    Speed.parse(value)
    return value.strip().lower()


def _one_class(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError(f"expected a billing class name, got {quoted(value)}")
    bit = c.BILLING_CLASS_BY_WORD.get(re.sub(r"\s+", "", value).lower())
    if bit is None:
        raise ValueError(
            f"unknown billing class {quoted(value)} (one of {', '.join(c.BILLING_CLASS_BY_WORD)})"
        )
    return bit


def _ctype_name(text: str) -> str:
    return parse_ctype(text).name


def _ident(text: str) -> str:
    if not C_IDENTIFIER.match(text):
        raise ValueError(f"expected a C identifier, got {quoted(text)}")
    return text


def _none_is_empty(value: object) -> object:
    return {} if value is None else value


Text = Annotated[str, AfterValidator(no_nul)]
NonEmptyText = Annotated[str, AfterValidator(no_nul), AfterValidator(non_empty)]
Name = Annotated[str, AfterValidator(domino_name)]
ServerName = Annotated[Name, AfterValidator(server_name)]
Recipient = Annotated[str, AfterValidator(domino_name), AfterValidator(_recipient)]
NetAddress = Annotated[str, AfterValidator(net_address)]
FormName = Annotated[NonEmptyText, _max_bytes(c.DESIGN_NAME_MAX - 1, "form name")]
Ident = Annotated[str, AfterValidator(_ident)]
Count = Annotated[int, Field(strict=True, ge=0)]
Dword = Annotated[int, Field(strict=True, ge=0, le=c.DWORD_MAX)]
Charge = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
NoteId = Annotated[int, BeforeValidator(_note_id)]
ReplicaId = Annotated[str, AfterValidator(_replica_id)]
UtcTime = Annotated[datetime, BeforeValidator(_aware_utc)]
SpeedText = Annotated[str, BeforeValidator(_speed_number), AfterValidator(_speed)]
# Records per second (`5000/s`, or a number); the one parser `--rate` uses too.
Rate = Annotated[float, BeforeValidator(parse_rate)]
PositiveDuration = Annotated[DurationUs, Field(gt=0)]
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
BillingClassBit = Annotated[int, BeforeValidator(_one_class)]
CTypeName = Annotated[str, AfterValidator(_ctype_name)]
# A block kept as written for a later, fuller check; a key with nothing after it reads as {}.
RawMapping = Annotated[dict[str, Any], BeforeValidator(_none_is_empty)]


# --- custom values ----------------------------------------------------------------------------


class CustomValueError(ValueError):
    """A custom field's value does not fit its C type; `subpath` names a part of an OID."""

    def __init__(self, message: str, *subpath: str) -> None:
        super().__init__(message)
        self.subpath = subpath


def custom_value(ctype: CType, value: Any) -> Any:
    """A custom field's scenario value as the codec's Python value for its C type."""
    kind = ctype.kind
    try:
        if kind == "int":
            return _uint(value, 8 * ctype.size, ctype.name)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected a number, got {quoted(value)}")
            if not math.isfinite(value):
                raise ValueError(f"must be a finite number, got {quoted(value)}")
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"expected text, got {quoted(value)}")
            no_nul(value)
            size = utf8_len(value)
            if size >= ctype.size:
                raise ValueError(
                    f"{size} bytes of UTF-8 do not fit {ctype.name} (at most {ctype.size - 1})"
                )
            return value
        if kind == "time":
            return _timedate(value)
        if kind == "id":
            return _dbid(value, ctype.name)
        if kind == "unid":
            if not isinstance(value, str) or not _UNID.match(value):
                raise ValueError(f"expected a UNID of 32 hex digits, got {quoted(value)}")
            words = [int(value[i : i + 8], 16) for i in range(0, 32, 8)]
            return Unid(TimeDate(words[1], words[0]), TimeDate(words[3], words[2]))
    except CustomValueError:
        raise
    except ValueError as exc:
        raise CustomValueError(str(exc)) from None
    assert kind == "oid", kind
    return _oid(value)


def _timedate(value: Any) -> TimeDate:
    # Either a time, or the id form the JSON form uses for TIMEDATEs that carry a zone.
    if isinstance(value, str) and _REPLICA_ID.match(value.strip()):
        return parse_timedate_id(value.strip())
    return timedate_from_datetime(_aware_utc(value))


def _dbid(value: object, what: str) -> TimeDate:
    if not isinstance(value, str) or not _REPLICA_ID.match(value.strip()):
        raise ValueError(f"expected a {what} like 85258A3B:0052C1F0, got {quoted(value)}")
    return parse_timedate_id(value.strip())


_OID_KEYS = ("File", "Note", "Sequence", "SequenceTime")


def _oid(value: object) -> Oid:
    if not isinstance(value, Mapping):
        raise CustomValueError("expected an OID mapping {File, Note, Sequence, SequenceTime}")
    for key in value:
        if key not in _OID_KEYS:
            raise CustomValueError("unknown field of an OID", str(key))
    parts: list[Any] = []
    for key in _OID_KEYS:
        if key not in value:
            raise CustomValueError(f"missing field {key} of an OID")
        try:
            if key in ("File", "Note"):
                parts.append(_dbid(value[key], "DBID"))
            elif key == "Sequence":
                parts.append(_uint(value[key], 32, "DWORD"))
            else:
                parts.append(_timedate(value[key]))
        except ValueError as exc:
            raise CustomValueError(str(exc), key) from None
    return Oid(parts[0], parts[1], parts[2], parts[3])
