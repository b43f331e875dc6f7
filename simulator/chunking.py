"""How the engine walks the detector: which pixels, in chunks of what size, and where the
phi=0 carry-over's first sweeps fall (c-parity modes).

Serial-order state of nanoBragg crosses chunk borders only through O(1) values (the first
sweeps found here, the interpolation switch and the printout state in the engine).
"""

from __future__ import annotations

import torch


def bytes_per_element(config, grad: bool):
    """Conservative bytes of intermediates per (pixel x inner step) element."""
    isz = 8 if config.run.dtype == "float64" else 4
    per = 48 * isz + 16
    if config.sf.interpolate:
        per += 64 * (3 * isz + 8) + 24 * isz
    if grad:
        per *= 3
    return per


def chunk_pixels(config, grad=False) -> int:
    """Pixels per chunk so that the chunk's intermediates fit the memory budget."""
    c = config
    inner = (
        c.detector.thicksteps
        * c.sampling.oversample**2
        * len(c.beam.source_dirs)
        * c.crystal.phisteps
        * c.crystal.mosaic_domains
    )
    per_pixel = inner * bytes_per_element(c, grad) + 64 * 1024 // 64
    by_budget = max(1, int(c.run.memory_budget_bytes // per_pixel))
    # Smaller chunks are faster: each intermediate then stays in the CPU caches and its memory
    # is reused by the allocator instead of being mapped afresh (page faults) for every op.
    # (Only an upper bound: the budget still decides when it is smaller.) No floor in pixels:
    # with many sub-pixels per pixel (-oversample 85: 7225 per pixel) a floor of 256 pixels made
    # the chunk, and the memory, follow the oversampling (1.1 GiB for a 48 x 48 image); a chunk
    # of a few pixels costs ~1 ms of overhead against ~15 ms of work.
    if c.run.device == "cpu":
        return min(by_budget, max(1, CACHE_ELEMENTS // inner))
    return by_budget


#: elements (pixel x inner step) per chunk on the CPU: intermediates of ~4 MiB (float64)
CACHE_ELEMENTS = 1 << 19


def active_pixels(config, device):
    """Flat indices (slow*fpixels + fast) of the pixels nanoBragg renders, in raster order."""
    d = config.detector
    sl = torch.arange(d.spixels, device=device)[:, None]
    fa = torch.arange(d.fpixels, device=device)[None, :]
    xmin, xmax, ymin, ymax = d.roi
    ok = (fa >= xmin) & (fa <= xmax) & (sl >= ymin) & (sl <= ymax)
    if d.mask is not None:
        ok = ok & torch.as_tensor(d.mask != 0, device=device)
    return torch.nonzero(ok.reshape(-1)).reshape(-1)


def positions_in(active, flat):
    """Sorted positions in ``active`` (ascending flat indices) of those of ``flat`` it holds."""
    if not flat or not active.numel():
        return []
    q = torch.as_tensor(sorted(flat), dtype=active.dtype, device=active.device)
    pos = torch.searchsorted(active, q).clamp(max=active.numel() - 1)
    hit = active[pos] == q
    return sorted(int(i) for i in pos[hit].tolist())


def thread_blocks(config):
    """[(first, end) slow rows] of the blocks that each start from the unrotated cell.

    In c-parity-omp nanoBragg's OpenMP build is reproduced: its pixel loop runs over slow rows
    with a static schedule (no chunk size) and each thread keeps its own copy of the rotated
    cell. libgomp then gives thread i of T a contiguous block, the first n % T threads
    n // T + 1 rows and the others n // T (checked against libgomp by experiment). Threads
    without rows are left out. In every other mode the whole detector is one block.
    """
    n = config.detector.spixels
    if config.run.phi_carryover_mode != "c-parity-omp":
        return [(0, n)]
    threads = config.run.omp_threads
    q, r = divmod(n, threads)
    blocks = []
    for i in range(min(threads, n)):
        first = i * (q + 1) if i < r else i * q + r
        blocks.append((first, first + (q + 1 if i < r else q)))
    return blocks


def first_sweeps(model, active, chunk, blocks):
    """[(index into active, t, s, r)] of the first sweep (first source passing dmin) of each
    block of slow rows that has one, in raster order."""
    F = model.c.detector.fpixels
    bounds = torch.tensor([[a * F, b * F] for a, b in blocks], dtype=active.dtype)
    lo_hi = torch.searchsorted(active, bounds.to(active.device)).tolist()
    out = []
    with torch.no_grad():
        for lo, hi in lo_hi:  # one search per block, never per pixel
            if lo >= hi:
                continue  # no active pixel in the block: it has no effect
            if model.c.beam.dmin <= 0.0:
                out.append((lo, 0, 0, 0))
                continue
            for start in range(lo, hi, chunk):
                idx = active[start : min(hi, start + chunk)]
                pp = model.pixel_part(idx % F, idx // F)
                passed = pp["passed"].reshape(idx.numel(), -1)
                anyp = passed.any(dim=1)
                if bool(anyp.any()):
                    p = int(torch.argmax(anyp.to(torch.uint8)))
                    e = int(torch.argmax(passed[p].to(torch.uint8)))
                    t, rest = divmod(e, model.S * model.R)
                    s, r = divmod(rest, model.R)
                    out.append((start + p, t, s, r))
                    break
    return out


_ALLOCATOR_TUNED = False


def tune_allocator() -> None:
    """Keep freed heap memory for reuse instead of returning it to the system (glibc).

    A chunk's intermediates (a few MiB) are allocated and freed again for every chunk; with
    glibc's defaults the freed top of the heap is trimmed and the next chunk maps it afresh,
    one page fault per 4 KiB (about half the run time on a 2-core machine). A trim threshold of
    256 MiB and a fixed 32 MiB mmap threshold (large tensors such as the image still come from
    mmap and go back when freed) keep them. Once per process; set NBSIM_NO_MALLOPT=1 to skip.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return
    _ALLOCATOR_TUNED = True
    import os
    import sys

    if not sys.platform.startswith("linux") or os.environ.get("NBSIM_NO_MALLOPT"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    except (OSError, AttributeError):  # not glibc: leave the allocator alone
        pass
