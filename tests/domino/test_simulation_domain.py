"""A Simulation as one server of a domain: its name, its own users, the script on the first."""

from __future__ import annotations

from simulator.domino.billing import SequencedFrame
from simulator.domino.domain import Domain, domain_servers
from simulator.domino.simulation import RunOptions, Simulation
from simulator.scenario.loader import load_scenario_text
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder

SCENARIO = """\
name: domain
seed: 4
start: "2026-11-21T09:00:00Z"
duration: 20m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session"}
users:
  alice: {name: "CN=Alice Smith/O=Acme", address: "10.9.9.9"}
script:
  - {at: 1m, user: alice, action: transfer}
workload: {users: 40, think_time: 1m, session_length: 5m, arrival: 2m, servers: 3}
"""
SERVERS = domain_servers("CN=Mail01/O=Acme", 3)


def usernames(domain: Domain | None) -> tuple[str, set[str]]:
    """The server name a run's records carry, and the users they name."""
    scenario = load_scenario_text(SCENARIO, "<domain>")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(), domain=domain)
    frames: list[SequencedFrame] = []
    sim.writer.put = frames.append
    while sim.step():
        pass
    decode = JsonDecoder(FrameCodec())
    objs = [decode(frame, 0, seq) for seq, frame in frames]
    (server,) = {obj["ServerName"] for obj in objs}
    return server, {obj["rec"]["Username"] for obj in objs}


def test_each_server_of_a_domain_generates_only_the_users_homed_on_it() -> None:
    runs = [usernames(Domain(SERVERS, index)) for index in range(3)]
    assert [server for server, _ in runs] == list(SERVERS)
    everyone: set[str] = set()
    for index, (_, names) in enumerate(runs):
        generated = {name for name in names if name.startswith("CN=User ")}
        numbers = [int(name.removeprefix("CN=User ").partition("/")[0]) for name in generated]
        assert numbers and all(Domain(SERVERS).home_of(n - 1) == index for n in numbers)
        assert not everyone & generated
        everyone |= generated
    assert len(everyone) == 40


def test_the_script_runs_on_the_domains_first_server_only() -> None:
    assert "CN=Alice Smith/O=Acme" in usernames(Domain(SERVERS, 0))[1]
    assert "CN=Alice Smith/O=Acme" not in usernames(Domain(SERVERS, 1))[1]


def test_without_a_domain_one_server_runs_everyone_under_the_scenarios_name() -> None:
    server, names = usernames(None)
    assert server == "CN=Mail01/O=Acme"
    assert len({name for name in names if name.startswith("CN=User ")}) == 40
