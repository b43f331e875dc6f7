"""`parse` benchmark: read, align and compare a one-million-line log pair.

Writes a synthetic pair of contract logs (100 pixels x 10 phi steps x 100 mosaic domains x 10
step keys, about one million lines each; the candidate differs from the reference in one value
per step), then times parse + compare, median of repeats, as wall time and as the process's CPU
time (user + system; less sensitive to other jobs on a shared machine). Each repeat starts with
the previous repeat's results released, as a fresh ``nbparity diff`` would. Prints a table on
stderr and the JSON on stdout.
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


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _one_repeat(folder: Path) -> dict[str, float]:
    """Wall and CPU seconds of parse (both logs) and of align + compare."""
    t0 = _clocks()
    ref = parse_trace_file(folder / "c.log")
    cand = parse_trace_file(folder / "py.log")
    t1 = _clocks()
    comparison = compare_logs(ref, cand)
    t2 = _clocks()
    assert len(comparison.failed) == 0
    return {"parse_both_s": t1[0] - t0[0], "align_compare_s": t2[0] - t1[0],
            "parse_both_cpu_s": t1[1] - t0[1], "align_compare_cpu_s": t2[1] - t1[1]}


def run(folder: Path, repeats: int = 3) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    n_lines = write_pair(folder)
    runs = [_one_repeat(folder) for _ in range(repeats)]  # each repeat's logs freed on return
    for run_ in runs:
        run_["total_s"] = run_["parse_both_s"] + run_["align_compare_s"]
        run_["total_cpu_s"] = run_["parse_both_cpu_s"] + run_["align_compare_cpu_s"]
    result = {"benchmark": "parse", "lines_per_log": n_lines, "repeats": repeats}
    for name in ("parse_both_s", "align_compare_s", "total_s", "parse_both_cpu_s",
                 "align_compare_cpu_s", "total_cpu_s"):
        result[f"{name}_median"] = statistics.median(r[name] for r in runs)
    result["runs"] = runs
    return result


def table(result: dict) -> str:
    rows = [f"parse benchmark: two {result['lines_per_log']}-line logs, "
            f"{result['repeats']} repeats (seconds; cpu = process time)",
            f"{'repeat':>8} {'parse':>8} {'compare':>8} {'total':>8} {'parse cpu':>10} "
            f"{'cmp cpu':>8} {'total cpu':>10}"]
    named = [*enumerate(result["runs"], start=1), ("median", {
        k.removesuffix("_median"): v for k, v in result.items() if k.endswith("_median")})]
    for label, r in named:
        rows.append(f"{label:>8} {r['parse_both_s']:8.2f} {r['align_compare_s']:8.2f} "
                    f"{r['total_s']:8.2f} {r['parse_both_cpu_s']:10.2f} "
                    f"{r['align_compare_cpu_s']:8.2f} {r['total_cpu_s']:10.2f}")
    return "\n".join(rows)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results")
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    result = run(out / "parse-logs", repeats)
    print(table(result), file=sys.stderr)
    print(json.dumps(result, indent=2))
