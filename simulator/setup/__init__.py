"""nanoBragg's set-up: (option, values) pairs -> the frozen SimulationConfig.

One derivation per physical object, each a documented function returning its config, in the
files of the C reference's set-up (c_reference/src/):

    smv.py       image headers (-mask, -img)                    smv.c
    detector.py  size, conventions, placement, mask -> DetectorConfig       detector.c
    sampling.py  step counts, oversampling -> SamplingConfig    sampling.c (+ crystal.c)
    crystal.py   cell, orientation, size, mosaic -> CrystalConfig           crystal.c, beam.c
    sfac.py      F input, interpolation, table -> StructureFactors          sfac.c
    beam.py      fluence, sources -> BeamConfig                 beam.c
    run.py       seeds, outputs, traced pixels -> OutputConfig, RunConfig   main.c

``build_config`` runs them in nanoBragg's order (main.c's): that order fixes which error a
command line with several faults reports and the order of the set-up messages (``log``).
The options themselves (defaults, values, units) are ``simulator.options``.
"""

from __future__ import annotations

import os

from simulator import rng
from simulator.config import SimulationConfig
from simulator.options import apply_options, defaults
from simulator.setup import beam, crystal, detector, run, sampling, sfac, smv
from simulator.setup.detector import mask_name_of

__all__ = ["build_config", "mask_name_of"]


def build_config(pairs, argv, cwd):
    """(option, values) pairs of ``argv`` -> SimulationConfig; files resolve relative to cwd.

    Raises UsageError (an impossible set-up) or InputError (a file) with one-line messages.
    """

    def path_of(name):
        return name if os.path.isabs(name) else os.path.join(cwd, name)

    log = []
    s = defaults()
    smv.read_image_headers(s, pairs, path_of, log)
    apply_options(s, pairs)
    seed, misset_seed = run.seeds(s)
    run.check_device(s)
    size = detector.detector_size(s)
    fluence, sample = beam.illumination(s, log)
    frame = detector.detector_frame(s, size, log)
    dump_path = sfac.dump_to_read(s, path_of)
    steps = sampling.step_counts(s, log)
    det = detector.detector_config(s, size, frame, steps.layers)
    distance = detector.placed_distance(det, frame.beam)
    table = rng.Ran1Table()  # ran1's shared table: the misset's draw, the domains', the noise
    cryst, xtal = crystal.crystal_config(
        s, steps, frame.spindle, sample, misset_seed, table, path_of, log
    )
    sampling_ = sampling.sampling_config(s, xtal.xtal_max, distance, size.pixel, s["lambda0"], log)
    log.append(xtal.molecular_weight_line())  # nanoBragg prints it after the oversampling
    sf = sfac.structure_factors(s, dump_path, path_of, log)
    beam_ = beam.beam_config(s, frame, steps, fluence, path_of, log)
    cryst = crystal.with_mosaic_domains(cryst, s["mosaic_seed"], table)
    det = detector.with_mask(det, s, log)
    output = run.output_config(s, seed)
    return SimulationConfig(
        crystal=cryst,
        sf=sf,
        beam=beam_,
        detector=det,
        sampling=sampling_,
        output=output,
        run=run.run_config(s, det, output),
        rng_state=table.state(),
        argv=tuple(argv),
        cwd=cwd,
        log=tuple(log),
    )
