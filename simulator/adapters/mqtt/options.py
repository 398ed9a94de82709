"""How to talk to a broker: the drain's ``MqttOptions``, and the one TLS context builder
that ``run`` and ``tail`` share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from simulator.adapters.mqtt.url import BrokerUrl
from simulator.errors import InputError

if TYPE_CHECKING:
    # Imported by tls_context: the command line imports this module for its defaults.
    import ssl

_VERSIONS: Final = {"5": "5", "5.0": "5", "3.1.1": "3.1.1", "311": "3.1.1"}


# How long a command waits for its first connection to a broker (--connect-timeout).
DEFAULT_CONNECT_TIMEOUT = 10.0
# The other defaults of the options a run on MQTT takes (--qos, --drain-timeout,
# --stats-interval): `run` refuses one changed from them with --out.
DEFAULT_QOS = 1
DEFAULT_DRAIN_TIMEOUT = 30.0
DEFAULT_STATS_INTERVAL = 5.0


@dataclass(frozen=True)
class MqttOptions:
    """How the drain publishes. ``window`` is the most frames left unacknowledged at QoS 1;
    it is always capped by the broker's Receive Maximum (see ``BillingDrain.window``).
    ``topic_meta``: frames go to ``…/{class}/{run}/{seq}`` (``--topic-meta``).
    ``stall_after``: seconds without a PUBACK while frames wait before the drain says
    delivery has stalled; ``drain_timeout`` is what the command will give ``close()``,
    named in that message. Times are in seconds."""

    qos: int = DEFAULT_QOS
    version: str = "5"  # "5" or "3.1.1"
    payload: str = "binary"  # "binary" or "json"
    topic_meta: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_id: str | None = None  # default billsim-<server>-<run>
    keepalive: int = 60
    window: int = 1000
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT  # one attempt's wait for CONNACK
    max_backoff: float = 30.0
    min_backoff: float = 0.25
    stall_after: float = 5.0
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT

    def __post_init__(self) -> None:
        if self.qos not in (0, 1):
            raise InputError(f"QoS must be 0 or 1, not {self.qos!r}", field="--qos")
        version = _VERSIONS.get(str(self.version))
        if version is None:
            raise InputError(
                f"MQTT version must be 5 or 3.1.1, not {self.version!r}", field="--mqtt-version"
            )
        object.__setattr__(self, "version", version)
        if self.payload not in ("binary", "json"):
            raise InputError(
                f"payload must be binary or json, not {self.payload!r}", field="--payload"
            )
        # No command has a flag for the window, keepalive, connect timeout or backoff:
        # these messages name the setting, not an option the user cannot find.
        if self.window < 1:
            raise InputError(f"the MQTT in-flight window must be at least 1, not {self.window}")
        if not 0 <= self.keepalive <= 0xFFFF:
            raise InputError(f"the MQTT keepalive must be 0..65535 s, not {self.keepalive}")
        if self.connect_timeout <= 0:
            raise InputError(
                f"the MQTT connect timeout must be positive, not {self.connect_timeout}"
            )
        if self.min_backoff <= 0 or self.max_backoff < self.min_backoff:
            raise InputError(
                "the MQTT reconnect backoff must satisfy 0 < min <= max, "
                f"not min {self.min_backoff} s, max {self.max_backoff} s"
            )
        if self.stall_after <= 0:
            raise InputError(f"the MQTT stall time must be positive, not {self.stall_after}")
        _check_key_has_certificate(self.cert_file, self.key_file)


def _check_key_has_certificate(cert_file: str | None, key_file: str | None) -> None:
    if key_file is not None and cert_file is None:
        raise InputError(
            "a client key needs a client certificate (--cert-file)", field="--key-file"
        )


def tls_context(
    url: BrokerUrl,
    *,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> ssl.SSLContext | None:
    """The TLS context of an mqtts:// URL: the CA file (else the system's CAs) and a
    client certificate if given; None for mqtt://. The one builder for every command
    that connects: bad files are InputError for ``--ca-file``, ``--cert-file`` or
    ``--key-file``."""
    given = [
        name
        for name, value in (
            ("--ca-file", ca_file),
            ("--cert-file", cert_file),
            ("--key-file", key_file),
        )
        if value is not None
    ]
    if not url.tls:
        if given:
            raise InputError(f"{given[0]} needs an mqtts:// broker, not {url}", field=given[0])
        return None
    _check_key_has_certificate(cert_file, key_file)
    import ssl  # noqa: PLC0415 - see the imports

    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise InputError(f"cannot load CA file {ca_file}: {error}", field="--ca-file") from None
    if cert_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as error:
            raise InputError(
                f"cannot load client certificate {cert_file}: {error}", field="--cert-file"
            ) from None
    return context
