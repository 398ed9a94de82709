"""Broker URLs (simulator/adapters/mqtt/url.py): defaults, credentials from the URL or
the environment, and errors that never show the password."""

from __future__ import annotations

import pytest

from simulator.adapters.mqtt.url import parse_broker_url
from simulator.errors import InputError


def test_parse_broker_url_defaults_and_ports() -> None:
    url = parse_broker_url("mqtt://broker.example", env={})
    assert (url.scheme, url.host, url.port, url.username, url.password) == (
        "mqtt",
        "broker.example",
        1883,
        None,
        None,
    )
    assert not url.tls
    assert parse_broker_url("mqtts://broker.example", env={}).port == 8883
    assert parse_broker_url("MQTTS://10.1.2.3:9999/", env={}).port == 9999
    assert parse_broker_url("mqtt://[::1]:1884", env={}).host == "::1"
    assert str(parse_broker_url("mqtt://[::1]:1884", env={})) == "mqtt://[::1]:1884"


@pytest.mark.parametrize(
    "host", ["localhost", "broker.example.", "mq_01.acme.example", "münchen.example", "10.1.2.3"]
)
def test_host_names_and_addresses_are_taken(host: str) -> None:
    assert parse_broker_url(f"mqtt://{host}:1884", env={}).host == host


def test_parse_broker_url_credentials_and_redaction() -> None:
    url = parse_broker_url("mqtts://al%40ice:p%3Ass@word@host:8884", env={})
    assert (url.username, url.password) == ("al@ice", "p:ss@word")
    for shown in (str(url), repr(url), url.redacted()):
        assert "ss@word" not in shown
        assert "p%3A" not in shown
    assert str(url) == "mqtts://al%40ice:***@host:8884"
    # From the environment when the URL has none; the URL wins when it has them.
    env = {"BILLSIM_MQTT_USERNAME": "bob", "BILLSIM_MQTT_PASSWORD": "hunter2"}
    from_env = parse_broker_url("mqtt://host", env=env)
    assert (from_env.username, from_env.password) == ("bob", "hunter2")
    assert "hunter2" not in str(from_env) + repr(from_env)
    assert parse_broker_url("mqtt://carol:pw@host", env=env).username == "carol"
    assert parse_broker_url("mqtt://carol:pw@host", env=env).password == "pw"
    # A user in the URL without a password takes the password from the environment.
    assert parse_broker_url("mqtt://carol@host", env=env).password == "hunter2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("broker:1883", "expected mqtt://"),
        ("http://host", "scheme must be mqtt"),
        ("mqtt://", "no host"),
        ("mqtt://host:99999", "not a broker URL"),
        ("mqtt://host:0", "port 0"),
        ("mqtt://host:port", "not a broker URL"),
        ("mqtt://host/topic", "no path"),
        ("mqtt://host?x=1", "no path"),
        ("mqtt://bad url", "host 'bad url' has a space"),
        ("mqtt://broker..example", "has an empty label"),
        ("mqtt://-broker.example", "'-broker' is no DNS label"),
        ("mqtt://bro$ker:1883", "has '$'"),
        ("mqtt://10.1.2.300", "no IPv4 address"),
    ],
)
def test_parse_broker_url_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_broker_url(text, env={})
    assert caught.value.field == "--broker"
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "http://al:topsecret@host",
        "al:topsecret@host:1883",
        "mqtt://al:top/secret@host",
        "mqtt://al:top@secret@host:port",
        "mqtt://al:topsecret@host/path",
    ],
)
def test_parse_broker_url_errors_never_show_the_password(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_broker_url(text, env={})
    assert "secret" not in str(caught.value)
    assert "al:***@" in str(caught.value)


def test_parse_broker_url_password_needs_a_user() -> None:
    with pytest.raises(InputError, match="needs a user name"):
        parse_broker_url("mqtt://host", env={"BILLSIM_MQTT_PASSWORD": "x"})
