"""The control topic's commands (docs/mqtt.md): parse one, apply it, say what happened."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from simulator.domino.simulation import Simulation
from simulator.errors import InputError
from simulator.scenario.notes_ini import SERVER_NAME
from simulator.scenario.speed import Speed

Reply = dict[str, Any]


class ControlError(ValueError):
    """A command that cannot be applied; its message goes back in the error reply."""


class Controller:
    """Applies control commands to a running simulation.

    `stats` supplies the stats message (the daemon knows the drain's counters);
    `on_quit` starts a shutdown.
    """

    def __init__(
        self,
        sim: Simulation,
        *,
        stats: Callable[[], dict[str, Any]],
        on_quit: Callable[[], None],
    ) -> None:
        self.sim = sim
        self.stats = stats
        self.on_quit = on_quit

    def handle(self, payload: bytes) -> Reply:
        """The reply to one command; never raises for bad input."""
        try:
            command = self._parse(payload)
            return {"ok": True, "cmd": command["cmd"], **self._apply(command)}
        except ControlError as error:
            return {"ok": False, "error": str(error)}

    @staticmethod
    def _parse(payload: bytes) -> dict[str, Any]:
        try:
            command = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ControlError(f"not a JSON object: {error}") from None
        if not isinstance(command, dict):
            raise ControlError('a command is one JSON object, e.g. {"cmd": "pause"}')
        if not isinstance(command.get("cmd"), str):
            raise ControlError('missing "cmd" (pause, resume, speed, set, stats, quit)')
        return command

    def _apply(self, command: dict[str, Any]) -> Reply:
        sim = self.sim
        name = command["cmd"]
        if name == "pause":
            sim.pause()
            return {"paused": True}
        if name == "resume":
            sim.resume()
            return {"paused": False}
        if name == "speed":
            value = command.get("value")
            if not isinstance(value, str):
                raise ControlError('speed needs "value": "realtime", "max" or "Nx" (e.g. "60x")')
            try:
                speed = Speed.parse(value)
            except ValueError as error:
                raise ControlError(str(error)) from None
            sim.set_speed(speed)
            return {"speed": str(speed)}
        if name == "set":
            setting, value = command.get("name"), command.get("value")
            if not isinstance(setting, str):
                raise ControlError('set needs "name" (a notes.ini setting) and "value"')
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise ControlError(f"{setting}: value must be a string or a whole number")
            try:
                changed = sim.settings.with_setting(setting, value)  # validated, not applied
            except InputError as error:
                raise ControlError(str(error)) from None
            # The server's name is in every topic and in the run's identity, fixed at start.
            if (changed.server_name or sim.scenario.server) != sim.server_name:
                raise ControlError(f"{SERVER_NAME} cannot change while the server runs")
            settings = sim.apply_setting(setting, value)
            return {"settings": _shown(settings.as_ini())}
        if name == "stats":
            return {"stats": self.stats()}
        if name == "quit":
            self.on_quit()
            return {"quitting": True}
        raise ControlError(f"unknown command {name!r} (pause, resume, speed, set, stats, quit)")


def _shown(values: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in values.items() if value is not None}
