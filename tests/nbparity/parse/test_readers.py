"""The trace readers: contract grammar, legacy forms, stock printouts, and their errors."""

from __future__ import annotations

import math

import pytest

from nbparity.cases import upstream_cases
from nbparity.parse import (
    DuplicateRecordError,
    TraceFormatError,
    parse_printout_text,
    parse_trace_file,
    parse_trace_text,
)

CONTRACT_LOG = """\
some ordinary engine output
TRACE_C: trace_pixel 3 7
TRACE_C: schema_version 1
TRACE_C: engine c-reference
TRACE_C: fdet_vec 0 0 1
TRACE_C: distance_meters 0.10000000000000001
TRACE_C_PHI: phi_tic=0 mos_tic=0 hkl_frac 0.5 -1.25 3
TRACE_C_PHI: phi_tic=1 mos_tic=0 sub=2 hkl_frac 0.5 -1.25 nan
TRACE_C_PHI: phi_tic=1 mos_tic=0 hkl_rounded 1 -1 3
TRACE_C: I_pixel_final inf
TRACE_C: trace_pixel 4 0
TRACE_C: I_pixel_final -inf
"""


def test_contract_log_becomes_one_row_per_component():
    log = parse_trace_text(CONTRACT_LOG, "c.log")
    frame = log.frame
    assert log.grammar == "contract"
    assert log.pixels == [(3, 7), (4, 0)]
    assert log.ignored_lines == 1
    fdet = frame[frame.key == "fdet_vec"]
    assert list(fdet.component) == [0, 1, 2] and list(fdet.value) == [0.0, 0.0, 1.0]
    assert frame[frame.key == "distance_meters"].value.iloc[0] == 0.1
    steps = frame[(frame.key == "hkl_frac") & (frame.phi_tic == 1)]
    assert list(steps["sub"]) == [2, 2, 2] and math.isnan(steps.value.iloc[2])
    finals = frame[frame.key == "I_pixel_final"]
    assert list(zip(finals.slow, finals.value)) == [(3, math.inf), (4, -math.inf)]
    assert (frame.resolution == 0).all()
    assert frame[frame.key == "engine"].text.iloc[0] == "c-reference"


@pytest.mark.parametrize(
    "bad, where",
    [
        ("TRACE_C: trace_pixel 1 2\nTRACE_C: fdet_vec 0 1\n", "c.log:2"),
        ("TRACE_C: trace_pixel 1 2\nTRACE_C: distance_meters abc\n", "c.log:2"),
        ("TRACE_C: trace_pixel 1 2\nTRACE_C: 9key 1\n", "c.log:2"),
        ("TRACE_C: trace_pixel 1 2\nTRACE_C_PHI: mos_tic=0 F_latt 1\n", "c.log:2"),
        ("TRACE_C: trace_pixel 1 x\n", "c.log:1"),
        ("TRACE_C: trace_pixel 1 2\nTRACE_C: hkl_rounded 1 2 3.5\n", "c.log:2"),
        ("just text\n", "c.log:1"),
        # integers beyond the records' int64 columns: an error, not an OverflowError
        ("TRACE_C: trace_pixel 99999999999999999999999 2\nTRACE_C: F_latt 1\n", "c.log:1"),
        ("TRACE_C: trace_pixel 1 2\nTRACE_C_PHI: phi_tic=1234567890123456789012 F_latt 1\n",
         "c.log:2"),
        ("TRACE_C: trace_pixel 1 2\nTRACE_C_PHI: phi_tic=0 mos_tic=0 F_latt 1\n"
         "TRACE_C_PHI: phi_tic=0 mos_tic=-18446744073709551617 F_latt 1\n", "c.log:3"),
        ("", "c.log:1"),
    ],
)
def test_malformed_logs_name_file_and_line(bad, where):
    with pytest.raises(TraceFormatError) as info:
        parse_trace_text(bad, "c.log")
    assert str(info.value).startswith(where)
    assert "\n" not in str(info.value)


def test_duplicate_record_in_contract_log_is_structural():
    text = "TRACE_PY: trace_pixel 1 2\nTRACE_PY: polar 1\nTRACE_PY: polar 1\n"
    with pytest.raises(DuplicateRecordError, match="py.log:3: duplicate record polar"):
        parse_trace_text(text, "py.log")


def test_legacy_forms_are_read_and_repetitions_counted():
    text = (
        "TRACE_C:pix0_vector=0.1 0.02 -0.03\n"
        "TRACE_C: I_before_scaling_pre_polar 12.5\n"
        "TRACE_C: I_before_scaling_pre_polar 99\n"
        "TRACE_C_PHI phi_tic=0 phi_deg=0 k_frac=-0.25 F_latt_b=1.5 F_latt=2.5\n"
    )
    log = parse_trace_text(text, "legacy.log")
    frame = log.frame
    assert log.grammar == "legacy"
    assert log.repeated == {"I_before_scaling": 1}
    assert frame[frame.key == "I_before_scaling"].value.tolist() == [12.5]
    k = frame[frame.key == "hkl_frac"]
    assert k.component.tolist() == [1] and k.value.tolist() == [-0.25]
    # the built-in key map (nbparity.keymap) gives nanoBragg's pix0_vector its contract name
    assert frame[frame.key == "pix0_vector_meters"].value.tolist() == [0.1, 0.02, -0.03]
    # Legacy values were printed with few digits: the reader records their resolution.
    assert frame[frame.key == "F_latt"].resolution.iloc[0] == pytest.approx(0.05)


def test_stock_printouts_of_every_upstream_case_parse():
    count = 0
    for case in upstream_cases():
        for path in sorted(case.folder.glob("printout_*.txt")):
            slow, fast = (int(x) for x in path.stem.split("_")[1:])
            blocks = parse_printout_text(path.read_text(), str(path))
            assert [(b.slow, b.fast) for b in blocks] == [(slow, fast)]
            assert blocks[0].pixel >= 0 and blocks[0].omega > 0
            count += 1
    assert count >= 35


def test_printout_as_trace_frame_maps_final_and_last_step_keys(upstream_dir):
    log = parse_trace_file(upstream_dir / "cubic_default_F" / "printout_32_32.txt")
    frame = log.frame
    assert log.grammar == "printout" and log.pixels == [(32, 32)]
    final = frame[frame.key == "I_pixel_final"]
    assert final.value.iloc[0] == pytest.approx(149.9624481)
    # %15.10g: resolution is half a unit in the 10th significant digit.
    assert final.resolution.iloc[0] == pytest.approx(5e-8)
    assert set(frame[frame.stage == "phi"].phi_tic) == {-2}


def test_truncated_printout_is_an_error_naming_the_line(upstream_dir):
    text = (upstream_dir / "cubic_default_F" / "printout_32_32.txt").read_text()
    cut = text[: text.index("omega")]
    with pytest.raises(TraceFormatError, match=r"x.txt:\d+: printout block truncated"):
        parse_printout_text(cut, "x.txt")


def test_unreadable_and_binary_files(tmp_path):
    with pytest.raises(TraceFormatError, match="cannot read"):
        parse_trace_file(tmp_path / "missing.log")
    binary = tmp_path / "b.log"
    binary.write_bytes(b"TRACE_C: x 1\x00\x01")
    with pytest.raises(TraceFormatError, match="b.log:1: binary data"):
        parse_trace_file(binary)


def test_detector_shape_follows_nanobragg_options():
    from nbparity.cases import detector_shape

    assert detector_shape(["-detpixels", "64"]) == (64, 64)
    assert detector_shape(["-detpixels_s", "2527", "-detpixels_f", "2463"]) == (2527, 2463)
    assert detector_shape(["-detpixels_y", "10", "-detpixels_x", "20"]) == (10, 20)
    assert detector_shape([]) == (1024, 1024)  # 102.4 mm / 0.1 mm
    assert detector_shape(["-detsize_s", "30", "-detsize_f", "20", "-pixel", "0.2"]) == (150, 100)
    # Not upstream spellings: ignored, as upstream ignores them.
    assert detector_shape(["-detsize_x", "30", "-pixel", "0.2"]) == (512, 512)


def test_case_file_tolerances_file_level_and_case_level(tmp_path):
    from nbparity.cases import CaseFileError, load_cases

    path = tmp_path / "cases.toml"
    path.write_text('[tolerance]\nF_latt = 1e-5\nI_pixel_final = [1e-6, 1e-30]\n'
                    '[[case]]\nname = "a"\nargs = "-detpixels 8"\npixels = [[1, 2]]\n'
                    '[case.tolerance]\nF_latt = [1e-4, 0.5]\n'
                    '[[case]]\nname = "b"\nargs = "-detpixels 8"\n')
    a, b = load_cases(path)
    assert a.tolerance == {"F_latt": (1e-4, 0.5), "I_pixel_final": (1e-6, 1e-30)}
    assert b.tolerance == {"F_latt": (1e-5, 0.0), "I_pixel_final": (1e-6, 1e-30)}
    assert a.pixels == ((1, 2),) and a.shape == (8, 8)
    path.write_text('[[case]]\nname = "a"\nargs = "-N 1"\n[case.tolerance]\nF_latt = "x"\n')
    with pytest.raises(CaseFileError, match="tolerance for F_latt"):
        load_cases(path)


def test_every_named_case_is_well_formed(repo_root):
    from nbparity.cases import load_cases

    cases = load_cases(repo_root / "traces" / "cases.toml")
    assert cases[0].name == "default" and cases[0].shape == (2527, 2463)
    assert len(cases) >= 40
    for case in cases:
        assert case.folder.is_dir(), case.name
        assert 1 <= len(case.pixels) <= 4, case.name
        for s, f in case.pixels:
            assert 0 <= s < case.shape[0] and 0 <= f < case.shape[1], case.name


def test_printout_of_oversampled_factors_is_not_compared_as_applied(upstream_dir):
    log = parse_trace_file(upstream_dir / "oversample_polar" / "printout_24_24.txt")
    keys = dict(zip(log.records.key, log.records.stage))
    assert keys["polar_last_computed"] == "extra" and keys["omega_last_computed_sr"] == "extra"
    assert "polar_applied" not in keys and "omega_applied_sr" not in keys
    assert keys["capture_fraction_applied"] == "final"  # no +thick on that run
    plain = parse_trace_file(upstream_dir / "cubic_default_F" / "printout_32_32.txt")
    assert "polar_applied" in set(plain.records.key)


LEGACY_LOG = ("TRACE_PY: tracing pixel (spixel=3, fpixel=7)\nTRACE_PY: fdet_vec 0 0 1\n"
              "TRACE_PY: I_pixel_final 0.25\n")


def _records(log):
    return log.records[["slow", "fast", "key", "text"]].to_dict("records")


@pytest.mark.parametrize("text", [CONTRACT_LOG, LEGACY_LOG])
def test_a_gzip_log_reads_as_the_plain_one(tmp_path, text):
    import gzip

    plain, packed = tmp_path / "plain.log", tmp_path / "packed.log.gz"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    assert _records(parse_trace_file(packed)) == _records(parse_trace_file(plain))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(packed.read_bytes()[:-12])
    with pytest.raises(TraceFormatError, match=r"cut.gz:0: cannot read"):
        parse_trace_file(cut)


@pytest.mark.parametrize("text", [CONTRACT_LOG, LEGACY_LOG])
def test_a_log_from_a_pipe_reads_as_the_file(tmp_path, text):
    """A stream that cannot seek (``<(zcat log.gz)``, /dev/stdin): a legacy log needs the
    whole-file reader after the block reader has read it (it once said "not seekable")."""
    import os
    import threading

    plain, fifo = tmp_path / "plain.log", tmp_path / "fifo"
    plain.write_text(text)
    os.mkfifo(fifo)

    def write():
        with open(fifo, "w") as f:
            f.write(text)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        log = parse_trace_file(fifo)
    finally:
        if writer.is_alive():  # the reader failed before it read the pipe: let the writer go
            with open(fifo) as f:
                f.read()
        writer.join()
    assert _records(log) == _records(parse_trace_file(plain))
