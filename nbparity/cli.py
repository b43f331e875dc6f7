"""The ``nbparity`` command line: a click group whose commands stay thin.

Every error reaches the user as one line on stderr plus the contract's exit code
(``nbparity.exitcodes``), never a traceback.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from nbparity import __version__, exitcodes, schema


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


@cli.command("schema")
@click.option("--stage", type=click.Choice(schema.STAGES), help="Only the keys of one stage.")
def schema_command(stage: str | None) -> None:
    """Print the trace contract's key catalogue in pipeline order."""
    table = Table(title=f"trace contract v{schema.SCHEMA_VERSION}: key catalogue")
    for column in ("#", "key", "stage", "n", "kind", "unit / meaning"):
        table.add_column(column)
    for key in schema.CATALOGUE:
        if stage and key.stage != stage:
            continue
        table.add_row(str(key.order), key.name, key.stage, str(key.arity), key.kind, key.unit)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    result = cli.main(args=argv, prog_name="nbparity")
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
