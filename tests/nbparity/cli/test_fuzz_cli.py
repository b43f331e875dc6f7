"""`nbparity fuzz --output`: checked before the campaign runs (a new file in a folder that can
be written), and written whatever the campaign finds, so it always reflects the run. (The
campaign itself, end to end: tests/test_campaign.py.)"""

from __future__ import annotations

import tomllib

from click.testing import CliRunner

from nbparity.cli import cli


def _fuzz(c_binary, folder, *args):
    # the C reference against itself: a short campaign with no findings
    return CliRunner().invoke(cli, ["fuzz", "--n", "1", "--seed", "7", "--reference", "c-ref",
                                    "--candidate", "c-ref", "--c-bin", str(c_binary),
                                    "--no-shrink", "--out", str(folder),
                                    *[str(a) for a in args]])


def test_output_is_written_with_no_findings(c_binary, tmp_path):
    output = tmp_path / "findings.toml"
    result = _fuzz(c_binary, tmp_path / "campaign", "--output", output)
    assert result.exit_code == 0, result.output
    assert "0 findings" in result.output
    assert output.is_file() and tomllib.loads(output.read_text()) == {}  # no [[case]]
    assert "no findings" in output.read_text()


def test_bad_output_is_refused_before_the_campaign_runs(c_binary, tmp_path):
    stale = tmp_path / "findings.toml"
    stale.write_text("# an earlier campaign's findings\n")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for output, words in [(tmp_path / "no" / "such" / "x.toml", "no folder"),
                          (stale, "exists"), (folder, "is a directory")]:
        campaign = tmp_path / "campaign"
        result = _fuzz(c_binary, campaign, "--output", output)
        assert result.exit_code == 2, result.output
        assert "--output" in result.stderr and words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not campaign.exists()  # refused up front: no campaign ran
    assert stale.read_text() == "# an earlier campaign's findings\n"
    assert list(folder.iterdir()) == []
