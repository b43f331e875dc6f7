/* The pixel loop.  One pixel at a time, with the state upstream carries from
 * one pixel to the next made explicit: the carried cell (phi=0 carry-over, see
 * nb.h), the run-wide interpolation switch and the values of the last loop
 * iteration that -printout reports. */
#ifndef NB_ENGINE_H
#define NB_ENGINE_H

#include "nb.h"
#include "trace.h"

typedef struct {
    int nstate;       /* phisteps + 1: state 0 is the unrotated cell, t+1 is phi step t */
    double *cells;    /* [nstate][domains][3 vectors][4] rotated cells, or NULL (too big) */
    double *phi;      /* phi of each step (radians) */
    int last_nonzero_phi_step; /* last step with phi != 0, or -1 */
    int interpolate;  /* run-wide switch (upstream turns it off for good) */
    int babble;
    double polar_axis[4];
} nb_engine;

/* what upstream keeps in loop variables between pixels */
typedef struct {
    int carried_cell_state; /* state of the carried cell (index into nb_engine.cells) */
    double pixel_pos[4], stol, h, k, l, F_cell, F_latt, I, polar, omega, capture;
    int h0, k0, l0;
    double a[4], b[4], c[4]; /* cell of the last evaluated step (-printout) */
    double omega_sum;        /* solid-angle statistic of the image passes */
} nb_persist;

/* What one evaluation of a pixel's loops (layers, sub-pixels, sources, phi steps,
 * mosaic domains) is for.  All three walk the same loops in the same order, so they
 * agree on which steps run and which cell each step uses. */
typedef enum {
    /* the image: structure factors, the pixel's value added to s->image, the loop
     * variables -printout shows, the trace if one is given */
    NB_PASS_IMAGE,
    /* the interpolation switch only: Miller indices and the range test (no structure
     * factors, nothing written to the image); stops when the switch flips */
    NB_PASS_PROBE,
    /* does any phi sweep run in this pixel (a source that survives -dmin)?  stops at
     * the first one; the carried cell is not touched */
    NB_PASS_FIRST_SWEEP
} nb_pass;

/* state.c */
void nb_engine_init(nb_engine *e, const nb_sim *s);
/* the cell (a, b, c: 12 doubles) of cell state state, mosaic domain m, made into out */
void nb_make_cell(const nb_sim *s, const nb_engine *e, int state, int m, double *out);
/* the same from the table, or made in scratch when the table was too big to build */
const double *nb_cell_of(const nb_sim *s, const nb_engine *e, int state, int m,
                         double *scratch);
/* the loop variables as upstream leaves them before the first pixel (they show in
 * -printout of a pixel evaluated before any phi step ran) */
void nb_persist_init(nb_persist *p, const nb_sim *s);
void nb_printout_pixel(const nb_sim *s, const nb_persist *p, int fpixel, int spixel);

/* engine.c.  The pixel kernel: evaluate pixel (fpixel, spixel) for pass, starting from (and
 * updating) the carried cell and loop variables in p.  tr (NB_PASS_IMAGE only, may be
 * NULL) receives the traced values.  Returns 1 when the pass stopped early: the
 * interpolation switch flipped (NB_PASS_PROBE) or a sweep was found
 * (NB_PASS_FIRST_SWEEP); otherwise 0. */
int nb_eval_pixel(const nb_sim *s, nb_engine *e, nb_persist *p, int fpixel, int spixel,
                  nb_pass pass, nb_trace_pixel *tr);
/* the meta and setup keys of a traced pixel (slow, fast), in contract units */
void nb_trace_open(nb_trace_pixel *tr, const nb_sim *s, int slow, int fast);

/* raster.c: which pixels run, in which thread block, and where the first sweep is */

/* is pixel (f,s) inside the ROI (limits inclusive)? */
int nb_pixel_in_roi(const nb_sim *s, int fpixel, int spixel);
/* does pixel (f,s) get computed at all (ROI and mask)? */
int nb_pixel_active(const nb_sim *s, int fpixel, int spixel);
/* raster index of the first_sweep pixel of rows [sp_first, sp_end): the first whose
 * loops evaluate at least one phi sweep (a source that survives the dmin cut); -1 if none */
long nb_first_sweep_pixel(const nb_sim *s, nb_engine *e, int sp_first, int sp_end);
/* Thread blocks of c-parity-omp: the slow rows as OpenMP's static schedule (no chunk size)
 * hands them to omp_threads threads, each thread with its own carried cell.  libgomp gives
 * the first n % T threads n / T + 1 contiguous rows and the others n / T.  Without
 * c-parity-omp the whole detector is one block.  Only blocks with rows are counted. */
int nb_thread_blocks(const nb_sim *s);
void nb_block_rows(const nb_sim *s, int block, int *sp_first, int *sp_end);
int nb_row_block(const nb_sim *s, int spixel);

#endif
