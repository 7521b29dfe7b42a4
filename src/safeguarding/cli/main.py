"""The ``safeguarding`` command: registers every command group and turns errors into exit codes.

Exit codes: 0 ok, 1 failure (one clear line on stderr; the traceback only with ``--debug``),
2 usage error.
"""

from __future__ import annotations

import sys
import traceback

import typer

from safeguarding import __version__
from safeguarding.allocator import reuse_freed_memory
from safeguarding.cli import (
    assess,
    db,
    demo,
    evidence,
    hashlist,
    helpline,
    ingest,
    monitor,
    platforms,
    triage,
    users,
)
from safeguarding.cli.common import err_console, shown
from safeguarding.errors import SafeguardingError

app = typer.Typer(
    name="safeguarding",
    help=(
        "Triage provider reports, weigh detection measures, assess platform risk and learn from "
        "helpline contacts, with privacy built in.\n\nExample: safeguarding demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"safeguarding {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    _state["debug"] = debug


app.add_typer(db.app, name="db")
app.add_typer(evidence.app, name="evidence")
app.add_typer(hashlist.app, name="hashlist")
app.add_typer(triage.app, name="triage")
app.add_typer(helpline.app, name="helpline")
ingest.register(app)
triage.register(app)
monitor.register(app)
assess.register(app)
demo.register(app)
platforms.register(app)
users.register(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (used by ``main`` and by tests)."""
    _state["debug"] = False
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="safeguarding", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except typer.TyperException as exc:
        # Usage errors carry exit code 2, other command-line errors 1.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except SafeguardingError as exc:
        if _state["debug"]:
            traceback.print_exc()
        # A message may quote input that is not UTF-8 (a file's name): shown escaped, so that
        # the one line is written whatever the error stream's encoding.
        print(f"error: {shown(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _state["debug"]:
            traceback.print_exc()
        else:
            print(
                f"error: unexpected {type(exc).__name__}: {shown(str(exc))} "
                "(run with --debug for details)",
                file=sys.stderr,
            )
        return 1
    return result if isinstance(result, int) else 0


def main() -> None:
    reuse_freed_memory()
    sys.exit(run())
