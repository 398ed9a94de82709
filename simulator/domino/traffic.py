"""Generated mail and web traffic (docs/workload.md, Mail and Web), driven by the run's one heap.

Mail: on each working day, each user active that day (the workload's one rule) posts
messages as a Poisson process over the calendar's arrival curve: a Poisson(`per_day`)
number of them, each at a time drawn from the curve. A sender's position along the
day's curve area advances by exponential gaps, so its messages come out in time order
with one pending heap entry per sender and no list of a day's messages anywhere. Each
message goes to max(1, `recipients`) distinct users (for the `external` share: as many
internet addresses, through `external_hop`) and is routed at once, one MAILREC per next
hop, written through the scripted mail action's own code (`tasks.write_mail`).

In a domain every process walks every sender's mail stream (the draws are the same
everywhere: streams are keyed by the global user number) and writes only its own
records: the sender's server one MAILREC per next hop (this server for recipients homed
here, the home server for the others), every other server one MAILREC for the message's
recipients homed there, `DELIVERY_DELAY_US` later. A message is billed once, to its
Originator, by the sender's server with its first record.

Web: a share `share` of the users are web users (a stateless draw per user); on the working
days it is active, each starts Poisson(`visits_per_day`) visits at curve times (a visit
starts no earlier than the end of that user's previous one), a visit being `per_visit`
requests `think` apart; a request writes one HTTPREQREC when it ends, as the scripted http
action does (`tasks.write_http`). Web users are served by their home server.

Every draw comes from the user's own stream per purpose ("mail", "http"), so one user's
parameters never move another user's records.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from heapq import heappush
from itertools import accumulate
from math import log
from string import Formatter
from urllib.parse import quote

from simulator.domino.billing import BillingWriter
from simulator.domino.calendar import WorkingDays
from simulator.domino.clock import EventHeap, Phase
from simulator.domino.domain import Domain
from simulator.domino.server import DERIVED_DAYS, DERIVED_FIRST_DAY, UserLedger
from simulator.domino.streams import (
    STATE_MASK,
    STEP_INCREMENT,
    STEP_MULTIPLIER,
    TO_UNIT,
    UserStreams,
    chance,
    stream_key,
)
from simulator.domino.tasks import ZERO_UNID, common_log_time, write_http, write_mail
from simulator.scenario.distributions import Constant, Discrete, Distribution, ZipfExponent
from simulator.scenario.workload import (
    HTTP_KINDS,
    HttpSpec,
    MailSpec,
    Workload,
)
from simulator.wire import constants as c
from simulator.wire.records import HttpReqRec, MailRec, Oid
from simulator.wire.timedate import TICKS_PER_DAY, TimeDate

DELIVERY_DELAY_US = 1_000_000
"""From a message's MAILREC on the sender's server to its delivery MAILREC on a recipient's
server of the same domain: one hop on a fast network."""
EXTERNAL_RECIPIENT = "contact{}@example.com"
"""An external recipient: an internet address (no comma, no NUL, short: a valid MAILREC
recipient), numbered from 1 to the number of users; example.com reaches nobody."""
ANONYMOUS_ADDRESSES = 65_536
"""Anonymous visitors come from 198.18.0.0/16 (a range reserved for benchmarks)."""
GENERIC_WEB_DATABASE = "web/home.nsf"
"""The database web requests name when neither the workload nor the scenario has one."""

_VIEWS = ("byDate", "byAuthor", "byCategory", "bySubject")
_SEARCH_WORDS = ("budget", "invoice", "meeting", "project", "travel", "report", "contract")
_WEB_AGENTS = ("WebQueryOpen", "SearchResults", "ExportView")
_ICONS = ("ecblank", "vwicn001", "vwicn002", "vwicn003", "expand", "collapse", "actn010")
_HTML = "text/html; charset=UTF-8"
_GIF = "image/gif"
_NOT_MODIFIED = 304
_NORMAL = c.MAIL_PRIORITY["normal"]
_PENDING = c.MAIL_ROUTING_STATE["pending"]
_NO_REPORT = c.MAIL_REPORT["none"]
_GENERATED = Phase.GENERATED  # an enum member's look-up costs: the hot path reads it once
_CLASS_MAIL = c.BILL_CLASS_MAIL
_DWORD_MAX = c.DWORD_MAX
# Any name is at most MAXUSERNAME bytes (the workload's name rule), plus its comma: this many
# recipients always fit a frame, so only longer lists are measured.
_NAME_ROOM = c.MAXUSERNAME + 1
# Names remembered by MailTraffic (~100 bytes each), emptied when full.
_NAMES_KEPT = 65_536
# Records built as tuple.__new__(Type, values): the NamedTuple without its Python-level
# __new__ (see simulator.domino.server).
_new = tuple.__new__


def anonymous_address(index: int) -> str:
    return f"198.18.{index >> 8 & 255}.{index & 255}"


class OriginatorIds:
    """OriginatorIDs of generated messages: File and Note fixed by the seed and the message's
    identity (sender, day, its place in the day), Sequence 1, SequenceTime = PostedDate —
    like a scripted message's (`tasks.mail_originator_id`), with arithmetic instead of a
    hash per message. File's time of day is the sender's number times a prime coprime
    with a day's ticks, plus an offset from the seed; Note's is the place in the day's,
    its day the day's: distinct (File, Note) for every message of users below twice
    TICKS_PER_DAY (17 million) over DERIVED_DAYS (24 years) of days."""

    __slots__ = ("file_day", "file_ticks", "note_day", "note_ticks")

    def __init__(self, seed: int) -> None:
        key = stream_key(seed, "mail-originator")
        # Public for MailTraffic._message, which works an ID out inline.
        self.file_ticks = key % TICKS_PER_DAY
        self.file_day = (key >> 24) % DERIVED_DAYS
        self.note_ticks = (key >> 36) % TICKS_PER_DAY
        self.note_day = (key >> 50) % DERIVED_DAYS

    def file_of(self, user: int) -> TimeDate:
        """The File part of every OriginatorID of the user's messages."""
        return TimeDate(
            (user * 7_919 + self.file_ticks) % TICKS_PER_DAY,
            DERIVED_FIRST_DAY + (user // TICKS_PER_DAY + self.file_day) % DERIVED_DAYS,
        )

    def __call__(self, user: int, day: int, index: int, posted: TimeDate) -> Oid:
        file = self.file_of(user)
        note: TimeDate = _new(
            TimeDate,
            (
                (index * 6_007 + self.note_ticks) % TICKS_PER_DAY,
                DERIVED_FIRST_DAY + (day * 7 + self.note_day) % DERIVED_DAYS,
            ),
        )
        return _new(Oid, (file, note, 1, posted))


def fast_draw(distribution: Distribution) -> Callable[[float], float]:
    """`distribution.draw`, for a table (Discrete) without its property and bounds calls;
    the same value for the same uniform."""
    table = fast_table(distribution)
    if table is None:
        return distribution.draw
    values, cumulative, total = table

    def draw(u: float) -> float:
        return values[bisect_right(cumulative, u * total)]

    return draw


def fast_table(
    distribution: Distribution,
) -> tuple[tuple[float, ...], list[float], float] | None:
    """A Discrete's table (values, cumulative weights, their total), for a hot path to draw
    inline as `values[bisect_right(cumulative, u * total)]`, as `fast_draw` does; None for
    any other distribution."""
    if not isinstance(distribution, Discrete):
        return None
    values = (*distribution.values, distribution.values[-1])  # u * total may round up to it
    cumulative = list(accumulate(distribution.weights))
    return values, cumulative, cumulative[-1]


def positional(template: str) -> Callable[[int], str]:
    """`template.format(n=...)` as a one-argument call: `{n}` fields made positional (a
    keyword format builds a dict per name; names are formatted once per message)."""
    parts = []
    for literal, field, spec, conversion in Formatter().parse(template):
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is not None:
            if field != "n" and not field.startswith(("n.", "n[")):
                return lambda n: template.format(n=n)  # validated elsewhere; keep its error
            parts.append("{0" + field[1:] + (f"!{conversion}" if conversion else ""))
            parts.append((f":{spec}" if spec else "") + "}")
    return "".join(parts).format


def web_databases(
    workload: Workload, scenario_databases: Sequence[str]
) -> tuple[list[str], Distribution | None]:
    """The databases web requests name, and how ranks among them are drawn (None: evenly).

    The workload's generated databases by their popularity, else its declared list, else
    the scenario's databases, else `GENERIC_WEB_DATABASE`; directories are never named.
    """
    generated = workload.generated_databases
    if generated is not None:
        paths = [generated.path_of(n) for n in range(1, generated.count + 1)]
        popularity = generated.popularity
        if isinstance(popularity, ZipfExponent):
            popularity = popularity.over(generated.count)
        return paths, popularity
    declared = workload.declared_databases
    candidates = declared if declared is not None else list(scenario_databases)
    paths = [path for path in candidates if not path.endswith("/")]
    return (paths or [GENERIC_WEB_DATABASE]), None


class CommonLogClock:
    """`common_log_time` of virtual instants, the date's part formatted once a day."""

    __slots__ = ("_day", "_prefix", "_start", "_start_us")

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._start_us = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        self._day = -1
        self._prefix = ""

    def __call__(self, virtual_us: int) -> str:
        day, second = divmod((self._start_us + virtual_us) // 1_000_000, 86_400)
        if day != self._day:
            self._day = day
            whole = common_log_time(self._start + timedelta(microseconds=virtual_us))
            self._prefix = whole[:12]  # `21/Nov/2026:`
        hours, rest = divmod(second, 3600)
        return f"{self._prefix}{hours:02d}:{rest // 60:02d}:{rest % 60:02d} +0000"


def _fixed_count(distribution: Distribution) -> int:
    """A constant's value as a count of at least 1 (no draw needed), else 0."""
    return max(1, int(distribution.value)) if isinstance(distribution, Constant) else 0


class MailTraffic:
    """The domain's mail senders as this server sees them: one heap entry per sender."""

    def __init__(
        self,
        mail: MailSpec,
        workload: Workload,
        days: WorkingDays,
        writer: BillingWriter,
        ledger: UserLedger,
        heap: EventHeap,
        *,
        seed: int,
        domain: Domain,
    ) -> None:
        self.spec = mail
        self.days = days
        self.writer = writer
        self.ledger = ledger
        self.domain = domain
        self.duration = days.duration
        users = self.users = workload.users
        self.messages = 0  # sent from this server
        self.recipients_cut = 0  # of those, messages whose recipients were cut to fit a frame
        streams = UserStreams(seed, "mail", users)
        self._uniform = streams.uniform
        # `_message` steps a sender's stream itself (see STEP_MULTIPLIER): it draws several
        # numbers a message.
        self._states = streams.states
        self._first_state = streams.first_state
        self._external = mail.external
        self._form = mail.form
        self._external_hop = mail.external_hop
        self._gap = 1.0 / mail.per_day  # the mean step along a day's curve area
        self._day = array("q", bytes(8 * users))
        self._index = array("q", bytes(8 * users))
        self._position = array("d", bytes(8 * users))
        self._posted = array("q", bytes(8 * users))
        self._single = domain.size == 1
        self._originator_id = OriginatorIds(seed)
        self._name_of = positional(workload.name)
        # Names of senders and recipients (user number -> name) as `_named` made them: a
        # look-up costs a fifth of formatting one, and a name that is the same object each
        # time has its hash at hand for the encoder's and the ledger's look-ups.
        self._names: dict[int, str] = {}
        # A sender's name and its OriginatorIDs' File (which depends on the sender alone).
        self._senders: dict[int, tuple[str, TimeDate]] = {}
        self._external_of = EXTERNAL_RECIPIENT.format
        # An `external` of 0 or 1 decides nothing: no draw for it.
        self._external_drawn = 0.0 < mail.external < 1.0
        self._all_external = mail.external >= 1.0
        self._fixed_recipients = _fixed_count(mail.recipients)
        self._recipients_draw = fast_draw(mail.recipients)
        self._recipients_table = fast_table(mail.recipients)
        self._fixed_size = (
            min(int(mail.size.value), c.DWORD_MAX) if isinstance(mail.size, Constant) else -1
        )
        self._size_draw = fast_draw(mail.size)
        self._size_table = fast_table(mail.size)
        self._arrival_clock = days.calendar.arrival_clock
        # What a frame leaves the recipients: MQ_MAX_MSGSIZE less the fixed part.
        fixed = writer.codec.by_python_type[MailRec].fixed_size
        self._room = c.MQ_MAX_MSGSIZE - fixed
        self._items = heap.items
        self._counter = heap.counter
        self._handler = self._message

    def start(self) -> None:
        for user in range(self.users):
            self._schedule(user, -1, 1.0, 0)

    def _schedule(self, user: int, day: int, position: float, index: int) -> None:
        """Onto the heap: the user's first message in the run at or after `position` on `day`
        (a position past the day's curve moves on to the user's next active working day)."""
        uniform = self._uniform
        gap = self._gap
        days = self.days
        duration = self.duration
        while True:
            if position >= 1.0:
                day = days.next_active_day(user, day)
                if day < 0:
                    return
                position = days.first_position(day) - log(1.0 - uniform(user)) * gap
                index = 0
                continue
            posted = days.arrival(day, position)
            if posted >= duration:
                return
            if posted >= 0:
                break
            # Before the run's start (day 0 began earlier): not sent in this run.
            position -= log(1.0 - uniform(user)) * gap
            index += 1
        self._day[user] = day
        self._index[user] = index
        self._position[user] = position
        self._posted[user] = posted
        at = posted if self._single or self.domain.is_home(user) else posted + DELIVERY_DELAY_US
        if at < duration:
            heappush(self._items, (at, _GENERATED, next(self._counter), self._handler, user))

    def _message(self, user: int) -> None:
        """The user's message due now: its draws, then this server's records of it, then
        the user's next message onto the heap."""
        # The sender's stream, stepped here as UserStreams.uniform would (the hot path).
        states = self._states
        state = states[user] or self._first_state(user)
        if self._external_drawn:
            state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
            external = (state >> 11) * TO_UNIT < self._external
        else:
            external = self._all_external
        wanted = self._fixed_recipients
        if not wanted:
            state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
            table = self._recipients_table
            if table is None:
                wanted = int(self._recipients_draw((state >> 11) * TO_UNIT)) or 1
            else:  # fast_draw's table, inline
                values, cumulative, total = table
                wanted = int(values[bisect_right(cumulative, (state >> 11) * TO_UNIT * total)]) or 1
        size = self._fixed_size
        if size < 0:
            state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
            table = self._size_table
            if table is None:
                size = int(self._size_draw((state >> 11) * TO_UNIT))
            else:
                values, cumulative, total = table
                size = int(values[bisect_right(cumulative, (state >> 11) * TO_UNIT * total)])
            if size > _DWORD_MAX:  # noqa: PLR1730 - min() is a call: once per message
                size = _DWORD_MAX
        day, index, posted = self._day[user], self._index[user], self._posted[user]
        if self._single:
            known = self._names
            pool = self.users if external else self.users - 1
            if wanted == 1 and pool:
                # _recipients' common case, inline: one recipient, never the sender.
                state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
                r = int((state >> 11) * TO_UNIT * pool)
                if external:
                    names: list[str] | tuple[str, ...] = (self._external_of(r + 1),)
                else:
                    if r >= user:
                        r += 1
                    # A subscript in a try, not `.get` (a method call): free in 3.11 when
                    # the name is known, as it mostly is.
                    try:
                        name = known[r]
                    except KeyError:
                        name = self._named(r)
                    names = (name,)
            elif pool and (wanted if wanted < pool else pool) * _NAME_ROOM <= self._room:
                # _recipients' case of names that all fit, inline: distinct recipients
                # drawn in turn (found in a list: a few of them), named as they come.
                if wanted > pool:  # noqa: PLR1730
                    wanted = pool
                chosen: list[int] = []
                named: list[str] = []
                while len(chosen) < wanted:
                    state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
                    r = int((state >> 11) * TO_UNIT * pool)
                    if external:
                        if r not in chosen:
                            chosen.append(r)
                            named.append(self._external_of(r + 1))
                    else:
                        if r >= user:
                            r += 1
                        if r not in chosen:
                            chosen.append(r)
                            try:  # (a subscript, as above)
                                name = known[r]
                            except KeyError:
                                name = self._named(r)
                            named.append(name)
                names = tuple(named)
            else:
                states[user] = state
                names, cut = self._recipients(user, wanted, external, named=True)[1:]
                names = tuple(names)
                self.recipients_cut += cut
                state = states[user]
            self.messages += 1
            writer = self.writer
            posted_date = writer.stamp_at(posted)  # routed as it is posted: the header's too
            try:  # (a subscript, as above)
                sender = self._senders[user]
            except KeyError:
                sender = self._sender(user)
            originator, file = sender
            # OriginatorIds.__call__, inline.
            ids = self._originator_id
            originator_id = _new(
                Oid,
                (
                    file,
                    _new(
                        TimeDate,
                        (
                            (index * 6_007 + ids.note_ticks) % TICKS_PER_DAY,
                            DERIVED_FIRST_DAY + (day * 7 + ids.note_day) % DERIVED_DAYS,
                        ),
                    ),
                    1,
                    posted_date,
                ),
            )
            # The MAILREC's fields, written as write_values takes a session's (the record
            # itself is not made: the encoder only unpacks it).
            fields = (
                self._form,
                originator_id,
                ZERO_UNID,
                size,
                self._external_hop if external else writer.server_name,
                _NORMAL,
                _PENDING,
                _NO_REPORT,
                originator,
                len(names),
                posted_date,
                names,
            )
            # tasks.write_mail, inline.
            if writer.write_values(MailRec, fields, posted, _CLASS_MAIL, 0):
                self.ledger.add_pair(originator, "mail", 1, "mail_bytes", size)
        else:
            states[user] = state
            self._domain_message(user, day, index, posted, size, wanted, external)
            state = states[user]
        state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
        states[user] = state
        position = self._position[user] - log(1.0 - (state >> 11) * TO_UNIT) * self._gap
        index += 1
        if position < 1.0:
            # _schedule's common case, inline: the next message on the same day, in the run.
            days = self.days
            if day == days.plain_day:  # WorkingDays.arrival's common case, inline
                posted = days.plain_start + self._arrival_clock(position)
            else:
                posted = days.arrival(day, position)
            duration = self.duration
            if 0 <= posted < duration:
                self._index[user] = index
                self._position[user] = position
                self._posted[user] = posted
                if not self._single and not self.domain.is_home(user):
                    posted += DELIVERY_DELAY_US
                    if posted >= duration:
                        return
                item = (posted, _GENERATED, next(self._counter), self._handler, user)
                heappush(self._items, item)
                return
        self._schedule(user, day, position, index)

    def _named(self, user: int) -> str:
        """User `user`'s name (user 0 is `{n}` = 1), formatted and remembered in `_names`."""
        names = self._names
        if len(names) >= _NAMES_KEPT:
            names.clear()
        name = names[user] = self._name_of(user + 1)
        return name

    def _sender(self, user: int) -> tuple[str, TimeDate]:
        """User `user`'s name and its messages' OriginatorID File, remembered in `_senders`."""
        senders = self._senders
        if len(senders) >= _NAMES_KEPT:
            senders.clear()
        name = self._names.get(user) or self._named(user)
        sender = senders[user] = (name, self._originator_id.file_of(user))
        return sender

    def _domain_message(
        self,
        user: int,
        day: int,
        index: int,
        posted: int,
        size: int,
        wanted: int,
        external: bool,
    ) -> None:
        domain = self.domain
        home_of = domain.home_of
        here = domain.index
        server_name = self.writer.server_name
        # Another server's sender: the same draws, names only for the recipients homed here.
        sender_here = home_of(user) == here
        chosen, names, cut = self._recipients(user, wanted, external, named=sender_here)
        if sender_here:
            self.messages += 1
            self.recipients_cut += cut
            if external:
                hops: list[tuple[str, list[str]]] = [(self.spec.external_hop, names)]
            else:
                # By next hop, in the domain's server order: this server for those homed
                # here (delivered locally), else their home server.
                by_home: dict[int, list[str]] = {}
                for r, name in zip(chosen, names, strict=True):
                    by_home.setdefault(home_of(r), []).append(name)
                servers = domain.servers
                hops = [
                    (server_name if home == here else servers[home], by_home[home])
                    for home in sorted(by_home)
                ]
            self._route(user, day, index, posted, size, hops, posted, self.ledger)
        elif not external:
            name_of = self._name_of
            delivered = [name_of(r + 1) for r in chosen if home_of(r) == here]
            if delivered:
                now = posted + DELIVERY_DELAY_US
                self._route(user, day, index, posted, size, ((server_name, delivered),), now, None)

    def _recipients(
        self, sender: int, wanted: int, external: bool, *, named: bool
    ) -> tuple[list[int], list[str], bool]:
        """`wanted` distinct recipients (user numbers from 0) and, if `named`, their names, cut
        short where the next name would not fit the frame; and whether they were cut. The
        draws are the same whether named or not."""
        uniform = self._uniform
        template: Callable[[int], str]
        chosen: list[int]
        seen: set[int]
        if external:
            pool, template = self.users, self._external_of
        else:
            pool, template = self.users - 1, self._name_of
        if pool == 0:
            return [sender], [template(sender + 1)] if named else [], False  # a note to self
        if wanted == 1:  # the common case, short
            r = int(uniform(sender) * pool)
            if not external and r >= sender:
                r += 1
            return [r], [template(r + 1)] if named else [], False
        wanted = min(wanted, pool)
        measured = wanted * _NAME_ROOM > self._room
        if not measured:
            # Every name fits: draw the recipients, stepping the stream here (as uniform
            # does), then name them.
            states = self._states
            state = states[sender] or self._first_state(sender)
            chosen = []
            seen = set()
            while len(chosen) < wanted:
                state = (state * STEP_MULTIPLIER + STEP_INCREMENT) & STATE_MASK
                r = int((state >> 11) * TO_UNIT * pool)
                if not external and r >= sender:
                    r += 1
                if r not in seen:
                    seen.add(r)
                    chosen.append(r)
            states[sender] = state
            return chosen, [template(r + 1) for r in chosen] if named else [], False
        room = self._room + 1  # n names take their bytes and n - 1 commas
        chosen = []
        names: list[str] = []
        seen = set()
        while len(chosen) < wanted:
            r = int(uniform(sender) * pool)
            if not external and r >= sender:
                r += 1
            if r in seen:
                continue
            if measured or named:
                name = template(r + 1)
                if measured:
                    room -= (len(name) if name.isascii() else len(name.encode())) + 1
                    if room < 0:
                        return chosen, names if named else [], True
                if named:
                    names.append(name)
            seen.add(r)
            chosen.append(r)
        return chosen, names, False

    def _route(
        self,
        user: int,
        day: int,
        index: int,
        posted: int,
        size: int,
        hops: Sequence[tuple[str, list[str]]],
        now: int,
        ledger: UserLedger | None,
    ) -> None:
        """One MAILREC per hop at `now`; with a `ledger` (on the sender's server) the
        message is billed with the first one written."""
        writer = self.writer
        posted_date = writer.stamp_at(posted) if now == posted else writer.stamp(posted)
        originator_id = self._originator_id(user, day, index, posted_date)
        originator = self._name_of(user + 1)
        form = self.spec.form
        for hop, recipients in hops:
            rec: MailRec = _new(
                MailRec,
                (
                    form,
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
                ),
            )
            if write_mail(writer, ledger, rec, now):
                ledger = None


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


class WebTraffic:
    """The web users homed on this server: one heap entry per user, at its request's end."""

    def __init__(
        self,
        http: HttpSpec,
        workload: Workload,
        days: WorkingDays,
        writer: BillingWriter,
        ledger: UserLedger,
        heap: EventHeap,
        *,
        start: datetime,
        server_address: str,
        scenario_databases: Sequence[str],
        seed: int,
        domain: Domain,
    ) -> None:
        self.spec = http
        self.workload = workload
        self.days = days
        self.writer = writer
        self.ledger = ledger
        self.domain = domain
        self.duration = days.duration
        self.users = workload.users
        self.visits = 0
        self.requests = 0
        self._uniform = UserStreams(seed, "http", workload.users).uniform
        self._web_key = stream_key(seed, "web")
        self._gap = 1.0 / http.visits_per_day
        self._server_address = server_address
        self._log_time = CommonLogClock(start)
        self._name_of = workload.name.format
        self._fixed_per_visit = _fixed_count(http.per_visit)
        kinds = [kind for kind in HTTP_KINDS if http.mix.get(kind, 0) > 0]
        self._kinds = kinds
        self._kind_draw = fast_draw(
            Discrete(tuple(float(i) for i in range(len(kinds))), tuple(http.mix[k] for k in kinds))
        )
        codes = sorted(code for code, weight in http.status.items() if weight > 0)
        self._status_draw = fast_draw(
            Discrete(
                tuple(float(code) for code in codes), tuple(http.status[code] for code in codes)
            )
        )
        paths, popularity = web_databases(workload, scenario_databases)
        self._paths = [quote(path, safe="/") for path in paths]
        self._popularity = popularity
        self._items = heap.items
        self._counter = heap.counter
        self._handler = self._request

    def is_web_user(self, user: int) -> bool:
        """A stateless draw per user: the same user is a web user on every day and server."""
        return chance(self._web_key, user) < self.spec.share

    def start(self) -> None:
        is_home = self.domain.is_home
        for user in range(self.users):
            if is_home(user) and self.is_web_user(user):
                self._next_visit(_Visitor(user), 0)

    def _next_visit(self, visitor: _Visitor, free_at: int) -> None:
        """Onto the heap: the first request of the visitor's first visit in the run at or
        after its position; it starts no earlier than `free_at`, the end of the last one."""
        spec = self.spec
        uniform = self._uniform
        user = visitor.user
        gap = self._gap
        days = self.days
        duration = self.duration
        day, position = visitor.day, visitor.position
        while True:
            if position >= 1.0:
                day = days.next_active_day(user, day)
                if day < 0:
                    return
                position = days.first_position(day) - log(1.0 - uniform(user)) * gap
                continue
            begins = days.arrival(day, position)
            if begins >= duration:
                return
            if begins >= 0:
                break
            position -= log(1.0 - uniform(user)) * gap  # before the run's start: not made
        visitor.day, visitor.position = day, position
        self.visits += 1
        anonymous = uniform(user) < spec.anonymous
        pooled = int(uniform(user) * ANONYMOUS_ADDRESSES)  # drawn either way: one count a visit
        if anonymous:
            visitor.auth = None
            visitor.address = anonymous_address(pooled)
        else:
            visitor.auth = self._name_of(n=user + 1)
            visitor.address = self.workload.address_of(user + 1)
        visitor.left = self._fixed_per_visit or max(1, int(spec.per_visit.draw(uniform(user))))
        self._schedule_request(visitor, max(begins, free_at))

    def _schedule_request(self, visitor: _Visitor, at: int) -> None:
        time_ms = min(int(self.spec.time.draw(self._uniform(visitor.user))) // 1000, c.DWORD_MAX)
        visitor.at = at
        visitor.time_ms = time_ms
        ends = at + time_ms * 1000
        if ends < self.duration:
            heappush(self._items, (ends, _GENERATED, next(self._counter), self._handler, visitor))

    def _request(self, visitor: _Visitor) -> None:
        """The visitor's request ending now: its record, then its next request or visit."""
        spec = self.spec
        uniform = self._uniform
        user = visitor.user
        kind = self._kinds[int(self._kind_draw(uniform(user)))]
        status = int(self._status_draw(uniform(user)))
        size = min(int(spec.bytes.draw(uniform(user))), c.DWORD_MAX)
        request, content_type = self._request_line(kind, uniform(user), uniform(user))
        if status == _NOT_MODIFIED:
            size, content_type = 0, None  # no body
        at = visitor.at
        now = at + visitor.time_ms * 1000
        rec: HttpReqRec = _new(
            HttpReqRec,
            (
                size,
                visitor.time_ms,
                status,
                self._log_time(at),
                visitor.auth,
                visitor.address,
                None,
                self._server_address,
                spec.user_agent,
                request,
                content_type,
            ),
        )
        self.requests += 1
        write_http(self.writer, self.ledger, rec, now)
        visitor.left -= 1
        if visitor.left:
            self._schedule_request(visitor, now + int(spec.think.draw(uniform(user))))
        else:
            visitor.position -= log(1.0 - uniform(user)) * self._gap
            self._next_visit(visitor, now)

    def _request_line(self, kind: str, where: float, detail: float) -> tuple[str, str | None]:
        """A Domino URL of `kind` and its response's content type; `where` picks the database,
        `detail` the view, document, search word, agent or icon."""
        if kind == "static":
            return f"GET /icons/{_ICONS[int(detail * len(_ICONS))]}.gif HTTP/1.1", _GIF
        db = self._path(where)
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

    def _path(self, where: float) -> str:
        paths = self._paths
        popularity = self._popularity
        if popularity is None:
            return paths[int(where * len(paths))]
        rank = min(max(int(popularity.draw(where)), 1), len(paths))
        return paths[rank - 1]


class Traffic:
    """The generated mail and web traffic of one server of a domain (either may be off)."""

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
        days = WorkingDays(workload, start, seed=seed, duration=duration)
        self.mail: MailTraffic | None = None
        self.web: WebTraffic | None = None
        mail, http = workload.mail, workload.http
        if mail is not None and mail.per_day > 0 and days.any_active:
            self.mail = MailTraffic(
                mail, workload, days, writer, ledger, heap, seed=seed, domain=domain
            )
        if http is not None and http.share > 0 and http.visits_per_day > 0 and days.any_active:
            self.web = WebTraffic(
                http,
                workload,
                days,
                writer,
                ledger,
                heap,
                start=start,
                server_address=server_address,
                scenario_databases=scenario_databases,
                seed=seed,
                domain=domain,
            )

    def start(self) -> None:
        """Each sender's first message, then each web user's first request, onto the heap."""
        if self.mail is not None:
            self.mail.start()
        if self.web is not None:
            self.web.start()

    @property
    def recipients_cut(self) -> int:
        return self.mail.recipients_cut if self.mail is not None else 0
