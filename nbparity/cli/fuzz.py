"""``nbparity fuzz``: a parity campaign (``nbparity.campaign``) from the command line."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click
from rich.console import Console

from nbparity import exitcodes
from nbparity.cli.group import Failure, cli, write_output
from nbparity.cli.options import SECONDS, check_device, engine_options, resolve_engines
from nbparity.engines import EngineOptions


@cli.command("fuzz")
@click.option("--n", "count", type=click.IntRange(1), default=50, show_default=True,
              help="How many random configurations (indices 0 .. n-1 of the seed).")
@click.option("--seed", type=int, default=20261121, show_default=True)
@engine_options
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write the findings' minimal cases (one per class) as a TOML case file "
                   "(a new file, checked before the campaign runs; written with no findings "
                   "too).")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
              help="0: run in this process; N: a local Dask cluster of N single-threaded "
                   "worker processes.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing Dask cluster (e.g. tcp://host:8786) instead.")
@click.option("--connect-timeout", type=SECONDS, default=10.0, show_default=True,
              help="Seconds to wait for --scheduler before giving up (exit 4).")
@click.option("--chunk", type=click.IntRange(1), default=1, show_default=True,
              help="Configurations per Dask task (more on a large cluster).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="The campaign folder (default: runs/campaign-SEED-N); running again with "
                   "the same folder resumes (and a larger --n extends) the campaign.")
@click.option("--level", type=click.Choice(["auto", "trace", "image"]), default="auto",
              show_default=True, help="Judge configurations by their traces, their images, "
                                      "or whatever suits each (auto).")
@click.option("--no-shrink", is_flag=True, help="Report each class's first configuration as it "
                                                "is (no shrinking to a minimal case).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True, help="What is printed on stdout (the folder "
                                                       "always gets report.json and report.md).")
def fuzz_command(count, seed, reference_spec, candidate_spec, c_bin, device, dtype, timeout_s,
                 output, workers, scheduler, connect_timeout, chunk, out_dir, level, no_shrink,
                 fmt):
    """A parity campaign: draw random valid configurations, run the reference and the candidate
    (default: the C engine and the simulator) in this process or on a Dask cluster, record one
    row per configuration in the campaign folder, shrink each class of findings to a minimal
    case and report it once (exit 1 if anything diverged)."""
    from nbparity import campaign_report
    from nbparity.campaign import CampaignError, CampaignSpec, ClusterError, run_campaign

    check_device(device)
    if output and output != "-":
        _check_output(output)
    if scheduler and workers:
        raise click.UsageError("--workers starts a local cluster, --scheduler names one: "
                               "give one of them")
    options = EngineOptions(c_bin, None, "spec", None, device, dtype, timeout_s)
    reference, candidate = resolve_engines(reference_spec, candidate_spec, "both", options)
    folder = Path(out_dir) if out_dir else Path("runs") / f"campaign-{seed}-{count}"
    spec = CampaignSpec(seed=seed, n=count, reference=reference, candidate=candidate,
                        folder=folder, level=level, workers=workers, scheduler=scheduler,
                        shrink=not no_shrink, connect_timeout_s=connect_timeout,
                        chunk=chunk)
    try:
        with campaign_report.progress_line(count) as on_progress:
            result = run_campaign(spec, on_progress)
    except CampaignError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None
    except ClusterError as exc:
        raise Failure(str(exc), exitcodes.ENGINE_FAILED) from None
    except OSError as exc:
        raise Failure(f"--out: cannot write {folder}: {exc.strerror or exc}",
                      exitcodes.USAGE) from None
    if output == "-":
        if result.classes:
            click.echo(campaign_report.findings_toml(result), nl=False)
    elif output:  # always, so the file reflects this run: no findings is a file without cases
        write_output(campaign_report.findings_toml(result)
                     or f"# no findings: {campaign_report.summary_line(result)}\n",
                     output, force=False)
    if fmt == "json":
        click.echo(campaign_report.report_json(result), nl=False)
    elif fmt == "markdown":
        click.echo(campaign_report.report_markdown(result), nl=False)
    else:
        if result.classes:
            Console(width=200).print(campaign_report.table(result))
        else:
            click.echo(campaign_report.summary_line(result))
        click.echo(f"report: {result.paths['markdown']} (rows: {folder / 'results'})")
    sys.exit(result.exit_code)


def _check_output(output: str) -> None:
    """--output before the campaign runs: a new file (fuzz replaces none) in a folder that
    exists and can be written; a device or a FIFO is written as ``write_output`` does."""
    path = Path(output)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise Failure(f"--output: {output} is a dangling symbolic link",
                          exitcodes.USAGE) from None
        st = None
    except OSError as exc:
        raise Failure(f"--output: cannot write {output}: {exc.strerror or exc}",
                      exitcodes.USAGE) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise Failure(f"--output: {output} is a directory", exitcodes.USAGE)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            return
        raise Failure(f"--output: {output} exists (fuzz replaces no file: remove it or name "
                      f"another)", exitcodes.USAGE)
    folder = path.parent
    if not folder.is_dir():
        raise Failure(f"--output: cannot write {output}: no folder {folder}", exitcodes.USAGE)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise Failure(f"--output: cannot write {output}: {folder} is not writable",
                      exitcodes.USAGE)
