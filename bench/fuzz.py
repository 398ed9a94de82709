"""Coverage-guided fuzzing of billsim's readers with atheris (libFuzzer), run by hand.

    pip install atheris                      # into the project's venv; not a test dependency
    python bench/fuzz.py frames   [--runs N] [--seconds S] [--corpus DIR] [libFuzzer flags…]
    python bench/fuzz.py scenario [--runs N] [--seconds S] [--corpus DIR] [libFuzzer flags…]
    python bench/fuzz.py notes-ini …

`frames` throws mutated frame streams at `decode` (JSON lines and the text view, both
layouts), `check` and the add-in's intake (binary and JSON payloads, with and without
MQTT properties, then the store row); `scenario` throws mutated scenario files at the
loader, the dry run and the first events of the run; `notes-ini` mutated notes.ini files
at `--notes-ini`'s reader. The targets are tests/hostile.py's, the ones the property
tests (tests/test_hostile.py) run: a target fails only on a traceback, or on a refusal
that names no place (file and line or byte offset), prints more than 51 lines, or
cannot be written to a strict UTF-8 stream.

The seed corpus is made fresh in `--corpus` (default: a temporary directory): a few
bundled scenarios run to `.nbf` and JSON lines, and one with the truncate, corrupt and
wrap faults, cut into small streams (`frames`); the
bundled scenarios and the tests' scenario texts (`scenario`); a few notes.ini files.
libFuzzer adds what it finds there. A crash stops the run and leaves `crash-<sha1>`
(the input) in the working directory: replay it with `python bench/fuzz.py frames
crash-<sha1>`, fix it and keep it as a test.

`--runs` (default 1,000,000) bounds the inputs, `--seconds` the time (libFuzzer's
-max_total_time); each input has 10 s before it counts as a hang (-timeout). libFuzzer
prints its figures last ("Done N runs in S second(s)"). Figures of a run are in
docs/hostile-input.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import atheris  # noqa: E402

# Coverage is billsim's own: instrumenting pydantic, PyYAML and the rest too would slow
# every input several times over for branches that are theirs to test.
with atheris.instrument_imports(include=["simulator"]):
    import simulator.addin.intake
    import simulator.commands.decode
    import simulator.commands.run
    import simulator.scenario.loader  # noqa: F401

import hostile  # noqa: E402

from simulator import cli  # noqa: E402
from simulator.scenario.bundled import bundled_scenarios  # noqa: E402

_TARGETS: dict[str, Callable[[bytes], None]] = {
    "frames": hostile.frame_decoder_target,
    "scenario": hostile.scenario_loader_target,
    "notes-ini": hostile.notes_ini_target,
}

_NOTES_INI = (
    b"[Notes]\nServerName=CN=Mail01/O=Acme\nBillingClass=Session,Database,Mail\n",
    b"BillingSuppressTime=15\nBillingAddinWakeup=60\nBillingAddinRuntime=10\n",
    b"BillingAddinOutput=9\r\nBillingClass=Agent, HttpRequest\r\n",
)


def _run_cli(args: list[str]) -> bytes:
    out = io.BytesIO()
    text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    with (
        contextlib.redirect_stdout(text),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.suppress(SystemExit),
    ):
        cli.app(args, standalone_mode=False)
    return out.getvalue()


def seed_corpus(kind: str, corpus: Path) -> int:
    """Writes the seed inputs of `kind` into `corpus`; how many."""
    corpus.mkdir(parents=True, exist_ok=True)
    seeds: list[bytes] = []
    if kind == "frames":
        with tempfile.TemporaryDirectory() as scratch:
            for name in ("lifecycle-demo", "all-classes", "notecreate", "web"):
                nbf = Path(scratch) / f"{name}.nbf"
                _run_cli(["run", name, "--out", str(nbf), "--duration", "2h"])
                data = nbf.read_bytes()
                seeds += [data[:3000], data[:1000], data[1000:5000]]
                lines = _run_cli(["run", name, "--stdout", "--duration", "2h"]).splitlines(True)
                seeds.append(b"".join(lines[:4]))
            # Frames as faults leave them: cut (header + rec.raw), damaged, twice, a wrap.
            faults = ["--fault", "truncate=0.2", "--fault", "corrupt=0.2", "--fault", "wrap=true"]
            nbf = Path(scratch) / "faults.nbf"
            _run_cli(["run", "all-classes", "--out", str(nbf), *faults])
            data = nbf.read_bytes()
            seeds += [data[:4000], data[4000:12000]]
            lines = _run_cli(["run", "all-classes", "--stdout", *faults]).splitlines(True)
            seeds += [b"".join(lines[:8]), b"".join(lines[8:16])]
    elif kind == "scenario":
        seeds += [path.read_bytes() for path in bundled_scenarios().values()]
    else:
        seeds += list(_NOTES_INI)
    for number, data in enumerate(seeds):
        (corpus / f"seed-{number:03d}").write_bytes(data)
    return len(seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=sorted(_TARGETS))
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=0, help="0: no time limit")
    parser.add_argument("--corpus", type=Path, default=None)
    args, libfuzzer = parser.parse_known_args()
    target = _TARGETS[args.target]
    replay = [arg for arg in libfuzzer if not arg.startswith("-") and Path(arg).is_file()]
    flags = [arg for arg in libfuzzer if arg not in replay]
    corpus = args.corpus or Path(tempfile.mkdtemp(prefix=f"billsim-fuzz-{args.target}-"))
    if not replay:
        seeds = seed_corpus(args.target, corpus)
        print(f"fuzz {args.target}: {seeds} seed inputs in {corpus}", file=sys.stderr)
    # libFuzzer ends the process itself when it is done, with its own figures last:
    # "Done N runs in S second(s)"; a crash leaves crash-<sha1> and a traceback.
    argv = [sys.argv[0], f"-runs={args.runs}", "-timeout=10", "-rss_limit_mb=4096", *flags]
    if args.seconds:
        argv.append(f"-max_total_time={args.seconds}")
    argv += [str(path) for path in replay] or [str(corpus)]
    atheris.Setup(argv, _keeping_crashes(target))
    atheris.Fuzz()


def _keeping_crashes(target: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """The target, writing an input that makes it raise to `crash-<sha1>` (in the working
    directory) before the exception ends the run: atheris does not always keep it."""

    def run(data: bytes) -> None:
        try:
            target(data)
        except BaseException:
            Path(f"crash-{hashlib.sha1(data).hexdigest()}").write_bytes(data)
            raise

    return run


if __name__ == "__main__":
    main()
