"""Generated mail and web traffic (docs/workload.md, Mail and Web): the records, the calendar,
the domain's two views of a message, determinism, and the statistics within 3 %.

Runs are stepped with a capturing writer and decoded, so every assertion is about the
frames a consumer would get. Scenarios start on Monday 2026-11-23 at midnight UTC.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter
from samples import SERVER

from simulator.addin.bill import bill
from simulator.addin.rows import RowMaker
from simulator.addin.store import Received
from simulator.commands.summary import build_summary
from simulator.domino.domain import Domain, domain_servers
from simulator.domino.simulation import RunOptions, Simulation
from simulator.domino.streams import chance, stream_key
from simulator.domino.tasks import common_log_time
from simulator.domino.traffic import (
    DELIVERY_DELAY_US,
    GENERIC_WEB_DATABASE,
    CommonLogClock,
    OriginatorIds,
    fast_draw,
    positional,
)
from simulator.scenario.distributions import NOTESBENCH, NOTESBENCH_SIZES, Discrete, poisson
from simulator.scenario.loader import load_scenario_text
from simulator.scenario.values import Recipient
from simulator.verify.checker import check_frames
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Layout
from simulator.wire.records import Frame, HttpReqRec, MailRec
from simulator.wire.timedate import TimeDate

RELAY = "CN=Relay01/O=Acme"
START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
SECOND = 1_000_000
DAY = 86_400 * SECOND
ALL_CLASSES = "Session,Database,Document,Mail,Replication,Agent,HttpRequest"
USER_NAME = re.compile(
    r"^CN=(?:User |Generated Recipient With A Long Name )(\d+)/(?:OU=Department/)?O=Acme$"
)
EXTERNAL_NAME = re.compile(r"^contact(\d+)@example\.com$")


def scenario_text(
    workload: str,
    *,
    users: int = 50,
    active: float = 1.0,
    duration: str = "1d",
    classes: str = "Mail,HttpRequest",
    seed: int = 5,
    start: str = "2026-11-23T00:00:00Z",
    head: str = "",
) -> str:
    # Sessions are few and long: the traffic is what these runs are about.
    return f"""\
name: traffic
seed: {seed}
start: "{start}"
duration: {duration}
server: {SERVER}
notes_ini: {{BillingClass: "{classes}"}}
{head}workload:
  users: {users}
  active: {active}
  think_time: 20h
  session_length: 30h
{workload}
"""


def simulate(
    text: str, *, domain: Domain | None = None, layout: Layout = Layout.LINUX_X86_64
) -> tuple[Simulation, list[Frame], list[bytes]]:
    """A stepped run: the simulation after it, its frames decoded, and their bytes."""
    scenario = load_scenario_text(text, "t.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(layout=layout), domain=domain)
    raw: list[bytes] = []
    sim.writer.put = lambda item: raw.append(item[1])
    while sim.step():
        pass
    return sim, [sim.codec.decode(data) for data in raw], raw


class Mail(NamedTuple):
    """A MAILREC frame, typed."""

    TimeStamp: TimeDate
    ServerName: str
    rec: MailRec


class Web(NamedTuple):
    """An HTTPREQREC frame, typed."""

    TimeStamp: TimeDate
    ServerName: str
    rec: HttpReqRec


def mails(frames: Iterable[Frame]) -> list[Mail]:
    return [Mail(f.TimeStamp, f.ServerName, f.rec) for f in frames if isinstance(f.rec, MailRec)]


def webs(frames: Iterable[Frame]) -> list[Web]:
    return [Web(f.TimeStamp, f.ServerName, f.rec) for f in frames if isinstance(f.rec, HttpReqRec)]


def virtual_us(stamp: TimeDate) -> int:
    """A GMT TIMEDATE as virtual µs since START (to the hundredth)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        days=stamp.day_zone - 2_440_588, microseconds=stamp.ticks * 10_000
    )
    return (moment - START) // timedelta(microseconds=1)


def user_index(name: str) -> int:
    match = USER_NAME.match(name)
    assert match, name
    return int(match[1]) - 1


def is_active(seed: int, user: int, day: int, active: float) -> bool:
    return chance(stream_key(seed, "active"), user, day) < active


def assert_close(measured: float, expected: float, what: str) -> None:
    """Within 3 % of the configured value."""
    assert abs(measured - expected) <= 0.03 * expected, f"{what}: {measured} vs {expected}"


def assert_share(measured: float, expected: float, what: str) -> None:
    """A share within 3 % of itself, or of 10 % for rarer ones (0.5 % of a sample is too few
    to hold to 3 % of itself)."""
    assert abs(measured - expected) <= 0.03 * max(expected, 0.1), (
        f"{what}: {measured} vs {expected}"
    )


def at_least_one_mean(mean: float) -> float:
    """The exact mean of max(1, Poisson(mean)): a message has at least one recipient."""
    return poisson(mean).mean + math.exp(-mean)


# --- mail --------------------------------------------------------------------------------------


MAIL = "  mail: {per_day: 6, recipients: {poisson: {mean: 2}}, size: notesbench, external: 0.2}"


def test_mail_records_are_those_of_the_scripted_action() -> None:
    sim, frames, _ = simulate(scenario_text(MAIL))
    sent = mails(frames)
    assert len(sent) > 100
    external = local = 0
    for frame in sent:
        rec: MailRec = frame.rec
        sender = user_index(rec.Originator)
        assert rec.FormType == "Memo"
        assert (rec.Priority, rec.RoutingState, rec.Report) == (1, 0, 0)  # normal, pending, none
        assert rec.PostedDate == frame.TimeStamp  # routed as it is posted
        assert rec.OriginatorID.Sequence == 1 and rec.OriginatorID.SequenceTime == rec.PostedDate
        assert rec.OrigMessageID.File == TimeDate(0, 0)
        assert rec.RecipientCount == len(rec.Recipients) >= 1
        assert len(set(rec.Recipients)) == len(rec.Recipients)  # distinct
        assert rec.MessageSize in {size for size, _ in NOTESBENCH_SIZES}
        if rec.HopName == RELAY:
            external += 1
            for name in rec.Recipients:
                assert EXTERNAL_NAME.match(name)
                assert TypeAdapter(Recipient).validate_python(name) == name  # the name rules
        else:
            local += 1
            assert rec.HopName == SERVER  # delivered here
            recipients = [user_index(name) for name in rec.Recipients]
            assert sender not in recipients
            assert all(0 <= r < 50 for r in recipients)
    assert external and local
    oids = [(f.rec.OriginatorID.File, f.rec.OriginatorID.Note) for f in sent]
    assert len(set(oids)) == len(oids)  # one per message
    assert sim.traffic is not None and sim.traffic.mail is not None
    assert sim.traffic.mail.messages == len(sent)


def test_a_message_is_billed_to_its_originator_once() -> None:
    sim, frames, _ = simulate(scenario_text(MAIL))
    expected: Counter[str] = Counter()
    expected_bytes: Counter[str] = Counter()
    for frame in mails(frames):
        expected[frame.rec.Originator] += 1
        expected_bytes[frame.rec.Originator] += frame.rec.MessageSize
    users = sim.server.ledger.as_dict()
    assert {name: totals["mail"] for name, totals in users.items() if totals["mail"]} == expected
    assert {name: users[name]["mail_bytes"] for name in expected} == expected_bytes


def test_mail_follows_the_calendar_and_the_active_rule() -> None:
    calendar = (
        "  calendar: {timezone: Europe/Berlin, days: [mon, tue, wed, thu, fri],\n"
        "             curve: [['08:00', 1], ['12:00', 0.2], ['13:00', 1], ['18:00', 0]]}\n"
    )
    # From Wednesday noon UTC for 10 days: a part day, a weekend, and whole weeks.
    text = scenario_text(
        calendar + MAIL, users=40, active=0.5, duration="10d", start="2026-11-25T12:00:00Z"
    )
    _, frames, _ = simulate(text)
    start = datetime(2026, 11, 25, 12, tzinfo=UTC)
    zone = ZoneInfo("Europe/Berlin")
    seen_days: set[tuple[int, int]] = set()
    for frame in mails(frames):
        posted = START + timedelta(microseconds=virtual_us(frame.rec.PostedDate))
        assert posted >= start
        local = posted.astimezone(zone)
        assert local.weekday() < 5 and 8 <= local.hour < 18
        day = (local.date() - start.astimezone(zone).date()).days
        seen_days.add((user_index(frame.rec.Originator), day))
    assert seen_days
    assert all(is_active(5, user, day, 0.5) for user, day in seen_days)


def test_mail_statistics_are_those_configured() -> None:
    # 400 users, 60 % active, 7 days of 30 messages: ~50,000 messages.
    spec = (
        "  mail: {per_day: 30, recipients: {poisson: {mean: 3}}, size: notesbench, external: 0.25}"
    )
    _, frames, _ = simulate(scenario_text(spec, users=400, active=0.6, duration="7d"))
    records = [mail.rec for mail in mails(frames)]
    active_days = sum(is_active(5, u, d, 0.6) for u in range(400) for d in range(7))
    assert_close(len(records) / active_days, 30, "messages per active user-day")
    assert_close(
        sum(rec.RecipientCount for rec in records) / len(records),
        at_least_one_mean(3),
        "recipients per message",
    )
    sizes = Counter(rec.MessageSize for rec in records)
    for size, share in NOTESBENCH_SIZES:
        assert_share(sizes[size] / len(records), share, f"share of {size}-byte messages")
    external = sum(rec.HopName == RELAY for rec in records)
    assert_share(external / len(records), 0.25, "external share")


@pytest.mark.parametrize("layout", list(Layout))
def test_a_long_recipient_list_is_cut_to_fit_a_frame(layout: Layout) -> None:
    name = "CN=Generated Recipient With A Long Name {n:06d}/OU=Department/O=Acme"
    spec = f'  name: "{name}"\n  mail: {{per_day: 0.01, recipients: 2000}}'
    sim, frames, raw = simulate(scenario_text(spec, users=3000), layout=layout)
    sent = mails(frames)
    assert sent
    assert all(len(data) <= c.MQ_MAX_MSGSIZE for data in raw)
    # 2000 names of 64 bytes and a comma would need 130,000 bytes: cut near 64 KB.
    for frame in sent:
        assert 900 < frame.rec.RecipientCount < 2000
        assert len(",".join(frame.rec.Recipients)) > c.MQ_MAX_MSGSIZE - 1000 - 66
    assert sim.traffic is not None and sim.traffic.recipients_cut == len(sent)
    assert build_summary(sim, wall_time=1.0)["mail_recipients_cut"] == len(sent)


def test_the_only_user_writes_a_note_to_self() -> None:
    _, frames, _ = simulate(scenario_text("  mail: {per_day: 5}", users=1))
    sent = mails(frames)
    assert sent
    assert all(f.rec.Recipients == ("CN=User 1/O=Acme",) for f in sent)


# --- a domain: the two servers' views of one message ---------------------------------------


LONG_NAMES = '  name: "CN=Generated Recipient With A Long Name {n:06d}/OU=Department/O=Acme"\n'


@pytest.mark.parametrize(
    ("spec", "users"),
    [
        (MAIL + "\n  http: {share: 0.3, visits_per_day: 2, per_visit: 3}", 120),
        # Recipient lists cut to fit a frame: each server reads the same cut.
        (LONG_NAMES + "  mail: {per_day: 0.02, recipients: 2000, external: 0.1}", 3000),
    ],
)
def test_a_domain_writes_each_message_once_per_server_it_touches(spec: str, users: int) -> None:
    servers = domain_servers(SERVER, 2)
    text = scenario_text(spec, users=users, duration="2d")
    runs = [simulate(text, domain=Domain(servers, index)) for index in range(2)]
    domain = Domain(servers)
    by_message: dict[tuple[TimeDate, TimeDate], list[tuple[int, Mail]]] = defaultdict(list)
    for index, (_, frames, _) in enumerate(runs):
        for frame in mails(frames):
            assert frame.ServerName == servers[index]
            oid = frame.rec.OriginatorID
            by_message[(oid.File, oid.Note)].append((index, frame))
        for request in webs(frames):  # web users are served by their home
            if request.rec.AuthUser is not None:
                assert domain.home_of(user_index(request.rec.AuthUser)) == index
    crossing = 0
    for records in by_message.values():
        sender = user_index(records[0][1].rec.Originator)
        home = domain.home_of(sender)
        sent = [frame for index, frame in records if index == home]
        delivered = [frame for index, frame in records if index != home]
        assert sent, "the sender's server routes every message"
        posted = sent[0].rec.PostedDate
        assert all(f.TimeStamp == posted and f.rec.PostedDate == posted for f in sent)
        hops = {frame.rec.HopName: frame.rec.Recipients for frame in sent}
        assert len(hops) == len(sent)  # one record per next hop
        if RELAY in hops:
            assert len(sent) == 1 and not delivered
            continue
        for hop, recipients in hops.items():
            hop_index = servers.index(hop)
            assert all(domain.home_of(user_index(name)) == hop_index for name in recipients)
        other = 1 - home
        if servers[other] in hops:
            crossing += 1
            (arrived,) = delivered
            assert arrived.rec.HopName == servers[other]  # delivered on the recipient's server
            assert arrived.rec.Recipients == hops[servers[other]]
            assert (
                arrived.rec.PostedDate == posted
                and arrived.rec.Originator == sent[0].rec.Originator
            )
            assert virtual_us(arrived.TimeStamp) == virtual_us(posted) + DELIVERY_DELAY_US
        else:
            assert not delivered
    assert crossing > 20
    cut = sum(sim.traffic.recipients_cut for sim, _, _ in runs if sim.traffic is not None)
    assert (cut > 0) is ("2000" in spec)

    # The summed summaries bill each message once, to its sender; so does the bill.
    messages: Counter[str] = Counter()
    for records in by_message.values():
        messages[records[0][1].rec.Originator] += 1
    summed: Counter[str] = Counter()
    for sim, _, _ in runs:
        for name, totals in sim.server.ledger.as_dict().items():
            summed[name] += int(totals["mail"])
    assert +summed == messages
    codec = FrameCodec()
    maker = RowMaker(JsonDecoder(codec))
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for index, (_, _, raw) in enumerate(runs):
        for seq, data in enumerate(raw, 1):
            table, row = maker.row(
                Received(servers[index], f"run-{index}", seq, "t", data, None, 0)
            )
            tables[table.name].append(dict(zip(table.column_names, row, strict=True)))
    billed = bill(tables)
    assert {name: int(totals["mail"]) for name, totals in billed.items() if totals["mail"]} == (
        messages
    )


# --- determinism ---------------------------------------------------------------------------

TRAFFIC = MAIL + "\n  http: {share: 0.4, visits_per_day: 3, per_visit: 4, anonymous: 0.3}"


def test_a_seed_gives_the_same_bytes() -> None:
    _, _, first = simulate(scenario_text(TRAFFIC))
    _, _, again = simulate(scenario_text(TRAFFIC))
    _, _, other = simulate(scenario_text(TRAFFIC, seed=6))
    assert first == again
    assert first != other


def test_one_users_draws_do_not_move_anothers() -> None:
    text = scenario_text(MAIL + "\n  http: {share: 1, visits_per_day: 3, per_visit: 4}", users=30)

    def frames_of(shift_user: int | None) -> list[Frame]:
        scenario = load_scenario_text(text, "t.yaml")
        sim = Simulation(scenario, scenario.settings_with(), RunOptions(), generate=False)
        assert sim.traffic is not None and sim.traffic.mail and sim.traffic.web
        if shift_user is not None:  # user 7 draws once more before it starts
            sim.traffic.mail._uniform(shift_user)
            sim.traffic.web._uniform(shift_user)
        sim.traffic.start()
        raw: list[bytes] = []
        sim.writer.put = lambda item: raw.append(item[1])
        while sim.step():
            pass
        return [sim.codec.decode(data) for data in raw]

    def split(frames: list[Frame]) -> tuple[list[Frame], list[Frame]]:
        seven = "CN=User 8/O=Acme"  # user 7, from 0
        mine = [
            f
            for f in frames
            if (isinstance(f.rec, MailRec) and f.rec.Originator == seven)
            or (isinstance(f.rec, HttpReqRec) and f.rec.AuthUser == seven)
        ]
        return mine, [f for f in frames if f not in mine]

    mine, others = split(frames_of(None))
    mine_shifted, others_shifted = split(frames_of(7))
    assert mine and mine != mine_shifted
    assert others == others_shifted


# --- web ---------------------------------------------------------------------------------------

WEB = (
    "  http: {share: 0.3, visits_per_day: 8, per_visit: {poisson: {mean: 4}}, anonymous: 0.25,\n"
    "         think: {exponential: {mean: 20s}},\n"
    "         mix: {view: 0.4, open: 0.3, save: 0.1, search: 0.1, agent: 0.05, static: 0.05},\n"
    "         status: {200: 0.9, 304: 0.05, 404: 0.04, 500: 0.01}}"
)
KIND_OF_REQUEST = (
    ("static", re.compile(r"^GET /icons/\w+\.gif HTTP/1\.1$")),
    ("view", re.compile(r"^GET /[\w/.]+\.nsf/\w+\?OpenView HTTP/1\.1$")),
    ("open", re.compile(r"^GET /[\w/.]+\.nsf/0/[0-9A-F]+\?OpenDocument HTTP/1\.1$")),
    ("save", re.compile(r"^POST /[\w/.]+\.nsf/0/[0-9A-F]+\?SaveDocument HTTP/1\.1$")),
    ("search", re.compile(r"^GET /[\w/.]+\.nsf/\w+\?SearchView&Query=\w+ HTTP/1\.1$")),
    ("agent", re.compile(r"^GET /[\w/.]+\.nsf/\w+\?OpenAgent HTTP/1\.1$")),
)


def kind_of(request: str | None) -> str:
    assert request is not None
    for kind, pattern in KIND_OF_REQUEST:
        if pattern.match(request):
            return kind
    raise AssertionError(f"not a Domino URL of any kind: {request!r}")


def test_web_records_are_those_of_the_scripted_action() -> None:
    head = 'server_address: "10.9.9.9"\n'
    sim, frames, _ = simulate(scenario_text(WEB, users=60, head=head))
    requests = webs(frames)
    assert len(requests) > 500
    anonymous = 0
    for frame in requests:
        rec = frame.rec
        line, partner = str(rec.RequestLine), str(rec.Partner)
        assert GENERIC_WEB_DATABASE in line or kind_of(line) == "static"
        assert rec.ServerAddr == "10.9.9.9" and rec.UserAgent == "Mozilla/5.0"
        assert rec.Referer is None
        # The request began time_ms before the record (whose stamp is cut to hundredths).
        ended = START + timedelta(microseconds=virtual_us(frame.TimeStamp))
        began = ended - timedelta(milliseconds=rec.HttpReqTimeMs)
        assert rec.TimeStamp in {
            common_log_time(began),
            common_log_time(began + timedelta(milliseconds=10)),
        }
        if rec.HttpStatusCode == 304:
            assert rec.HttpContentLength == 0 and rec.ContentType is None
        else:
            image = line.startswith("GET /icons/")
            assert rec.ContentType == ("image/gif" if image else "text/html; charset=UTF-8")
        if rec.AuthUser is None:
            anonymous += 1
            assert re.match(r"^198\.18\.\d+\.\d+$", partner)
        else:
            n = user_index(rec.AuthUser) + 1
            assert rec.Partner == f"10.0.0.{n}"
    assert 0 < anonymous < len(requests)
    ledger = sim.server.ledger.as_dict()
    billed = Counter(f.rec.AuthUser or "Anonymous" for f in requests)
    assert {name: t["web"] for name, t in ledger.items() if t["web"]} == billed


def test_web_requests_name_the_workloads_databases() -> None:
    head = 'databases:\n  apps/orders.nsf: {replica_id: "85258A3B:0052C1F1"}\n  mail/: {}\n'
    spec = "  http: {share: 1, visits_per_day: 5, mix: {view: 1}}"
    _, frames, _ = simulate(scenario_text(spec, users=10, head=head))
    paths = {
        str(w.rec.RequestLine).split(" ")[1].split("?")[0].rsplit("/", 1)[0] for w in webs(frames)
    }
    assert paths == {"/apps/orders.nsf"}  # the scenario's database, never its directory
    generated = (
        "  databases: {count: 50, popularity: {zipf: 1.2}}\n"
        "  http: {share: 1, visits_per_day: 20, mix: {open: 1}}"
    )
    _, frames, _ = simulate(scenario_text(generated, users=20))
    popular = Counter(str(w.rec.RequestLine).split(" ")[1].split("/0/")[0] for w in webs(frames))
    assert set(popular) <= {f"/apps/app{n:04d}.nsf" for n in range(1, 51)}
    assert popular.most_common(1)[0][0] == "/apps/app0001.nsf"  # rank 1 is the most popular


def test_web_statistics_are_those_configured() -> None:
    sim, frames, _ = simulate(scenario_text(WEB, users=2000, active=0.5, duration="7d"))
    assert sim.traffic is not None and sim.traffic.web is not None
    web = sim.traffic.web
    web_users = [u for u in range(2000) if web.is_web_user(u)]
    requests = [frame.rec for frame in webs(frames)]
    signed_in = {user_index(rec.AuthUser) for rec in requests if rec.AuthUser is not None}
    assert signed_in <= set(web_users)
    active_days = sum(is_active(5, u, d, 0.5) for u in web_users for d in range(7))
    assert_close(web.visits / active_days, 8, "visits per active web-user-day")
    assert_close(len(requests) / web.visits, at_least_one_mean(4), "requests per visit")
    kinds = Counter(kind_of(rec.RequestLine) for rec in requests)
    mix = {"view": 0.4, "open": 0.3, "save": 0.1, "search": 0.1, "agent": 0.05, "static": 0.05}
    for kind, share in mix.items():
        assert_share(kinds[kind] / len(requests), share, f"share of {kind} requests")
    statuses = Counter(rec.HttpStatusCode for rec in requests)
    for status, share in {200: 0.9, 304: 0.05, 404: 0.04, 500: 0.01}.items():
        assert_share(statuses[status] / len(requests), share, f"share of status {status}")
    anonymous = sum(rec.AuthUser is None for rec in requests)
    assert_share(anonymous / len(requests), 0.25, "anonymous share")
    # The share of web users, over more users than this run has.
    many = sum(web.is_web_user(u) for u in range(100_000))
    assert_close(many / 100_000, 0.3, "share of web users")


# --- both ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("classes", "mail", "web"),
    [("Mail", True, False), ("HttpRequest", False, True), ("Session,Database", False, False)],
)
def test_billing_class_filters_generated_records(classes: str, mail: bool, web: bool) -> None:
    sim, frames, _ = simulate(scenario_text(TRAFFIC, classes=classes))
    assert bool(mails(frames)) is mail
    assert bool(webs(frames)) is web
    totals = sim.server.ledger.as_dict().values()
    assert any(t["mail"] for t in totals) is mail
    assert any(t["web"] for t in totals) is web
    assert sim.traffic is not None and sim.traffic.mail is not None
    assert sim.traffic.mail.messages > 0  # the router still ran


def test_the_checker_is_clean_on_a_generated_stream() -> None:
    text = scenario_text(TRAFFIC, users=40, classes=ALL_CLASSES).replace(
        "think_time: 20h", "think_time: 5m"
    )
    _, frames, _ = simulate(text)
    assert mails(frames) and webs(frames)
    report = check_frames((None, frame) for frame in frames)
    assert report.ok, str(report)


def test_no_mail_or_web_block_builds_no_traffic() -> None:
    sim, _, _ = simulate(scenario_text("  mix: {transfer: 1}"))
    assert sim.traffic is None
    off = scenario_text("  mail: {per_day: 0}\n  http: {share: 0}")
    sim, frames, _ = simulate(off)
    assert sim.traffic is not None and sim.traffic.mail is None and sim.traffic.web is None
    assert not mails(frames)


def test_common_log_clock_agrees_with_common_log_time() -> None:
    start = datetime(2026, 11, 23, 23, 59, 58, 700_000, tzinfo=UTC)
    clock = CommonLogClock(start)
    for offset in (0, 299_999, 300_000, 1_300_000, 1_299_999, DAY + 5, 40 * DAY + 123_456_789):
        assert clock(offset) == common_log_time(start + timedelta(microseconds=offset))


def test_generated_originator_ids_are_distinct_and_seeded() -> None:
    posted = TimeDate(0, 2_461_000)
    originator_id = OriginatorIds(99)
    users = [*range(40), 8_639_999, 8_640_000, 10_000_000]
    ids = {
        (oid.File, oid.Note)
        for user in users
        for day in [*range(30), 8_999]
        for index in [*range(40), 10_000]
        for oid in [originator_id(user, day, index, posted)]
    }
    assert len(ids) == len(users) * 31 * 41
    assert OriginatorIds(98)(1, 1, 1, posted) != originator_id(1, 1, 1, posted)  # the seed's


@pytest.mark.parametrize(
    "template", ["CN=User {n}/O=Acme", "{n:05d}@{{x}}", "CN={n!r} {n:>4}/O=A", "{n.real}"]
)
def test_positional_names_are_the_templates(template: str) -> None:
    name_of = positional(template)
    assert [name_of(n) for n in (1, 42, 12345)] == [template.format(n=n) for n in (1, 42, 12345)]


@pytest.mark.parametrize("distribution", [NOTESBENCH, poisson(2.0), Discrete((3.0,), (1.0,))])
def test_fast_draw_is_the_distributions_draw(distribution: Discrete) -> None:
    draw = fast_draw(distribution)
    for u in [i / 997 for i in range(997)] + [1 - 2**-53, 0.0]:
        assert draw(u) == distribution.draw(u)
