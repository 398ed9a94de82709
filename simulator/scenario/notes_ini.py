"""The notes.ini settings billing reads: parsed, merged with a scenario's, validated, changed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from simulator.errors import InputError, quoted
from simulator.scenario.messages import error_message
from simulator.scenario.names import server_name
from simulator.wire.constants import BILLING_CLASS_BY_WORD

DEFAULT_SUPPRESS_MINUTES = 15
DEFAULT_ADDIN_WAKEUP_S = 60
DEFAULT_ADDIN_RUNTIME_S = 10
# OSGetEnvironmentLong returns a C long: larger values are not settings a server could hold.
MAX_NUMBER = 2**31 - 1

SERVER_NAME = "ServerName"
BILLING_CLASS = "BillingClass"
BILLING_SUPPRESS_TIME = "BillingSuppressTime"
BILLING_ADDIN_WAKEUP = "BillingAddinWakeup"
BILLING_ADDIN_RUNTIME = "BillingAddinRuntime"
BILLING_ADDIN_OUTPUT = "BillingAddinOutput"
SETTING_NAMES: tuple[str, ...] = (
    SERVER_NAME,
    BILLING_CLASS,
    BILLING_SUPPRESS_TIME,
    BILLING_ADDIN_WAKEUP,
    BILLING_ADDIN_RUNTIME,
    BILLING_ADDIN_OUTPUT,
)
_CANONICAL = {name.lower(): name for name in SETTING_NAMES}
_WHITESPACE = re.compile(r"\s+")


def parse_billing_class(value: object) -> int:
    """The bit mask of a BillingClass value: comma-separated words, any case, spaces ignored."""
    if value is None:
        return 0
    if isinstance(value, str):
        words: Sequence[object] = value.split(",")
    elif isinstance(value, list | tuple):
        words = value
    else:
        raise ValueError(f"expected comma-separated class names, got {quoted(value)}")
    mask = 0
    for word in words:
        if not isinstance(word, str):
            raise ValueError(f"expected a class name, got {quoted(word)}")
        key = _WHITESPACE.sub("", word).lower()
        if not key:
            continue
        bit = BILLING_CLASS_BY_WORD.get(key)
        if bit is None:
            known = ", ".join(BILLING_CLASS_BY_WORD)
            raise ValueError(f"unknown billing class {quoted(word.strip())} (known: {known})")
        mask |= bit
    return mask


def billing_class_text(mask: int) -> str:
    """The BillingClass value that gives `mask` (the inverse of `parse_billing_class`)."""
    return ",".join(name for name, bit in _CLASS_NAMES if mask & bit)


# As the Domino documentation spells them, for values shown back to people.
_CLASS_NAMES = (
    ("Session", BILLING_CLASS_BY_WORD["session"]),
    ("Replication", BILLING_CLASS_BY_WORD["replication"]),
    ("Document", BILLING_CLASS_BY_WORD["document"]),
    ("Mail", BILLING_CLASS_BY_WORD["mail"]),
    ("Database", BILLING_CLASS_BY_WORD["database"]),
    ("Agent", BILLING_CLASS_BY_WORD["agent"]),
    ("HttpRequest", BILLING_CLASS_BY_WORD["httprequest"]),
)


def _whole_number(value: object, default: int, unit: str) -> int:
    # The Domino idiom for numeric settings: unset or 0 means the default.
    if value is None:
        return default
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number of {unit}, got {quoted(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return default
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise ValueError(f"expected a whole number of {unit}, got {quoted(value)}")
        if len(text.lstrip("+-").lstrip("0")) > len(str(MAX_NUMBER)):
            raise ValueError(f"too large: {quoted(text)} (at most {MAX_NUMBER})")
        number = int(text)
    else:
        raise ValueError(f"expected a whole number of {unit}, got {quoted(value)}")
    if number < 0:
        raise ValueError(f"must not be negative, got {number}")
    if number > MAX_NUMBER:
        raise ValueError(f"too large: {number} (at most {MAX_NUMBER})")
    return number or default


def _minutes(default: int) -> BeforeValidator:
    return BeforeValidator(lambda v: _whole_number(v, default, "minutes"))


def _seconds(default: int) -> BeforeValidator:
    return BeforeValidator(lambda v: _whole_number(v, default, "seconds"))


def _text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {quoted(value)}")
    if "\0" in value:
        raise ValueError("must not contain a NUL character")
    return value.strip() or None


def _server_name(value: object) -> str | None:
    """ServerName obeys the rule of the scenario's `server`: at most 256 bytes of UTF-8, and a
    Domino name whose common name is usable as an MQTT topic level (it names every topic)."""
    text = _text(value)
    if text is None:
        return None
    return server_name(text)


class NotesIniSettings(BaseModel):
    """The settings as the server uses them, every default applied; built by alias (ini name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server_name: Annotated[str | None, BeforeValidator(_server_name), Field(alias="ServerName")] = (
        None
    )
    billing_class: Annotated[
        int, BeforeValidator(parse_billing_class), Field(alias="BillingClass")
    ] = 0
    billing_suppress_time: Annotated[
        int, _minutes(DEFAULT_SUPPRESS_MINUTES), Field(alias="BillingSuppressTime")
    ] = DEFAULT_SUPPRESS_MINUTES
    billing_addin_wakeup: Annotated[
        int, _seconds(DEFAULT_ADDIN_WAKEUP_S), Field(alias="BillingAddinWakeup")
    ] = DEFAULT_ADDIN_WAKEUP_S
    # Validated even when unset, so a default Runtime is checked against a low Wakeup.
    billing_addin_runtime: Annotated[
        int,
        _seconds(DEFAULT_ADDIN_RUNTIME_S),
        Field(alias="BillingAddinRuntime", validate_default=True),
    ] = DEFAULT_ADDIN_RUNTIME_S
    billing_addin_output: Annotated[
        str | None, BeforeValidator(_text), Field(alias="BillingAddinOutput")
    ] = None

    @field_validator("billing_addin_runtime")
    @classmethod
    def _runtime_fits_wakeup(cls, runtime: int, info: ValidationInfo) -> int:
        # NBILLSES refuses to start when it would run longer than it sleeps.
        wakeup = info.data.get("billing_addin_wakeup")
        if wakeup is not None and runtime > wakeup:
            raise ValueError(
                f"{BILLING_ADDIN_RUNTIME} ({runtime} s) must not exceed "
                f"{BILLING_ADDIN_WAKEUP} ({wakeup} s)"
            )
        return runtime

    @property
    def suppress_time_us(self) -> int:
        """BillingSuppressTime in virtual-time microseconds."""
        return self.billing_suppress_time * 60_000_000

    def as_ini(self) -> dict[str, object]:
        """The settings as notes.ini values that validate back to these settings."""
        return {
            SERVER_NAME: self.server_name,
            BILLING_CLASS: billing_class_text(self.billing_class),
            BILLING_SUPPRESS_TIME: self.billing_suppress_time,
            BILLING_ADDIN_WAKEUP: self.billing_addin_wakeup,
            BILLING_ADDIN_RUNTIME: self.billing_addin_runtime,
            BILLING_ADDIN_OUTPUT: self.billing_addin_output,
        }

    def with_setting(self, name: str, value: object) -> NotesIniSettings:
        """These settings with one changed at run time (None or "" unsets it), validated as at load.

        Raises InputError naming the setting.
        """
        canonical = _CANONICAL.get(name.strip().lower())
        if canonical is None:
            raise InputError(f"unknown setting (one of {', '.join(SETTING_NAMES)})", field=name)
        values = self.as_ini()
        values[canonical] = value
        try:
            return NotesIniSettings.model_validate(values)
        except ValidationError as exc:
            raise InputError(error_message(exc.errors()[0]), field=canonical) from None


@dataclass(frozen=True, slots=True)
class IniEntry:
    """One setting's raw value and where it came from, so an error can point at it."""

    key: str  # as spelled in its source
    value: object
    file: str | None
    line: int | None
    field: str  # how errors name it: the key in a notes.ini, `notes_ini.Key` in a scenario


def parse_notes_ini(text: str, filename: str) -> dict[str, IniEntry]:
    """Every `key=value` of a notes.ini, keyed by lower-cased key.

    A real notes.ini holds many settings billing ignores, and those may repeat
    harmlessly; a setting billing reads given twice is ambiguous and an error.
    """
    entries: dict[str, IniEntry] = {}
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            if line[1:-1].strip().lower() == "notes":
                continue
            raise InputError(
                f"unexpected section {line}: a notes.ini has only [Notes]",
                file=filename,
                line=number,
            )
        key, equals, value = line.partition("=")
        key = key.strip()
        if not equals or not key:
            raise InputError(f"expected key=value, got {quoted(line)}", file=filename, line=number)
        lower = key.lower()
        if lower in entries:
            if lower in _CANONICAL:
                raise InputError(
                    f"set twice (first at line {entries[lower].line})",
                    file=filename,
                    line=number,
                    field=key,
                )
            continue
        entries[lower] = IniEntry(key, value.strip(), filename, number, key)
    return entries


def read_notes_ini(path: str | Path) -> dict[str, IniEntry]:
    """`parse_notes_ini` of a file, named in errors as the caller spelled its path."""
    filename = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=filename) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Windows servers write notes.ini in the ANSI code page; latin-1 never fails and
        # keeps the ASCII the billing settings are made of.
        text = data.decode("latin-1")
    return parse_notes_ini(text.replace("\r\n", "\n").replace("\r", "\n"), filename)


def entries_from_mapping(
    block: Mapping[Any, Any],
    *,
    file: str | None,
    lines: Mapping[Any, int] | None = None,
    prefix: str = "notes_ini",
) -> dict[str, IniEntry]:
    """The entries of a scenario's `notes_ini:` block; `lines` maps each key to its line.

    Unlike a real notes.ini, a scenario names only settings billsim reads, so an
    unknown key is a typo and an error.
    """
    entries: dict[str, IniEntry] = {}
    for key, value in block.items():
        line = None if lines is None else lines.get(key)
        field = f"{prefix}.{key}"
        if not isinstance(key, str):
            raise InputError("a setting name must be text", file=file, line=line, field=field)
        lower = key.strip().lower()
        if lower not in _CANONICAL:
            raise InputError(
                f"unknown setting (one of {', '.join(SETTING_NAMES)})",
                file=file,
                line=line,
                field=field,
            )
        if lower in entries:
            raise InputError(
                f"set twice (also as {entries[lower].key})", file=file, line=line, field=field
            )
        entries[lower] = IniEntry(key, value, file, line, field)
    return entries


def resolve_settings(*layers: Mapping[str, IniEntry]) -> NotesIniSettings:
    """The settings given by layers of entries, a later layer winning key by key.

    Pass the scenario's block first and the notes.ini file last: the file wins.
    Raises InputError at the first bad entry, naming its source and key.
    """
    merged: dict[str, IniEntry] = {}
    for layer in layers:
        for lower, given in layer.items():
            if lower in _CANONICAL:
                merged[_CANONICAL[lower]] = given
    try:
        return NotesIniSettings.model_validate(
            {name: given.value for name, given in merged.items()}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else BILLING_ADDIN_RUNTIME
        # A default Runtime can clash with a Wakeup set too low: blame what was written.
        entry = merged.get(name, merged.get(BILLING_ADDIN_WAKEUP))
        if entry is None:
            raise InputError(error_message(error), field=name) from None
        raise InputError(
            error_message(error), file=entry.file, line=entry.line, field=entry.field
        ) from None
