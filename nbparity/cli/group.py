"""The ``nbparity`` click group and what every command shares: one-line failures with the
contract's exit codes, output written atomically, a progress bar, the default case file."""

from __future__ import annotations

import contextlib
import sys

import click
from rich.console import Console

from nbparity import __version__, exitcodes, resources
from nbparity.atomic import atomic_write
from nbparity.cases import TRACES_DIR

# TRACES_DIR comes from nbparity.resources: a clone's traces/, else the wheel's copy.
DEFAULT_CASES = TRACES_DIR / "cases.toml"
GOLDEN_DIR = resources.golden_dir()  # outside a clone ./golden: never into the package


class _OneLineErrors(click.Group):
    """A group that reports usage errors in one line (click's default prints three)."""

    def main(self, args=None, prog_name=None, **extra):  # noqa: D401 - click signature
        try:
            return super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else (prog_name or "nbparity")
            click.echo(f"{command}: error: {exc.format_message()}", err=True)
            sys.exit(exitcodes.USAGE)
        except click.ClickException as exc:
            click.echo(f"{prog_name or 'nbparity'}: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code if exc.exit_code else exitcodes.USAGE)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbparity")
def cli() -> None:
    """Parity harness for nanoBragg ports: trace both engines at a pixel, diff the traces,
    name the first divergence, and gate CI on relative error."""


class Failure(click.ClickException):
    """A one-line failure with the contract's exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


def write_output(text: str, output: str | None, force: bool) -> None:
    """Print, or write FILE atomically; an existing file is kept unless --force."""
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    try:
        atomic_write(output, text, overwrite=force)
    except FileExistsError:
        raise Failure(f"--output: {output} exists (use --force to replace it)",
                      exitcodes.USAGE) from None
    except OSError as exc:
        raise Failure(f"--output: cannot write {output}: {exc.strerror or exc}",
                      exitcodes.USAGE) from None


@contextlib.contextmanager
def progress_bar(total: int):
    """A rich progress display on stderr; yields the (label, done) callback the runners take."""
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("", total=total)
        yield lambda label, done: progress.update(task, description=label, completed=done)
