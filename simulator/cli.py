"""The `billsim` command line (DESIGN §8).

Each command is one small function here that parses its options and calls the code that
does the work (`simulator.decode`, …), which knows nothing of typer. To add one:

    @app.command("check")
    def check_command(file: InputArgument, layout: LayoutOption = Layout.LINUX_X86_64) -> None:
        \"\"\"One line for the command list (the rest of the docstring is its --help).\"\"\"
        check_file(file, sys.stdout, layout=layout)

To fail, raise a `BillsimError` (`InputError` for bad input): `BillsimGroup` turns it into
one line on stderr and its exit code (0 ok, 1 failed, 2 bad input), never a traceback,
under `main()` and typer's `CliRunner` alike. Options that several commands take are
declared once below (`LayoutOption`, `InputArgument`). A command that needs heavy imports
(asyncio networking, gmqtt) imports them inside its function (`# noqa: PLC0415`), so that
`billsim --help` and `billsim decode` stay fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from simulator import __version__
from simulator.decode import decode_file
from simulator.errors import EXIT_OK, BillsimError
from simulator.layout import Layout

PROG_NAME = "billsim"


def report_error(error: BillsimError) -> None:
    """One line on stderr, after what was already written to stdout (so they read in order)."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        sys.stdout.flush()
    typer.echo(f"{PROG_NAME}: {error}", err=True)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the final flush cannot complain."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (typer's CliRunner): nothing is flushed to a pipe at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class BillsimGroup(TyperGroup):
    """Runs a command; a BillsimError becomes its message and exit code, a closed pipe exit 0."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BillsimError as error:
            report_error(error)
            raise typer.Exit(error.exit_code) from None
        except BrokenPipeError:
            # The reader went away (`billsim decode f | head`): what it wanted, it got.
            _silence_stdout()
            raise typer.Exit(EXIT_OK) from None


app = typer.Typer(
    name=PROG_NAME,
    cls=BillsimGroup,
    help="Simulate a Domino server's billing: BILLMSG frames from MQ$BILLING to MQTT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # plain help and one-line errors; paragraphs rewrap
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Options and arguments more than one command takes.
LayoutOption = Annotated[
    Layout,
    typer.Option(
        "--layout",
        help="Struct layout of the frames: natural alignment (also Win64) or packed.",
        show_default=True,
    ),
]
InputArgument = Annotated[
    str,
    typer.Argument(
        metavar="FILE|-",
        help="Frames back to back (the .nbf form); - reads standard input.",
        show_default=False,
    ),
]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG_NAME} {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # The group's own options; its help is the app's `help` above.
    pass


@app.command("decode")
def decode_command(file: InputArgument, layout: LayoutOption = Layout.LINUX_X86_64) -> None:
    """Frames to JSON lines, one per frame, with seq from 1.

    Custom struct types (32001-65535) come out as the header plus "raw" (--scenario, to name
    them, comes with the scenario loader). Exit 2 at a frame that cannot be read, naming its
    byte offset, or at the end if any frame had an unknown struct type.
    """
    decode_file(file, sys.stdout, sys.stderr, layout=layout)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script `billsim` and `python -m simulator`: exits with the command's code."""
    try:
        app(args=argv, prog_name=PROG_NAME)
    except BillsimError as error:  # raised outside a command, e.g. by an option's callback
        report_error(error)
        sys.exit(error.exit_code)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_OK)
