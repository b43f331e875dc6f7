#!/usr/bin/env python3
"""A stand-in for a team's own nanoBragg port, as nbparity meets one in the wild.

It is what the README's "Compare your own port" section profiles, and what the tests run end to
end through ``--candidate fake_port.toml``. Like many real ports it has its own command line
(``--pixel-xy FAST SLOW``: zero-based, fast before slow), computes in float32, writes its trace
to a file of its own (``port_trace.log`` in its working folder) in an ad-hoc legacy style —
its own key names, ``key=value`` step lines, a banner, a text value — and prints only a banner
on stdout.

The physics comes from this project's torch simulator run in float32 (a port of nanoBragg is what
it imitates); every value it prints is re-labelled from the simulator's own trace, so the test
checks nbparity's reading of a foreign log, not a second physics.

    fake_port.py [nanoBragg arguments] --pixel-xy F S [--pixel-xy F S ...] [--carry]

``--carry`` reproduces nanoBragg's φ=0 carry-over (the port's "c-parity"); without it the port
rotates by φ at every step. ``FAKE_PORT_PIXEL_ONLY=1`` makes it print pixel-level values only
(no rotated vectors), as some ports do.
"""

from __future__ import annotations

import io
import os
import sys


def _split(argv: list[str]) -> tuple[list[str], list[tuple[int, int]], bool]:
    args, pixels, carry, i = [], [], False, 0
    while i < len(argv):
        if argv[i] == "--pixel-xy":
            fast, slow = int(argv[i + 1]), int(argv[i + 2])
            pixels.append((slow, fast))
            i += 3
        elif argv[i] == "--carry":
            carry, i = True, i + 1
        else:
            args.append(argv[i])
            i += 1
    return args, pixels, carry


#: the simulator's contract names → this port's own names (and its unit choices)
PIXEL_NAMES = {"pix0_vector_meters": "pix0_vector", "pixel_pos_meters": "pixel_pos",
               "omega_pixel_sr": "omega_pixel", "distance_meters": "distance_m",
               "r_e_sqr_m2": "r_e_sqr", "I_before_scaling": "I_before_scaling_pre_polar",
               "I_pixel_final": "I_pixel", "polar": "polarization"}
STEP_NAMES = {"phi_deg": "phi_deg", "F_latt": "F_latt", "F_cell": "F_cell"}


def _fmt(tokens: list[str], factor: float = 1.0) -> str:
    # float32 values carry about 7 significant digits: the port prints them so
    return " ".join(format(float(t) * factor, ".7g") for t in tokens)


def _rewrite(contract: str, pixel_only: bool) -> str:
    out = ["fake-port 0.3 (float32) trace"]
    for line in contract.splitlines():
        if line.startswith("TRACE_PY: "):
            key, *values = line[len("TRACE_PY: "):].split()
            if key == "trace_pixel":
                out.append(f"TRACE_CONFIG: tracing pixel (spixel={values[0]}, "
                           f"fpixel={values[1]})")
                out.append("TRACE_PY: detector_convention=CUSTOM")
            elif key == "lambda_angstroms":
                out.append(f"TRACE_PY: lambda_meters {_fmt(values, 1e-10)}")
            elif key == "scattering_vec_A_inv":  # the port keeps nanoBragg's metres
                out.append(f"TRACE_PY: scattering_vector_m_inv {_fmt(values, 1e10)}")
            elif key in PIXEL_NAMES:
                out.append(f"TRACE_PY: {PIXEL_NAMES[key]} {_fmt(values)}")
        elif line.startswith("TRACE_PY_PHI: "):
            phi, mos, key, *values = line[len("TRACE_PY_PHI: "):].split()
            if key == "hkl_frac":
                h, k, l = (format(float(v), ".7g") for v in values)
                out.append(f"TRACE_PY_PHI {phi} {mos} h_frac={h} k_frac={k} l_frac={l}")
            elif key in STEP_NAMES:
                out.append(f"TRACE_PY_PHI {phi} {mos} {STEP_NAMES[key]}={_fmt(values)}")
            elif key.startswith("rot_") and not pixel_only:
                axis = key[4]
                out.append(f"TRACE_PY_PHI: {phi} {mos} {axis}_rot {_fmt(values)}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    args, pixels, carry = _split(argv)
    if not pixels:
        sys.stderr.write("fake-port: give --pixel-xy FAST SLOW\n")
        return 2
    from simulator.cli import InputError, UsageError, run_argv

    trace = [t for s, f in pixels for t in ("-trace_pixel", str(s), str(f))]
    mode = ["-phi_carryover_mode", "c-parity" if carry else "spec", "-dtype", "float32"]
    captured = io.StringIO()
    try:
        run_argv([*args, *trace, *mode], stdout=captured)
    except (UsageError, InputError) as exc:
        sys.stderr.write(f"fake-port: {exc}\n")
        return 2
    with open("port_trace.log", "w") as handle:
        handle.write(_rewrite(captured.getvalue(), os.environ.get("FAKE_PORT_PIXEL_ONLY") == "1"))
    print(f"fake-port: traced {len(pixels)} pixel(s) into port_trace.log")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
