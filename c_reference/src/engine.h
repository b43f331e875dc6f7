/* The pixel loop.  One pixel at a time, with the state upstream carries from
 * one pixel to the next made explicit: the spindle-rotated cell (phi=0
 * carry-over), the run-wide interpolation switch and the values of the last
 * loop iteration that -printout reports. */
#ifndef NB_ENGINE_H
#define NB_ENGINE_H

#include "nb.h"
#include "trace.h"

typedef struct {
    int nstate;       /* phisteps + 1: state 0 is the unrotated cell, t+1 is phi step t */
    double *cells;    /* [nstate][domains][3 vectors][4] rotated cells, or NULL */
    double *phi;      /* phi of each step (radians) */
    int last_nonzero; /* last step with phi != 0, or -1 */
    int interpolate;  /* run-wide switch (upstream turns it off for good) */
    int babble;
    double polar_axis[4];
} nb_engine;

/* what upstream keeps in loop variables between pixels */
typedef struct {
    int carry; /* cell state of the last evaluated phi step (see nb_engine.cells) */
    double pixel_pos[4], stol, h, k, l, F_cell, F_latt, I, polar, omega, capture;
    int h0, k0, l0;
    double a[4], b[4], c[4];
    double omega_sum;
} nb_persist;

void nb_engine_init(nb_engine *e, const nb_sim *s);
/* the loop variables as upstream leaves them before the first pixel (they show in
 * -printout of a pixel evaluated before any phi step ran) */
void nb_persist_init(nb_persist *p, const nb_sim *s);
/* compute pixel (fpixel, spixel) into s->image; tr may be NULL */
void nb_compute_pixel(const nb_sim *s, nb_engine *e, nb_persist *p, int fpixel, int spixel,
                      nb_trace_pixel *tr);
/* is pixel (f,s) inside the ROI (limits inclusive)? */
int nb_pixel_in_roi(const nb_sim *s, int fpixel, int spixel);
/* does pixel (f,s) get computed at all (ROI and mask)? */
int nb_pixel_active(const nb_sim *s, int fpixel, int spixel);
/* raster index of the first pixel of rows [sp_first, sp_end) whose loops evaluate at
 * least one phi sweep (a source that survives the dmin cut); -1 if none */
long nb_first_sweep_pixel(const nb_sim *s, int sp_first, int sp_end);
/* Thread blocks of c-parity-omp: the slow rows as OpenMP's static schedule (no chunk size)
 * hands them to omp_threads threads, each thread with its own carried cell.  libgomp gives
 * the first n % T threads n / T + 1 contiguous rows and the others n / T.  Without
 * c-parity-omp the whole detector is one block.  Only blocks with rows are counted. */
int nb_thread_blocks(const nb_sim *s);
void nb_block_rows(const nb_sim *s, int block, int *sp_first, int *sp_end);
int nb_row_block(const nb_sim *s, int spixel);
/* cheap walk for the interpolation switch; 1 if it flipped in this pixel */
int nb_probe_pixel(const nb_sim *s, nb_engine *e, nb_persist *p, int fpixel, int spixel);
void nb_printout_pixel(const nb_sim *s, const nb_persist *p, int fpixel, int spixel);

#endif
