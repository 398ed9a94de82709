"""A domain's server names and the stable home of each user."""

from __future__ import annotations

from collections import Counter

from simulator.domino.domain import Domain, domain_servers


def test_servers_are_numbered_after_the_scenarios_server() -> None:
    assert domain_servers("CN=Mail01/O=Acme", 1) == ("CN=Mail01/O=Acme",)
    assert domain_servers("CN=Mail01/O=Acme", 3) == (
        "CN=Mail01/O=Acme",
        "CN=Mail02/O=Acme",
        "CN=Mail03/O=Acme",
    )
    assert domain_servers("CN=Hub/OU=East/O=Acme", 2)[1] == "CN=Hub02/OU=East/O=Acme"


def test_every_user_has_one_home_the_same_in_every_process() -> None:
    servers = domain_servers("CN=Mail01/O=Acme", 3)
    processes = [Domain(servers, index) for index in range(3)]
    for user in range(3000):
        homes = [process.is_home(user) for process in processes]
        assert homes.count(True) == 1
        assert processes[0].home_of(user) == processes[2].home_of(user)


def test_users_spread_evenly_over_the_servers() -> None:
    domain = Domain(domain_servers("CN=Mail01/O=Acme", 4))
    counts = Counter(domain.home_of(user) for user in range(40_000))
    assert all(abs(count - 10_000) < 400 for count in counts.values())


def test_one_server_is_home_to_everyone() -> None:
    domain = Domain.single("CN=Mail01/O=Acme")
    assert domain.server == "CN=Mail01/O=Acme" and all(domain.is_home(u) for u in range(100))
