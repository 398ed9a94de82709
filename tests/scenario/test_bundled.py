"""The bundled scenarios found by name, and what a path that is no scenario file is called."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from paths import REPO

from simulator.errors import InputError
from simulator.scenario.bundled import (
    bundled_scenarios,
    not_a_file,
    resolve_scenario,
    scenarios_dir,
)


def test_a_source_checkout_finds_the_scenarios_beside_the_package() -> None:
    assert scenarios_dir() == REPO / "scenarios"
    found = bundled_scenarios()
    assert list(found) == sorted(found)
    assert found["lifecycle-demo"] == REPO / "scenarios" / "lifecycle-demo.yaml"
    assert {path.suffix for path in found.values()} == {".yaml"}


def test_a_name_with_or_without_yaml_is_a_bundled_scenario() -> None:
    expected = REPO / "scenarios" / "all-classes.yaml"
    assert resolve_scenario("all-classes") == expected
    assert resolve_scenario("all-classes.yaml") == expected


def test_a_file_at_the_path_wins_over_a_bundled_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "all-classes").write_text("name: mine\n")
    assert resolve_scenario("all-classes") == Path("all-classes")


def test_an_unknown_name_lists_the_bundled_ones() -> None:
    with pytest.raises(InputError) as info:
        resolve_scenario("no-such-scenario")
    assert info.value.file == "no-such-scenario"
    assert str(info.value).endswith(
        "no such file, nor a bundled scenario (bundled: " + ", ".join(bundled_scenarios()) + ")"
    )


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_name_is_no_name_not_the_current_directory(name: str) -> None:
    with pytest.raises(InputError) as info:
        resolve_scenario(name)
    assert str(info.value).startswith("an empty name: give a scenario file or a bundled name")


def test_what_is_at_a_path_that_is_no_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    afile = tmp_path / "a.yaml"
    afile.write_text("")
    assert not_a_file(tmp_path / "missing.yaml") is None
    assert not_a_file(tmp_path) == "is a directory, not a scenario file"
    assert not_a_file(fifo) == "is a FIFO (a named pipe), not a scenario file"
    assert not_a_file(afile / "b.yaml") == f"no such file: {afile} is a file, not a directory"
    assert not_a_file(afile) is None  # a regular file: nothing to say
