"""The stock ``-printout_pixel`` reader (nbparity.parse.printout) on hostile blocks: a field it
cannot read is one line naming ``file:line`` (exit 2), never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nbparity.cli import cli
from nbparity.parse import TraceFormatError, parse_printout_text

HEAD = "  32   32 : stol = 2.35702e+06 or 0.000235702"
HKL = "hkl= -0.000011 0.033333 -0.033333  hkl0= 0 0 0"


@pytest.fixture()
def printout(upstream_dir) -> str:
    text = (upstream_dir / "cubic_default_F" / "printout_32_32.txt").read_text()
    lines = text.splitlines()
    assert lines[54] == HEAD and lines[56] == HKL  # lines 55 and 57
    return text


@pytest.mark.parametrize("old, new, message", [
    (HKL, HKL.replace("hkl0= 0 0 0", "hkl0= 0 5.0 1"),
     "x.txt:57: hkl0 needs an integer, found '5.0'"),
    (HKL, HKL.replace("hkl0= 0 0 0", "hkl0= 0 5 nan"),
     "x.txt:57: hkl0 needs an integer, found 'nan'"),
    (HKL, HKL.replace("hkl0= 0 0 0", "hkl0= 0 0 99999999999999999999999"),
     "x.txt:57: hkl0 99999999999999999999999 is out of range"),
    (HEAD, HEAD.replace("32   32", "32   99999999999999999999999"),
     "x.txt:55: pixel 99999999999999999999999 is out of range"),
])
def test_a_field_that_is_not_an_integer_names_its_line(printout, tmp_path, old, new, message):
    text = printout.replace(old, new)
    with pytest.raises(TraceFormatError) as info:
        parse_printout_text(text, "x.txt")
    assert str(info.value) == message
    path = tmp_path / "x.txt"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["diff", str(path), str(path)])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.strip().endswith(f"error: {message.replace('x.txt', str(path))}")
