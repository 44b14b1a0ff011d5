"""The ``pairsearch`` process: run a command of :mod:`pairsearch.cli`, map every error to its exit code.

A user error is one line on stderr and exit 2, never a traceback; Ctrl-C is exit 130 with what
to do next; ``python -m pairsearch`` and the ``pairsearch`` console script both start here.
"""

from __future__ import annotations

import sys

from typer._click.exceptions import NoArgsIsHelpError
from typer.exceptions import Abort, Exit, TyperException
from typer.main import get_command

from pairsearch.cli import app
from pairsearch.errors import EXIT_INTERRUPTED, PairsearchError, error_line


def fail(message: str) -> None:
    """The one way a user error ends: one line on stderr, exit code 2."""
    print(error_line(message), file=sys.stderr, flush=True)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    command = get_command(app)
    try:
        code = command(args=argv, prog_name="pairsearch", standalone_mode=False, default_map=help_off(command))
    except PairsearchError as error:
        fail(str(error))
    except NoArgsIsHelpError as error:  # a bare command: its help, which is what was asked for
        print(str(error))
        sys.exit(0)
    except TyperException as error:  # usage errors: unknown option, bad value, missing option
        message = error.format_message().strip()
        context = getattr(error, "ctx", None)
        if not message and context is not None:  # a group called without a command: typer showed its help
            sys.exit(0)
        fail(message.splitlines()[0])
    except (Abort, KeyboardInterrupt):
        interrupted()
    except Exit as exit_:
        sys.exit(exit_.exit_code)
    except Exception as error:
        # A storage that refuses a write (a read-only database file) or goes away while this
        # process itself uses it (workers ride outages out; this is the one-shot parent).
        from pairsearch.storage.failures import describe_error, is_storage_failure

        if not is_storage_failure(error):
            raise
        fail(f"the storage failed: {describe_error(error)}")
    if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into Exit(130), silently: say what happened
        interrupted()
    sys.exit(code if isinstance(code, int) else 0)


def help_off(command) -> dict:
    """Each command's ``--help`` flag false unless given, as a default of the command line's contexts.

    Typer gives its help flag no default, and coerces a flag without a value through a pydantic
    adapter: importing pydantic for it was half of ``archs``'s CPU time (0.12 of 0.24 s).

    Args:
        command: The click command (group) ``app`` is: its subcommands get their own defaults.
    """
    return {"help": False, **{name: help_off(sub) for name, sub in getattr(command, "commands", {}).items()}}


def interrupted() -> None:
    """How Ctrl-C (or SIGTERM) ends a command: one line, exit code 130."""
    print("pairsearch: interrupted: running work was failed and re-queued; run the same command to continue",
          file=sys.stderr, flush=True)
    sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
