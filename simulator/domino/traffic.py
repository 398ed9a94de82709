"""Generated mail and web traffic (docs/workload.md, Mail and Web), driven by the run's one heap.

Mail: on each working day, each user active that day posts messages as a Poisson
process over the calendar's arrival curve — a Poisson(`per_day`) number of them,
each at a time drawn from the curve. Positions along the day's curve area advance by
exponential gaps, so a sender's messages come out in time order, one pending heap
entry per sender and no list of the day's messages anywhere. Each message goes to
max(1, `recipients`) distinct users (or, for the `external` share, to as many
internet addresses through `external_hop`) and is routed at once: one MAILREC per
next hop, written through the scripted mail action's own code (`tasks.write_mail`).

In a domain every process walks every sender's mail stream (the draws are the same
everywhere, keyed by the global user number) and writes only its own records: the
sender's server one MAILREC per next hop (this server for its own recipients, the
recipient's home server for the others), each other server one MAILREC per message
delivered to its users, `DELIVERY_DELAY_US` later. A message is billed once, to its
Originator, by the sender's server, with its first record.

Web: a stateless share `share` of the users are web users; each, on the working days
it is active, starts Poisson(`visits_per_day`) visits at curve times (a visit starts no
earlier than the end of the user's previous one), each visit `per_visit` requests
`think` apart; a request writes one HTTPREQREC when it ends, as the scripted http action.

Every draw comes from the user's own stream per purpose ("mail", "http"), so one
user's parameters never move another user's records.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from heapq import heappush
from math import log
from urllib.parse import quote

from simulator.domino.billing import BillingWriter
from simulator.domino.calendar import Calendar
from simulator.domino.clock import EventHeap, Phase
from simulator.domino.domain import Domain
from simulator.domino.server import UserLedger
from simulator.domino.streams import UserStreams, chance, stream_key
from simulator.domino.tasks import (
    ZERO_UNID,
    common_log_time,
    mail_originator_id,
    write_http,
    write_mail,
)
from simulator.scenario.distributions import Discrete, Distribution, ZipfExponent
from simulator.scenario.workload import (
    HTTP_KINDS,
    WEEKDAYS,
    CalendarSpec,
    HttpSpec,
    MailSpec,
    Workload,
)
from simulator.wire import constants as c
from simulator.wire.records import HttpReqRec, MailRec

DELIVERY_DELAY_US = 1_000_000
"""From a message's MAILREC on the sender's server to its delivery MAILREC on a recipient's
server of the same domain: one hop on a fast network."""
EXTERNAL_RECIPIENT = "contact{n}@example.com"
"""An external recipient: an internet address (no comma, no NUL, short: a valid MAILREC
recipient), numbered from 1 to the number of users; example.com reaches nobody."""
ANONYMOUS_ADDRESSES = 65_536
"""Anonymous visitors come from 198.18.0.0/16 (a range reserved for benchmarks)."""
GENERIC_WEB_DATABASE = "web/home.nsf"
"""The database web requests name when neither the workload nor the scenario has one."""
FLAT_CALENDAR = CalendarSpec.model_validate(
    {"timezone": "UTC", "days": list(WEEKDAYS), "curve": [["00:00", 1.0], ["24:00", 1.0]]}
)
"""Without a `calendar:`, every day is a working day and traffic is spread evenly over it."""

_VIEWS = ("byDate", "byAuthor", "byCategory", "bySubject")
_SEARCH_WORDS = ("budget", "invoice", "meeting", "project", "travel", "report", "contract")
_WEB_AGENTS = ("WebQueryOpen", "SearchResults", "ExportView")
_ICONS = ("ecblank", "vwicn001", "vwicn002", "vwicn003", "expand", "collapse", "actn010")
_HTML = "text/html; charset=UTF-8"
_GIF = "image/gif"
_NOT_MODIFIED = 304
_GENERATED = Phase.GENERATED  # an enum member's look-up costs: the hot path reads it once
_DAYS_CACHED = 64
_NORMAL = c.MAIL_PRIORITY["normal"]
_PENDING = c.MAIL_ROUTING_STATE["pending"]
_NO_REPORT = c.MAIL_REPORT["none"]


def anonymous_address(index: int) -> str:
    return f"198.18.{index >> 8 & 255}.{index & 255}"


def mail_key(user: int, day: int, index: int) -> str:
    """A generated message's identity (its OriginatorID's key): sender, day, place in the day."""
    return f"generated/{user}/{day}/{index}"


def web_databases(
    workload: Workload, scenario_databases: Sequence[str]
) -> tuple[list[str], Distribution | None]:
    """The databases web requests name, and how ranks among them are drawn (None: evenly).

    The workload's generated databases by their popularity, else its declared list, else
    the scenario's databases, else `GENERIC_WEB_DATABASE`; directories are never named.
    """
    generated = workload.generated_databases
    if generated is not None:
        paths = [generated.path.format(n=n, user=n) for n in range(1, generated.count + 1)]
        popularity = generated.popularity
        if isinstance(popularity, ZipfExponent):
            popularity = popularity.over(generated.count)
        return paths, popularity
    declared = workload.declared_databases
    candidates = declared if declared is not None else list(scenario_databases)
    paths = [path for path in candidates if not path.endswith("/")]
    return (paths or [GENERIC_WEB_DATABASE]), None


class CommonLogClock:
    """`common_log_time` of virtual instants, the day's part formatted once a day."""

    __slots__ = ("_day", "_prefix", "_start", "_start_us")

    def __init__(self, start: datetime) -> None:
        self._start = start
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        self._start_us = (start - epoch) // timedelta(microseconds=1)
        self._day = -1
        self._prefix = ""

    def __call__(self, virtual_us: int) -> str:
        seconds = (self._start_us + virtual_us) // 1_000_000
        day, second = divmod(seconds, 86_400)
        if day != self._day:
            self._day = day
            whole = common_log_time(self._start + timedelta(microseconds=virtual_us))
            self._prefix = whole[:12]  # `21/Nov/2026:`
        hours, rest = divmod(second, 3600)
        return f"{self._prefix}{hours:02d}:{rest // 60:02d}:{rest % 60:02d} +0000"


class _Visitor:
    """A web user's state between two of its requests (the pending one is on the heap)."""

    __slots__ = ("address", "at", "auth", "day", "left", "position", "time_ms", "user")

    def __init__(self, user: int) -> None:
        self.user = user
        self.day = -1
        self.position = 1.0
        self.auth: str | None = None
        self.address = ""
        self.left = 0
        self.at = 0
        self.time_ms = 0


class Traffic:
    """The generated mail senders and web visitors of one server of a domain."""

    def __init__(
        self,
        workload: Workload,
        writer: BillingWriter,
        ledger: UserLedger,
        heap: EventHeap,
        *,
        start: datetime,
        server_address: str,
        scenario_databases: Sequence[str] = (),
        seed: int,
        duration: int,
        domain: Domain,
    ) -> None:
        self.workload = workload
        self.writer = writer
        self.ledger = ledger
        self.heap = heap
        self.seed = seed
        self.duration = duration
        self.domain = domain
        self.users = workload.users
        self.calendar = Calendar(workload.calendar or FLAT_CALENDAR, start)
        self._active_key = stream_key(seed, "active")
        self._active = workload.active
        self._days: dict[int, tuple[int, bool]] = {}
        self._items = heap.items
        self._counter = heap.counter
        self._name_of = workload.name.format
        # Messages whose recipients were cut to fit one frame (counted by the sender's server).
        self.recipients_cut = 0
        self.messages = 0
        self.requests = 0
        self._init_mail(workload.mail)
        self._init_http(workload.http, server_address, start, scenario_databases)

    def _init_mail(self, mail: MailSpec | None) -> None:
        self.mail = mail
        users = self.users
        self._mail_on = bool(
            mail is not None and mail.per_day > 0 and self._active > 0 and self.calendar.days
        )
        if mail is None or not self._mail_on:
            return
        self._mail_uniform = UserStreams(self.seed, "mail", users).uniform
        self._mail_gap = 1.0 / mail.per_day  # mean position step along a day's curve area
        self._mail_day = array("q", bytes(8 * users))
        self._mail_index = array("q", bytes(8 * users))
        self._mail_position = array("d", bytes(8 * users))
        self._mail_posted = array("q", bytes(8 * users))
        self._mail_handler = self._message
        # A frame holds at most MQ_MAX_MSGSIZE bytes: what the fixed part leaves the recipients.
        fixed = self.writer.codec.by_python_type[MailRec].fixed_size
        self._recipient_room = c.MQ_MAX_MSGSIZE - fixed

    def _init_http(
        self,
        http: HttpSpec | None,
        server_address: str,
        start: datetime,
        scenario_databases: Sequence[str],
    ) -> None:
        self.http = http
        self._http_on = bool(
            http is not None
            and http.share > 0
            and http.visits_per_day > 0
            and self._active > 0
            and self.calendar.days
        )
        if http is None or not self._http_on:
            return
        self._http_uniform = UserStreams(self.seed, "http", self.users).uniform
        self._web_key = stream_key(self.seed, "web")
        self._visit_gap = 1.0 / http.visits_per_day
        self._server_address = server_address
        self._log_time = CommonLogClock(start)
        kinds = [kind for kind in HTTP_KINDS if http.mix.get(kind, 0) > 0]
        self._kinds = kinds
        self._kind_draw = Discrete(
            tuple(float(i) for i in range(len(kinds))), tuple(http.mix[k] for k in kinds)
        ).draw
        codes = sorted(http.status)
        self._status_draw = Discrete(
            tuple(float(code) for code in codes), tuple(http.status[code] for code in codes)
        ).draw
        paths, popularity = web_databases(self.workload, scenario_databases)
        self._web_paths = [quote(path, safe="/") for path in paths]
        self._web_popularity = popularity
        self._http_handler = self._request

    def start(self) -> None:
        """Each sender's first message and each web user's first request onto the heap."""
        is_home = self.domain.is_home
        web_key = self._web_key if self._http_on else 0
        share = self.http.share if self.http is not None else 0.0
        for user in range(self.users):
            if self._mail_on:
                self._schedule_message(user, -1, 1.0, 0)
            if self._http_on and is_home(user) and chance(web_key, user) < share:
                self._next_visit(_Visitor(user), 0)

    # -- the calendar ---------------------------------------------------------------------

    def _day(self, day: int) -> tuple[int, bool]:
        """(virtual start, working?) of `day`, for the few days the run is in at once."""
        known = self._days.get(day)
        if known is None:
            if len(self._days) >= _DAYS_CACHED:
                self._days.clear()
            calendar = self.calendar
            known = self._days[day] = (calendar.day_start(day), calendar.is_working_day(day))
        return known

    def _next_active_day(self, user: int, day: int) -> int:
        """The user's next working day after `day` on which it is active, or -1 past the run."""
        key, active, duration = self._active_key, self._active, self.duration
        while True:
            day += 1
            start, working = self._day(day)
            if start >= duration:
                return -1
            if working and chance(key, user, day) < active:
                return day

    # -- mail -----------------------------------------------------------------------------

    def _schedule_message(self, user: int, day: int, position: float, index: int) -> None:
        """Onto the heap: the user's first message in the run at or after `position` on `day`
        (a position past the day's curve moves on to the user's next active working day)."""
        uniform = self._mail_uniform
        gap = self._mail_gap
        arrival = self.calendar.arrival
        duration = self.duration
        while True:
            if position >= 1.0:
                day = self._next_active_day(user, day)
                if day < 0:
                    return
                position = -log(1.0 - uniform(user)) * gap
                index = 0
                continue
            posted = arrival(day, position)
            if posted >= duration:
                return
            if posted >= 0:
                break
            # Before the run's start (day 0 began earlier): not sent in this run.
            position += -log(1.0 - uniform(user)) * gap
            index += 1
        self._mail_day[user] = day
        self._mail_index[user] = index
        self._mail_position[user] = position
        self._mail_posted[user] = posted
        at = posted if self.domain.is_home(user) else posted + DELIVERY_DELAY_US
        if at < duration:
            heappush(self._items, (at, _GENERATED, next(self._counter), self._mail_handler, user))

    def _message(self, user: int) -> None:
        """The user's message due now: its draws, then its records on this server."""
        mail = self.mail
        assert mail is not None
        uniform = self._mail_uniform
        external = uniform(user) < mail.external
        wanted = max(1, int(mail.recipients.draw(uniform(user))))
        size = min(int(mail.size.draw(uniform(user))), c.DWORD_MAX)
        chosen, names, cut = self._recipients(user, wanted, external)
        day, index = self._mail_day[user], self._mail_index[user]
        posted = self._mail_posted[user]
        domain = self.domain
        if domain.is_home(user):
            self.messages += 1
            self.recipients_cut += cut
            if external:
                hops = [(mail.external_hop, names)]
            elif domain.size == 1:
                hops = [(self.writer.server_name, names)]
            else:
                hops = self._hops(chosen, names)
            self._route(user, day, index, posted, size, hops, posted, self.ledger)
        elif not external:
            here = domain.index
            home_of = domain.home_of
            delivered = [name for r, name in zip(chosen, names, strict=True) if home_of(r) == here]
            if delivered:
                hop = self.writer.server_name  # delivered here: the local-delivery record
                now = posted + DELIVERY_DELAY_US
                self._route(user, day, index, posted, size, [(hop, delivered)], now, None)
        position = self._mail_position[user] - log(1.0 - uniform(user)) * self._mail_gap
        self._schedule_message(user, day, position, index + 1)

    def _hops(self, chosen: list[int], names: list[str]) -> list[tuple[str, list[str]]]:
        """The recipients by next hop, in the domain's server order: this server for those
        homed here, else their home server."""
        domain = self.domain
        by_home: dict[int, list[str]] = {}
        for r, name in zip(chosen, names, strict=True):
            by_home.setdefault(domain.home_of(r), []).append(name)
        here, servers = domain.index, domain.servers
        return [
            (self.writer.server_name if home == here else servers[home], by_home[home])
            for home in sorted(by_home)
        ]

    def _route(
        self,
        user: int,
        day: int,
        index: int,
        posted: int,
        size: int,
        hops: list[tuple[str, list[str]]],
        now: int,
        ledger: UserLedger | None,
    ) -> None:
        """One MAILREC per hop at `now`; the message is billed with the first one written
        when a `ledger` is given (on the sender's server only)."""
        mail = self.mail
        assert mail is not None
        writer = self.writer
        posted_date = writer.stamp(posted)
        originator_id = mail_originator_id(self.seed, mail_key(user, day, index), posted_date)
        originator = self._name_of(n=user + 1)
        for hop, recipients in hops:
            rec = MailRec(
                mail.form,
                originator_id,
                ZERO_UNID,
                size,
                hop,
                _NORMAL,
                _PENDING,
                _NO_REPORT,
                originator,
                len(recipients),
                posted_date,
                tuple(recipients),
            )
            if write_mail(writer, ledger, rec, now):
                ledger = None

    def _recipients(
        self, sender: int, wanted: int, external: bool
    ) -> tuple[list[int], list[str], bool]:
        """`wanted` distinct recipients (user numbers from 0, and names), cut short where the
        next name would not fit the frame; and whether it was cut."""
        uniform = self._mail_uniform
        pool = self.users if external else self.users - 1
        template = EXTERNAL_RECIPIENT.format if external else self._name_of
        if pool == 0:
            return [sender], [template(n=sender + 1)], False  # the only user: a note to self
        wanted = min(wanted, pool)
        chosen: list[int] = []
        names: list[str] = []
        seen: set[int] = set()
        room = self._recipient_room + 1  # n names take their bytes and n - 1 commas
        while len(chosen) < wanted:
            r = int(uniform(sender) * pool)
            if not external and r >= sender:
                r += 1
            if r in seen:
                continue
            name = template(n=r + 1)
            room -= len(name.encode()) + 1
            if room < 0:
                return chosen, names, True
            seen.add(r)
            chosen.append(r)
            names.append(name)
        return chosen, names, False

    # -- web ------------------------------------------------------------------------------

    def _next_visit(self, visitor: _Visitor, free_at: int) -> None:
        """Onto the heap: the first request of the visitor's first visit in the run at or after
        its position; the visit starts no earlier than `free_at`, the end of the last one."""
        http = self.http
        assert http is not None
        uniform = self._http_uniform
        user = visitor.user
        gap = self._visit_gap
        arrival = self.calendar.arrival
        duration = self.duration
        day, position = visitor.day, visitor.position
        while True:
            if position >= 1.0:
                day = self._next_active_day(user, day)
                if day < 0:
                    return
                position = -log(1.0 - uniform(user)) * gap
                continue
            begins = arrival(day, position)
            if begins >= duration:
                return
            if begins >= 0:
                break
            position -= log(1.0 - uniform(user)) * gap  # before the run's start: not made
        visitor.day, visitor.position = day, position
        anonymous = uniform(user) < http.anonymous
        pooled = int(uniform(user) * ANONYMOUS_ADDRESSES)  # drawn either way: streams stay aligned
        if anonymous:
            visitor.auth = None
            visitor.address = anonymous_address(pooled)
        else:
            visitor.auth = self._name_of(n=user + 1)
            visitor.address = self.workload.address_of(user + 1)
        visitor.left = max(1, int(http.per_visit.draw(uniform(user))))
        self._schedule_request(visitor, max(begins, free_at))

    def _schedule_request(self, visitor: _Visitor, at: int) -> None:
        http = self.http
        assert http is not None
        time_ms = min(int(http.time.draw(self._http_uniform(visitor.user))) // 1000, c.DWORD_MAX)
        visitor.at = at
        visitor.time_ms = time_ms
        ends = at + time_ms * 1000
        if ends < self.duration:
            heappush(
                self._items, (ends, _GENERATED, next(self._counter), self._http_handler, visitor)
            )

    def _request(self, visitor: _Visitor) -> None:
        """The visitor's request ending now: its record, then its next request or visit."""
        http = self.http
        assert http is not None
        uniform = self._http_uniform
        user = visitor.user
        kind = self._kinds[int(self._kind_draw(uniform(user)))]
        status = int(self._status_draw(uniform(user)))
        size = min(int(http.bytes.draw(uniform(user))), c.DWORD_MAX)
        request, content_type = self._request_line(kind, uniform(user), uniform(user))
        if status == _NOT_MODIFIED:
            size, content_type = 0, None  # no body
        at = visitor.at
        now = at + visitor.time_ms * 1000
        rec = HttpReqRec(
            size,
            visitor.time_ms,
            status,
            self._log_time(at),
            visitor.auth,
            visitor.address,
            None,
            self._server_address,
            http.user_agent,
            request,
            content_type,
        )
        self.requests += 1
        write_http(self.writer, self.ledger, rec, now)
        visitor.left -= 1
        if visitor.left:
            self._schedule_request(visitor, now + int(http.think.draw(uniform(user))))
        else:
            visitor.position -= log(1.0 - uniform(user)) * self._visit_gap
            self._next_visit(visitor, now)

    def _request_line(self, kind: str, where: float, detail: float) -> tuple[str, str | None]:
        """A Domino URL of `kind` and its response's content type; `where` picks the database,
        `detail` the view, document, search word, agent or icon."""
        if kind == "static":
            return f"GET /icons/{_ICONS[int(detail * len(_ICONS))]}.gif HTTP/1.1", _GIF
        db = self._web_path(where)
        scaled = detail * len(_VIEWS)
        view = _VIEWS[int(scaled)]
        if kind == "view":
            return f"GET /{db}/{view}?OpenView HTTP/1.1", _HTML
        # A NoteID: a multiple of 4, as Notes allocates them.
        note = (0x800 + int(detail * 0x4000)) * 4
        if kind == "open":
            return f"GET /{db}/0/{note:X}?OpenDocument HTTP/1.1", _HTML
        if kind == "save":
            return f"POST /{db}/0/{note:X}?SaveDocument HTTP/1.1", _HTML
        if kind == "search":
            word = _SEARCH_WORDS[int((scaled - int(scaled)) * len(_SEARCH_WORDS))]
            return f"GET /{db}/{view}?SearchView&Query={word} HTTP/1.1", _HTML
        agent = _WEB_AGENTS[int(detail * len(_WEB_AGENTS))]
        return f"GET /{db}/{agent}?OpenAgent HTTP/1.1", _HTML

    def _web_path(self, where: float) -> str:
        paths = self._web_paths
        popularity = self._web_popularity
        if popularity is None:
            return paths[int(where * len(paths))]
        rank = min(max(int(popularity.draw(where)), 1), len(paths))
        return paths[rank - 1]
