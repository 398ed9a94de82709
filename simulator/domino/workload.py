"""A generated population of users: many sessions from a few numbers, on the one event heap.

Each generated user is an index, its next action one heap entry and its logout time
one slot of an array, so a million concurrent sessions cost no asyncio task and
little memory. Draws come from one seeded generator in event order, which the heap
makes deterministic.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_right as _bisect
from collections.abc import Mapping
from heapq import heappush as _heappush
from itertools import accumulate
from math import log as _log
from typing import Any

from simulator.domino.clock import EventHeap, Phase
from simulator.domino.domain import Domain
from simulator.domino.server import DatabaseInfo, Server, Session
from simulator.scenario.workload import Workload

# An enum member's attribute look-up costs ~100 ns; every generated action schedules one.
_GENERATED = Phase.GENERATED


class Population:
    """Drives `workload.users` generated users through the server, one heap entry each."""

    def __init__(
        self,
        workload: Workload,
        server: Server,
        heap: EventHeap,
        databases: Mapping[str, DatabaseInfo],
        *,
        seed: int,
        duration: int,
        domain: Domain | None = None,
    ) -> None:
        self.workload = workload
        # In a domain each server generates only the users homed on it.
        self.domain = domain
        self.server = server
        self.heap = heap
        self.duration = duration
        self.random = random.Random(f"workload|{seed}")
        paths = (
            workload.declared_databases
            if workload.declared_databases is not None
            else [path for path, db in databases.items() if not db.is_directory]
        )
        self.databases = [databases[p] for p in paths]
        self.actions = [a for a, w in workload.mix.items() if w > 0]
        self.weights = [workload.mix[a] for a in self.actions]
        self.cumulative = list(accumulate(self.weights))
        self.total_weight = self.cumulative[-1]
        self.notes = [sorted(db.documents) for db in self.databases]
        # Exponential draws are inlined as -log(1 - u) * mean: the hot path has one per value.
        self._random = self.random.random
        self._bytes_in = workload.bytes_in
        self._bytes_out = workload.bytes_out
        self._think_time = (
            workload.think_time.mean
        )  # exponential draws below (issue 10 generalises)
        self.logout_at = array("q", bytes(8 * workload.users))
        # The open session of each user, so a generated action needs no name formatting.
        self.session_of: list[Session | None] = [None] * workload.users
        self.actions_run = 0
        # One bound method each, shared by every heap entry (see Server.__init__).
        self._login_handler = self._login
        self._next_handler = self._next
        # Each action schedules the next straight onto the heap (see EventHeap).
        self._heap_items = heap.items
        self._heap_counter = heap.counter

    def start(self) -> None:
        arrival = self.workload.arrival
        draw = self.random.random
        domain = self.domain
        for user in range(self.workload.users):
            # Drawn for every user, so a user's arrival is the same whichever server it is on.
            at = int(draw() * arrival) if arrival else 0
            if at < self.duration and (domain is None or domain.is_home(user)):
                self.heap.schedule(at, Phase.GENERATED, self._login_handler, user)

    def _login(self, user: int) -> None:
        now = self.server._now
        length = int(-_log(1.0 - self._random()) * self.workload.session_lengths.mean) + 1
        self.logout_at[user] = now + length
        self._act(user, "open" if self.databases else "transfer", now)

    def _next(self, user: int) -> None:
        now = self.server._now
        if now >= self.logout_at[user]:
            session = self.session_of[user]
            self.session_of[user] = None
            self.actions_run += 1
            if session is not None and not session.ended:
                self.server.continue_session(session, now, "logout")
            if self.workload.relogin:
                self._schedule(user, now, self._login_handler)
            return
        action = self.actions[_bisect(self.cumulative, self._random() * self.total_weight)]
        self._act(user, action, now)

    def _act(self, user: int, action: str, now: int) -> None:
        random = self._random
        session = self.session_of[user]
        if session is not None and session.ended:
            session = None
        db: DatabaseInfo | None = None
        note_id = None
        databases = self.databases
        if action == "close" and not databases:
            action = "transfer"  # nothing could be open: a drawn close is plain traffic
        if databases and action != "transfer":
            which = int(random() * len(databases))
            db = databases[which]
            if action == "close":
                state = session.db_state(db) if session is not None else None
                if state is None or not state.is_open:
                    action, db = "transfer", None
            elif action in ("read", "write"):
                notes = self.notes[which]
                if notes:
                    note_id = notes[int(random() * len(notes))]
        bytes_in = int(-_log(1.0 - random()) * self._bytes_in)
        bytes_out = int(-_log(1.0 - random()) * self._bytes_out)
        self.actions_run += 1
        if session is not None:
            # Held since its start: the server need not look it up by name and address.
            after = self.server.continue_session(
                session, now, action, db, note_id, bytes_in, bytes_out
            )
        else:
            # User 0 is `{n}` = 1 in the templates.
            name = self.workload.name_of(user + 1)
            address = self.workload.address_of(user + 1)
            after = self.server.session_action(
                now, name, address, action, db, note_id, bytes_in, bytes_out
            )
        self.session_of[user] = after
        # _schedule(user, now, self._next_handler), inline: this runs once per action.
        at = now + int(-_log(1.0 - random()) * self._think_time) + 1
        if at < self.duration:
            _heappush(
                self._heap_items,
                (at, _GENERATED, next(self._heap_counter), self._next_handler, user),
            )

    def _schedule(self, user: int, now: int, handler: Any) -> None:
        at = now + int(-_log(1.0 - self._random()) * self._think_time) + 1
        if at < self.duration:
            _heappush(self._heap_items, (at, _GENERATED, next(self._heap_counter), handler, user))
