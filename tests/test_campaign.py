"""Parity campaigns (nbparity.campaign, `nbparity fuzz`): a local Dask cluster gives the rows and
findings of the in-process run, an interrupted campaign resumes without redoing work, a fault is
reported once per class with its minimal case and explanation, and the CLI end to end."""

from __future__ import annotations

import dataclasses
import json
import pickle
import tomllib

import pytest
from click.testing import CliRunner

import simulator.cli
from nbparity import campaign_tasks, exitcodes
from nbparity.campaign import CampaignError, CampaignSpec, read_rows, run_campaign
from nbparity.cases import load_cases
from nbparity.cli import cli
from nbparity.engines import EngineOptions, resolve_engine

SEED = 20261203
#: the columns that depend on where and when a row was made, not on what it says
PLACE_AND_TIME = ("seconds", "worker", "finished_unix")


@pytest.fixture
def engines(c_binary):
    options = EngineOptions(c_bin=str(c_binary))
    return (resolve_engine("c-ref", options, "--reference"),
            resolve_engine("nbsim", options, "--candidate"))


def _spec(folder, engines, n, **extra) -> CampaignSpec:
    reference, candidate = engines
    extra.setdefault("max_evaluations", 12)
    return CampaignSpec(seed=SEED, n=n, reference=reference, candidate=candidate,
                        folder=folder, **extra)


def _what(rows):
    """The rows without place and time (NaN as None: NaN is not equal to itself)."""
    return [{k: (None if v != v else v) for k, v in row.items() if k not in PLACE_AND_TIME}
            for row in rows]


def _classes(result):
    return [(c.name, c.count, c.signature, c.minimal_case) for c in result.classes]


def test_engines_travel_by_pickle(engines, tmp_path):
    for engine in engines:
        again = pickle.loads(pickle.dumps(engine))
        assert again == engine and again.label() == engine.label()
    spec = _spec(tmp_path, engines, 3)
    assert pickle.loads(pickle.dumps(spec)).identity() == spec.identity()


def test_local_cluster_gives_the_in_process_rows_and_findings(engines, tmp_path):
    local = run_campaign(_spec(tmp_path / "local", engines, 6))
    cluster = run_campaign(_spec(tmp_path / "cluster", engines, 6, workers=2, window=2,
                                 chunk=2))  # 3 tasks of 2, 2 in flight: the window refills
    assert [r["index"] for r in cluster.rows] == list(range(6))
    assert _what(cluster.rows) == _what(local.rows)
    assert _classes(cluster) == _classes(local)
    assert {r["worker"] for r in local.rows} == {"local"}
    assert {r["worker"] for r in cluster.rows} <= {"0", "1"}  # the cluster's worker processes
    assert cluster.workers == 2 and cluster.start_seconds > 0
    assert json.loads((tmp_path / "cluster" / "report.json").read_text())["totals"][
        "held"] == 6


def test_an_existing_scheduler(engines, tmp_path):
    import logging

    from distributed import LocalCluster

    local = run_campaign(_spec(tmp_path / "local", engines, 3, shrink=False))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, name="elsewhere",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
        worker = next(iter(cluster.workers.values())).name
        remote = run_campaign(_spec(tmp_path / "remote", engines, 3, shrink=False,
                                    scheduler=cluster.scheduler_address))
        assert cluster.scheduler_address  # still up: the campaign only disconnected
    assert _what(remote.rows) == _what(local.rows)
    assert {r["worker"] for r in remote.rows} == {str(worker)} and remote.workers == 1


class _Stop(Exception):
    pass


def test_an_interrupted_campaign_resumes_without_redoing_work(engines, tmp_path, monkeypatch):
    evaluated = []
    real = campaign_tasks._evaluate

    def spy(case, mode, *args):
        evaluated.append(case.name)
        return real(case, mode, *args)

    monkeypatch.setattr(campaign_tasks, "_evaluate", spy)

    def stop_after_two(state):
        if state.phase == "run" and state.evaluated >= 2:
            raise _Stop()

    folder = tmp_path / "c"
    with pytest.raises(_Stop):
        run_campaign(_spec(folder, engines, 5, shrink=False), stop_after_two)
    first = read_rows(folder)
    assert [r["index"] for r in first] == [0, 1] and len(evaluated) == 2

    evaluated.clear()
    resumed = run_campaign(_spec(folder, engines, 5, shrink=False, explain=False))
    assert resumed.evaluated == [2, 3, 4]
    assert [r["index"] for r in resumed.rows] == [0, 1, 2, 3, 4]
    assert _what(resumed.rows[:2]) == _what(first)  # the interrupted run's rows, untouched
    assert [r["finished_unix"] for r in resumed.rows[:2]] == [r["finished_unix"] for r in first]
    signatures = {row["signature"] for row in resumed.rows if row["exit_code"] != 0}
    assert len(evaluated) == 3 + len(signatures)  # each class's example is judged once more

    evaluated.clear()
    again = run_campaign(_spec(folder, engines, 5, shrink=False, explain=False))
    assert again.evaluated == [] and len(again.rows) == 5
    assert evaluated == []  # nothing evaluated, nothing shrunk again (shrunk/ holds it)
    assert _classes(again) == _classes(resumed)
    extended = run_campaign(_spec(folder, engines, 7, shrink=False, explain=False))
    assert extended.evaluated == [5, 6] and len(extended.rows) == 7

    with pytest.raises(CampaignError, match="holds another campaign"):
        run_campaign(_spec(folder, engines, 5, level="image"))


def test_a_fault_is_reported_once_per_class(engines, tmp_path, monkeypatch):
    original = simulator.cli.parse_argv

    def brighter(argv, cwd=None):  # a fault in the port: 1% more photons
        config = original(argv, cwd)
        return dataclasses.replace(config, beam=dataclasses.replace(
            config.beam, fluence=config.beam.fluence * 1.01))

    monkeypatch.setattr(simulator.cli, "parse_argv", brighter)
    folder = tmp_path / "fault"
    result = run_campaign(_spec(folder, engines, 4))
    assert result.exit_code == exitcodes.DIVERGED and result.findings >= 3
    assert result.classes
    assert sum(c.count for c in result.classes) == result.findings
    assert len({c.name for c in result.classes}) == len(result.classes)

    report = json.loads((folder / "report.json").read_text())
    markdown = (folder / "report.md").read_text()
    assert report["totals"]["findings"] == result.findings
    assert len(report["classes"]) == len(result.classes)
    for number, finding in enumerate(report["classes"], 1):
        assert finding["count"] >= 1 and finding["signature"]
        entry = tomllib.loads(finding["minimal_case"])["case"][0]
        assert entry["args"] and entry["pixels"]
        assert finding["explanation"] and "(no explanation" not in finding["explanation"]
        assert f"## {number}. {finding['name']}" in markdown
        assert markdown.count(f"## {number}. ") == 1  # once per class
        assert finding["minimal_case"].strip().splitlines()[-1] in markdown
        if finding["figure"]:
            assert (folder / finding["figure"]).stat().st_size > 0
            assert f"]({finding['figure']})" in markdown
    cases = load_cases(folder / "findings.toml")  # runs as it is: inputs copied beside it
    assert len(cases) == len(result.classes)
    assert all(case.folder == folder / "inputs" for case in cases)
    assert [case.args for case in cases] == [tuple(c.minimal_args) for c in result.classes]


def test_cli_end_to_end(c_binary, tmp_path):
    out = tmp_path / "nightly"
    args = ["fuzz", "--n", "3", "--seed", str(SEED), "--c-bin", str(c_binary),
            "--out", str(out), "--format", "json", "--no-shrink"]
    first = CliRunner().invoke(cli, args)
    report = json.loads(first.stdout)
    assert first.exit_code == (1 if report["totals"]["findings"] else 0), first.output
    assert report["totals"]["evaluated_now"] == 3 and report["campaign"]["seed"] == SEED
    assert (out / "campaign.json").is_file() and (out / "report.md").is_file()
    assert list((out / "results").glob("part-*.parquet"))

    again = CliRunner().invoke(cli, args)  # resumed: nothing left to evaluate
    assert json.loads(again.stdout)["totals"]["evaluated_now"] == 0
    assert again.exit_code == first.exit_code

    other = CliRunner().invoke(cli, [*args[:4], "7", *args[5:]])
    assert other.exit_code == exitcodes.USAGE
    assert len(other.stderr.strip().splitlines()) == 1 and "another campaign" in other.stderr

    away = CliRunner().invoke(cli, ["fuzz", "--n", "2", "--out", str(tmp_path / "x"),
                                    "--scheduler", "tcp://127.0.0.1:9",
                                    "--connect-timeout", "0.5"])
    assert away.exit_code == exitcodes.ENGINE_FAILED
    assert "tcp://127.0.0.1:9" in away.stderr and len(away.stderr.strip().splitlines()) == 1
