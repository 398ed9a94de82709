"""The drain's options and the shared TLS builder (simulator/adapters/mqtt/options.py):
what each check refuses, and that every message points at something the user can change."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any

import pytest
import typer
from broker_processes import make_tls_files

from simulator.adapters.mqtt.options import MqttOptions, tls_context
from simulator.adapters.mqtt.url import parse_broker_url
from simulator.cli import app
from simulator.errors import InputError

PLAIN = parse_broker_url("mqtt://host", env={})
SECURE = parse_broker_url("mqtts://host", env={})


def command(name: str) -> Any:
    """A `billsim` command as the CLI defines it (a click command, through typer)."""
    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands")  # noqa: B009
    return commands[name]


def options_of(name: str) -> set[str]:
    """The long options of a `billsim` command."""
    return {opt for param in command(name).params for opt in param.opts if opt.startswith("--")}


def test_defaults_and_version_spellings() -> None:
    assert MqttOptions().qos == 1
    assert MqttOptions(version="311").version == "3.1.1"
    assert MqttOptions(version="5.0").version == "5"


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"qos": 2}, "--qos", "QoS must be 0 or 1"),
        ({"version": "4"}, "--mqtt-version", "MQTT version must be 5 or 3.1.1"),
        ({"payload": "xml"}, "--payload", "payload must be binary or json"),
        ({"key_file": "k.pem"}, "--key-file", "a client key needs a client certificate"),
        ({"window": 0}, None, "in-flight window must be at least 1, not 0"),
        ({"keepalive": 70_000}, None, "keepalive must be 0..65535 s, not 70000"),
        ({"connect_timeout": 0}, None, "connect timeout must be positive, not 0"),
        ({"min_backoff": 0}, None, "backoff must satisfy 0 < min <= max"),
        ({"min_backoff": 2.0, "max_backoff": 1.0}, None, "not min 2.0 s, max 1.0 s"),
    ],
)
def test_each_bad_option_is_refused_naming_only_flags_that_exist(
    kwargs: dict[str, Any], field: str | None, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        MqttOptions(**kwargs)
    error = caught.value
    assert error.field == field
    assert message in str(error)
    flags = options_of("run")
    named = set(re.findall(r"--[a-z][a-z-]*", str(error)))
    assert named <= flags, f"{str(error)!r} names {named - flags}, not options of billsim run"


def test_tls_files_need_an_mqtts_broker() -> None:
    assert tls_context(PLAIN) is None
    for name in ("ca_file", "cert_file", "key_file"):
        with pytest.raises(InputError, match="needs an mqtts:// broker") as caught:
            tls_context(PLAIN, **{name: "x.pem"})
        assert caught.value.field == "--" + name.replace("_", "-")


def test_tls_context_of_files_and_their_errors(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    plain = tls_context(SECURE)
    assert isinstance(plain, ssl.SSLContext)
    assert plain.verify_mode == ssl.CERT_REQUIRED
    context = tls_context(
        SECURE,
        ca_file=str(tls.ca_cert),
        cert_file=str(tls.client_cert),
        key_file=str(tls.client_key),
    )
    assert isinstance(context, ssl.SSLContext)
    assert len(context.get_ca_certs()) == 1  # the test CA only, not the system's
    for kwargs, field in (
        ({"ca_file": str(tmp_path / "missing.pem")}, "--ca-file"),
        ({"cert_file": str(tls.client_key)}, "--cert-file"),  # a key is no certificate
        ({"key_file": str(tls.client_key)}, "--key-file"),  # a key without a certificate
    ):
        with pytest.raises(InputError) as caught:
            tls_context(SECURE, **kwargs)
        assert caught.value.field == field


def test_tail_and_run_take_the_same_tls_options() -> None:
    tls_flags = {"--ca-file", "--cert-file", "--key-file"}
    assert tls_flags <= options_of("run")
    assert tls_flags <= options_of("tail")

    def helps(name: str) -> dict[str, str | None]:
        return {
            param.opts[0]: getattr(param, "help", None)
            for param in command(name).params
            if param.opts[0] in tls_flags
        }

    assert helps("tail") == helps("run")
