"""The repository's outside face, read as data (there is no Docker engine here):
docker-compose.yml, the Dockerfile and .dockerignore, and queue/asyncapi.yaml against
docs/mqtt.md (the topics, messages, properties and bindings written out below from it).
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from samples import SERVER, SERVER_CN, SESSION_REC, STAMP
from typer.testing import CliRunner

from simulator.adapters.mqtt.packets import CONTENT_TYPE_BINARY, CONTENT_TYPE_JSON, FrameEncoder
from simulator.cli import app
from simulator.scenario.loader import load_scenario
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ASYNCAPI = REPO / "queue" / "asyncapi.yaml"
MOSQUITTO_CONF = REPO / "queue" / "mosquitto.conf"

BROKER_URL = "mqtt://mosquitto:1883"
STORE_URL = "postgresql://postgres@postgres:5432/billing"
TRUTH = "/shared/truth.json"
BILLSIM_SERVICES = ("billsim", "tail", "addin", "verify", "shared-volume")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    data = load_yaml(ASYNCAPI)
    assert isinstance(data, dict)
    return data


def help_text(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    # prometheus and grafana: tests/test_dashboard.py
    assert set(services) == {"mosquitto", "postgres", "prometheus", "grafana", *BILLSIM_SERVICES}


def depends_on(compose: dict[str, Any], name: str) -> dict[str, str]:
    """A service's dependencies: the name of each, and the condition it waits for."""
    needs = compose["services"][name].get("depends_on", {})
    return {other: spec["condition"] for other, spec in needs.items()}


def assert_options_exist(command: list[str]) -> None:
    """Every option a service's command uses is one its billsim command has."""
    text = help_text(command[0])
    for option in (word for word in command if word.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (command[0], option)


def test_compose_broker(compose: dict[str, Any]) -> None:
    broker = compose["services"]["mosquitto"]
    assert broker["image"] == "eclipse-mosquitto:2"
    mounts = [str(volume).split(":") for volume in broker["volumes"]]
    assert ["./queue/mosquitto.conf", "/mosquitto/config/mosquitto.conf", "ro"] in mounts
    assert MOSQUITTO_CONF.is_file()
    # Its listener is where the other services connect (mqtt://mosquitto:1883).
    assert re.search(r"^listener 1883 0\.0\.0\.0$", MOSQUITTO_CONF.read_text(), re.MULTILINE)
    # The host sees it on loopback only.
    assert broker["ports"] == ["127.0.0.1:${BILLSIM_MQTT_PORT:-1883}:1883"]
    test = broker["healthcheck"]["test"]
    assert test[:2] == ["CMD", "mosquitto_sub"]
    assert "$$SYS/broker/version" in test  # $$: a literal $ to compose


@pytest.mark.parametrize("name", BILLSIM_SERVICES)
def test_compose_billsim_services_build_the_image(compose: dict[str, Any], name: str) -> None:
    assert compose["services"][name]["build"] == "."
    assert DOCKERFILE.is_file()


@pytest.mark.parametrize("name", ["billsim", "tail", "addin"])
def test_compose_broker_clients_wait_for_a_healthy_broker(
    compose: dict[str, Any], name: str
) -> None:
    assert depends_on(compose, name)["mosquitto"] == "service_healthy"


def test_compose_postgres(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    environment = postgres["environment"]
    assert environment["POSTGRES_HOST_AUTH_METHOD"] == "trust"  # STORE_URL has no password
    assert environment["POSTGRES_DB"] == STORE_URL.rsplit("/", 1)[1]
    test = postgres["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    # Over TCP: the socket answers while the first initialisation still runs.
    assert test[test.index("-h") + 1] == "127.0.0.1"
    assert "ports" not in postgres  # the host's own PostgreSQL keeps 5432


def option_value(command: list[str], option: str) -> str:
    assert command.count(option) == 1, (command, option)
    return command[command.index(option) + 1]


def test_compose_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    run = services["billsim"]["command"]
    # The demo plays at its own speed (60x: 90 minutes in 90 seconds), as the README says.
    assert run[:2] == ["run", "lifecycle-demo"]
    assert "--speed" not in run
    assert load_scenario(REPO / "scenarios" / "lifecycle-demo.yaml").speed == "60x"
    assert option_value(run, "--broker") == BROKER_URL
    # tail follows run after run (it restarts with its container anyway).
    assert services["tail"]["command"] == ["tail", "--broker", BROKER_URL, "--follow"]
    addin = services["addin"]["command"]
    assert addin[0] == "addin"
    assert option_value(addin, "--broker") == BROKER_URL
    assert option_value(addin, "--store") == STORE_URL
    verify = services["verify"]["command"]
    assert verify[0] == "verify"
    # verify compares the bill in the add-in's store with the ground truth the run wrote.
    assert option_value(run, "--summary") == option_value(verify, "--expected") == TRUTH
    assert option_value(verify, "--actual") == STORE_URL
    for command in (run, services["tail"]["command"], addin, verify):
        assert_options_exist(command)


def test_compose_the_helper_catches_an_option_the_cli_lacks() -> None:
    with pytest.raises(AssertionError):
        assert_options_exist(["addin", "--until"])  # a prefix of --until-idle is no option


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def test_compose_the_add_in_outlasts_the_quiet_stretches_of_the_demo(
    compose: dict[str, Any],
) -> None:
    """The add-in ends once idle for --until-idle: that must be longer than the run's wait
    before its first frame (--start-after) and than the demo's longest gap between two
    frames at its speed, or the add-in would end before the run does."""
    services = compose["services"]
    until_idle = seconds(option_value(services["addin"]["command"], "--until-idle"))
    start_after = seconds(option_value(services["billsim"]["command"], "--start-after"))
    speed = load_scenario(REPO / "scenarios" / "lifecycle-demo.yaml").speed
    assert speed is not None and speed.endswith("x")
    golden = (REPO / "tests" / "golden" / "lifecycle-demo.jsonl").read_text().splitlines()
    stamps = sorted({datetime.fromisoformat(json.loads(line)["TimeStamp"][:19]) for line in golden})
    longest_gap = max(b - a for a, b in itertools.pairwise(stamps)).total_seconds()
    assert until_idle > start_after + 5  # and the few seconds a container takes to start
    assert until_idle > longest_gap / float(speed[:-1])


def test_compose_dependency_order(compose: dict[str, Any]) -> None:
    # The add-in stores into a PostgreSQL that answers.
    assert depends_on(compose, "addin")["postgres"] == "service_healthy"
    # The run starts once the add-in and tail are up, so both see its first frame, and
    # once the shared volume is the run's to write.
    run = depends_on(compose, "billsim")
    assert run["addin"] == run["tail"] == "service_started"
    assert run["shared-volume"] == "service_completed_successfully"
    # verify runs once: after the run wrote the ground truth and the add-in committed all.
    assert depends_on(compose, "verify") == {
        "billsim": "service_completed_successfully",
        "addin": "service_completed_successfully",
    }
    # The one-shot services are not restarted; the servers are.
    services = compose["services"]
    for name in ("billsim", "addin", "verify", "shared-volume"):
        assert services[name]["restart"] == "no", name
    for name in ("mosquitto", "postgres", "tail"):
        assert services[name]["restart"] == "unless-stopped", name


def test_compose_the_ground_truth_is_shared(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "shared" in compose["volumes"]
    truth_dir = TRUTH.rsplit("/", 1)[0]
    for name in ("billsim", "verify", "shared-volume"):
        mounts = [str(volume).split(":") for volume in services[name]["volumes"]]
        assert ["shared", truth_dir] in [mount[:2] for mount in mounts], name
    # The image runs as billsim; the volume is handed to it before the run writes there.
    owner = services["shared-volume"]
    assert owner["user"] == "root"
    assert owner["entrypoint"] == ["chown", "billsim", truth_dir]
    users = [args for name, args in dockerfile_instructions() if name == "USER"]
    assert users[-1] == "billsim"


# --- Dockerfile and .dockerignore ------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, args = stripped.partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def test_dockerfile_installs_the_package_and_runs_billsim() -> None:
    instructions = dockerfile_instructions()
    base = next(args for name, args in instructions if name == "FROM")
    match = re.fullmatch(r"python:3\.(\d+)-slim", base)
    assert match and int(match.group(1)) >= 11  # requires-python >= 3.11
    runs = [args for name, args in instructions if name == "RUN"]
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in runs)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "billsim" in pyproject["project"]["scripts"]
    entrypoint = [args for name, args in instructions if name == "ENTRYPOINT"]
    assert [json.loads(args) for args in entrypoint] == [["billsim"]]
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1] != "root"


def test_dockerfile_copies_what_the_wheel_needs() -> None:
    copied: set[str] = set()
    for name, args in dockerfile_instructions():
        if name == "COPY":
            *sources, _destination = shlex.split(args)
            copied.update(source.rstrip("/") for source in sources)
    # The package, its metadata, and what pyproject.toml force-includes into the wheel.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    included = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    needed = {"pyproject.toml", pyproject["project"]["readme"], "simulator", *included}
    assert needed <= copied
    for source in copied:
        assert (REPO / source).exists(), source
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "!"))
    }
    assert not (copied & ignored)
    assert {".git", ".venv", "**/__pycache__"} <= ignored


# --- queue/asyncapi.yaml against docs/mqtt.md ----------------------------------------------------

# Every topic of docs/mqtt.md, in the document's {parameter} form.
TOPICS = {
    "domino/billing/{server}/{class}",
    "domino/billing/{server}/custom/{structtype}",
    "domino/billing/{server}/{class}/{run}/{seq}",
    "domino/billing/{server}/custom/{structtype}/{run}/{seq}",
    "domino/billing/{server}/status",
    "domino/billing/{server}/stats",
    "domino/billing/{server}/control",
    "domino/billing/{server}/control/reply",
}
STATS_KEYS = {
    "virtual_time",
    "records",
    "queue_depth",
    "in_flight",
    "delivered",
    "dropped",
    "rate",
    "target_rate",
    "run",
}
COMMANDS = {"pause", "resume", "speed", "set", "stats", "quit"}


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow local $refs (`#/a/b/c`) until a node that is not one."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def channel_by_address(doc: dict[str, Any], address: str) -> dict[str, Any]:
    found = [ch for ch in doc["channels"].values() if ch["address"] == address]
    assert len(found) == 1, address
    result: dict[str, Any] = found[0]
    return result


def messages_of(doc: dict[str, Any], address: str) -> dict[str, dict[str, Any]]:
    channel = channel_by_address(doc, address)
    return {name: resolve(doc, ref) for name, ref in channel["messages"].items()}


def operation_for(doc: dict[str, Any], address: str) -> dict[str, Any]:
    for operation in doc["operations"].values():
        if resolve(doc, operation["channel"])["address"] == address:
            result: dict[str, Any] = operation
            return result
    raise AssertionError(f"no operation on {address}")


def test_asyncapi_version_and_topics(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert {ch["address"] for ch in asyncapi["channels"].values()} == TOPICS
    for address in (
        "domino/billing/{server}/{class}",
        "domino/billing/{server}/{class}/{run}/{seq}",
    ):
        frames = channel_by_address(asyncapi, address)
        assert set(frames["parameters"]["class"]["enum"]) == set(c.CLASS_TOPIC_NAME.values())
    for channel in asyncapi["channels"].values():
        declared = set(channel.get("parameters", {}))
        assert declared == set(re.findall(r"\{(\w+)\}", channel["address"])), channel["address"]


def test_asyncapi_frames(asyncapi: dict[str, Any]) -> None:
    for address in (
        "domino/billing/{server}/{class}",
        "domino/billing/{server}/custom/{structtype}",
        "domino/billing/{server}/{class}/{run}/{seq}",
        "domino/billing/{server}/custom/{structtype}/{run}/{seq}",
    ):
        messages = messages_of(asyncapi, address)
        content_types = {m["contentType"] for m in messages.values()}
        assert content_types == {CONTENT_TYPE_BINARY, CONTENT_TYPE_JSON}
        for message in messages.values():
            traits = [resolve(asyncapi, t) for t in message["traits"]]
            headers = resolve(asyncapi, traits[0]["headers"])
            assert set(headers["required"]) == {"seq", "run", "structtype", "sent"}
            assert set(headers["properties"]) == set(headers["required"])
        operation = operation_for(asyncapi, address)
        assert operation["action"] == "send"
        assert operation["bindings"]["mqtt"]["qos"] == 1
        assert operation["bindings"]["mqtt"]["retain"] is False
    binary = asyncapi["components"]["messages"]["frameBinary"]
    assert binary["payload"]["maxLength"] == c.MQ_MAX_MSGSIZE
    schema = asyncapi["components"]["schemas"]["frameJson"]
    assert set(schema["required"]) >= {"Len", "StructType", "Class", "ServerName", "TimeStamp"}
    assert {"rec", "seq"} <= set(schema["properties"])


def user_properties(properties_field: bytes) -> dict[str, str]:
    """The user properties of a PUBLISH properties field (one-byte length, content type
    and user properties only: what FrameEncoder writes)."""
    assert properties_field[0] < 0x80
    data, at, found = properties_field[1:], 0, {}

    def text() -> str:
        nonlocal at
        size = int.from_bytes(data[at : at + 2], "big")
        at += 2 + size
        return data[at - size : at].decode()

    while at < len(data):
        identifier = data[at]
        at += 1
        if identifier == 0x03:
            text()
        else:
            assert identifier == 0x26
            name = text()
            found[name] = text()
    return found


def publish_fields(
    encoder: FrameEncoder, item: tuple[int, bytes], sent: int
) -> tuple[bytes, bytes]:
    """The topic field and the properties field (properties of less than 128 bytes) of
    the QoS 0 PUBLISH the drain writes for a frame."""
    packet, rejected = encoder.packets([item], None, sent)
    assert not rejected
    at = 1
    while packet[at] >= 0x80:  # the remaining length
        at += 1
    topic_end = at + 3 + int.from_bytes(packet[at + 1 : at + 3], "big")
    assert packet[topic_end] < 0x80
    return packet[at + 1 : topic_end], packet[topic_end : topic_end + 1 + packet[topic_end]]


def test_asyncapi_frame_properties_are_those_the_drain_writes(asyncapi: dict[str, Any]) -> None:
    headers = asyncapi["components"]["schemas"]["frameUserProperties"]
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    encoder = FrameEncoder(SERVER_CN, "3f9c1a2b4d5e", None, properties=True)
    _topic, properties_field = publish_fields(encoder, (7, frame), 1_795_251_600_123_456)
    written = user_properties(properties_field)
    assert written == {
        "seq": "7",
        "run": "3f9c1a2b4d5e",
        "structtype": str(c.BILL_SESSIONREC),
        "sent": "1795251600123456",
    }
    (example,) = asyncapi["components"]["messages"]["frameJson"]["examples"]
    for sample in (written, example["headers"]):
        assert set(sample) == set(headers["properties"])
        for name, value in sample.items():
            pattern = headers["properties"][name].get("pattern", ".")
            assert re.search(pattern, value), (name, value)


# Struct type -> the schema of its record in queue/asyncapi.yaml.
RECORD_SCHEMAS = {
    c.BILL_SESSIONREC: "sessionRec",
    c.BILL_DBREC: "dbRec",
    c.BILL_REPLREC: "replRec",
    c.BILL_DOCCHARGE: "documentRec",
    c.BILL_MAILREC: "mailRec",
    c.BILL_AGENTREC: "agentRec",
    c.BILL_HTTPREQREC: "httpReqRec",
}


def test_asyncapi_json_form_names_the_fields_the_decoder_writes(asyncapi: dict[str, Any]) -> None:
    """Each golden JSON line's keys are declared by its record's schema, and each schema's
    required keys are in every such line; the struct type picks the schema."""
    schemas = asyncapi["components"]["schemas"]
    rules = {
        rule["if"]["properties"]["StructType"].get("const"): resolve(
            asyncapi, rule["then"]["properties"]["rec"]
        )
        for rule in schemas["frameJson"]["allOf"]
    }
    for struct_type, name in RECORD_SCHEMAS.items():
        assert rules[struct_type] is schemas[name]
    seen = set()
    for path in sorted((REPO / "tests" / "golden").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            assert set(obj) <= set(schemas["frameJson"]["properties"]), path
            kind = RECORD_SCHEMAS.get(obj["StructType"])
            if kind is None:
                continue
            seen.add(kind)
            schema = schemas[kind]
            assert set(obj["rec"]) <= set(schema["properties"]), (path, kind)
            assert set(schema["required"]) <= set(obj["rec"]), (path, kind)
    assert seen == set(RECORD_SCHEMAS.values())


def test_asyncapi_status(asyncapi: dict[str, Any]) -> None:
    address = "domino/billing/{server}/status"
    (status,) = messages_of(asyncapi, address).values()
    assert status["payload"]["enum"] == ["online", "offline"]
    assert status["contentType"] == "text/plain"
    bindings = operation_for(asyncapi, address)["bindings"]["mqtt"]
    assert (bindings["qos"], bindings["retain"]) == (1, True)
    description = " ".join(channel_by_address(asyncapi, address)["description"].split())
    assert "as the last will" in description


def test_asyncapi_stats(asyncapi: dict[str, Any]) -> None:
    (stats,) = messages_of(asyncapi, "domino/billing/{server}/stats").values()
    schema = resolve(asyncapi, stats["payload"])
    assert set(schema["required"]) == STATS_KEYS
    assert set(schema["properties"]) == STATS_KEYS
    assert stats["contentType"] == CONTENT_TYPE_JSON
    assert stats["examples"], "the stats message shows no example"
    for example in stats["examples"]:
        assert set(example["payload"]) == STATS_KEYS


def test_asyncapi_control_and_reply(asyncapi: dict[str, Any]) -> None:
    messages = messages_of(asyncapi, "domino/billing/{server}/control")
    commands = {}
    for message in messages.values():
        schema = resolve(asyncapi, message["payload"])
        commands[schema["properties"]["cmd"]["const"]] = schema
        traits = [resolve(asyncapi, t) for t in message["traits"]]
        mqtt = traits[0]["bindings"]["mqtt"]
        assert {"responseTopic", "correlationData"} <= set(mqtt)
    assert set(commands) == COMMANDS
    assert set(commands["speed"]["required"]) == {"cmd", "value"}
    assert set(commands["set"]["required"]) == {"cmd", "name", "value"}
    assert re.fullmatch(commands["speed"]["properties"]["value"]["pattern"], "60x")
    for name in ("pause", "resume", "stats", "quit"):
        assert commands[name]["required"] == ["cmd"]

    operation = operation_for(asyncapi, "domino/billing/{server}/control")
    assert operation["action"] == "receive"
    reply = operation["reply"]
    assert resolve(asyncapi, reply["channel"])["address"] == (
        "domino/billing/{server}/control/reply"
    )
    assert "Response Topic" in reply["address"]["description"]
    (answer,) = messages_of(asyncapi, "domino/billing/{server}/control/reply").values()
    schema = resolve(asyncapi, answer["payload"])
    assert {"ok", "error"} <= set(schema["properties"])
    assert "correlationData" in answer["bindings"]["mqtt"]
    assert resolve(asyncapi, answer["correlationId"])["location"].endswith("correlationData")


def test_asyncapi_topic_meta_addresses_are_those_the_drain_writes(
    asyncapi: dict[str, Any],
) -> None:
    """`--topic-meta`: the topic the drain writes is the framesWithMeta address with its
    parameters filled in, the run and seq those of the user properties."""
    frame = FrameCodec().encode_record(SESSION_REC, SERVER, STAMP)
    encoder = FrameEncoder(SERVER_CN, "3f9c1a2b4d5e", None, properties=True, topic_meta=True)
    topic_field, properties_field = publish_fields(encoder, (7, frame), 1_795_251_600_123_456)
    topic = topic_field[2:].decode()
    assert int.from_bytes(topic_field[:2], "big") == len(topic)
    address = channel_by_address(asyncapi, "domino/billing/{server}/{class}/{run}/{seq}")["address"]
    written = user_properties(properties_field)
    assert topic == address.format(
        server=SERVER_CN, **{"class": "session"}, run=written["run"], seq=written["seq"]
    )
