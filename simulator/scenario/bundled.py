"""The scenarios shipped with billsim, found by name."""

from __future__ import annotations

from pathlib import Path

from simulator.errors import InputError

# The `simulator` package: wheels carry the scenarios in it (pyproject force-include).
_PACKAGE = Path(__file__).resolve().parents[1]


def scenarios_dir() -> Path:
    """Installed wheels carry them in the package; a source checkout has them beside it."""
    installed = _PACKAGE / "_scenarios"
    return installed if installed.is_dir() else _PACKAGE.parent / "scenarios"


def bundled_scenarios() -> dict[str, Path]:
    return {path.stem: path for path in sorted(scenarios_dir().glob("*.yaml"))}


def resolve_scenario(name_or_path: str) -> Path:
    """A path if one exists there, else a bundled scenario's name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = bundled_scenarios()
    found = bundled.get(name_or_path.removesuffix(".yaml"))
    if found is not None:
        return found
    names = ", ".join(bundled) or "none"
    raise InputError(f"no such file, nor a bundled scenario (bundled: {names})", file=name_or_path)
