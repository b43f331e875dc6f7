"""`parse` benchmark: read, align and compare a one-million-line log pair.

Writes a synthetic pair of contract logs (10 pixels x 10 phi steps x 100 mosaic domains x 10
step keys, about one million lines each; the candidate differs from the reference in one value
per step), then times parse + compare, median of repeats. Prints a table and writes JSON.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

from nbparity.compare import compare_logs
from nbparity.parse import parse_trace_file

STEP_KEYS = (("phi_deg", 1), ("rot_a_angstroms", 3), ("rot_b_angstroms", 3),
             ("rot_c_angstroms", 3), ("hkl_frac", 3), ("hkl_rounded", 3), ("F_latt", 1),
             ("F_cell", 1), ("I_term", 1), ("F_latt_a", 1))


def write_pair(folder: Path, pixels: int = 100, phi: int = 10, mosaic: int = 100) -> int:
    rng = random.Random(7)
    lines_c, lines_py = [], []
    for p in range(pixels):
        for lines, engine in ((lines_c, "C"), (lines_py, "PY")):
            lines.append(f"TRACE_{engine}: trace_pixel {p} {p + 1}")
        for i in range(phi):
            for j in range(mosaic):
                for key, arity in STEP_KEYS:
                    if key == "hkl_rounded":
                        vals = [str(rng.randint(-9, 9)) for _ in range(arity)]
                    else:
                        vals = [format(rng.uniform(-50, 50), ".17g") for _ in range(arity)]
                    head = f"phi_tic={i} mos_tic={j} {key} "
                    lines_c.append("TRACE_C_PHI: " + head + " ".join(vals))
                    if key == "F_latt":
                        vals = [format(float(vals[0]) * (1 + 1e-9), ".17g")]
                    lines_py.append("TRACE_PY_PHI: " + head + " ".join(vals))
    (folder / "c.log").write_text("\n".join(lines_c) + "\n")
    (folder / "py.log").write_text("\n".join(lines_py) + "\n")
    return len(lines_c)


def run(folder: Path, repeats: int = 3) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    n_lines = write_pair(folder)
    parse_s, compare_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ref = parse_trace_file(folder / "c.log")
        cand = parse_trace_file(folder / "py.log")
        t1 = time.perf_counter()
        comparison = compare_logs(ref, cand)
        t2 = time.perf_counter()
        parse_s.append(t1 - t0)
        compare_s.append(t2 - t1)
        assert len(comparison.failed) == 0
    return {"benchmark": "parse", "lines_per_log": n_lines, "repeats": repeats,
            "parse_both_s_median": statistics.median(parse_s),
            "align_compare_s_median": statistics.median(compare_s),
            "total_s_median": statistics.median(a + b for a, b in zip(parse_s, compare_s))}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results")
    result = run(out / "parse-logs")
    print(json.dumps(result, indent=2))
