/* TRACE_C lines of the trace contract (schema version 1). */
#ifndef NB_TRACE_H
#define NB_TRACE_H

#include <stddef.h>
#include "nb.h"

typedef struct {
    char *buf;
    size_t len, cap;
} nb_text;

void nb_text_printf(nb_text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

typedef struct {
    int slow, fast;
    int computed;  /* the pixel was evaluated (inside ROI, not masked) */
    int have_pixel;
    double pixel_pos[4], R, omega, obliquity, diffracted[4], incident[4], lambda;
    double scattering[4], stol;
    int have_polar, have_capture;
    double polar, capture;
    nb_text steps;  /* step lines, in loop order */
    double I, polar_applied, omega_applied, capture_applied, I_final;
} nb_trace_pixel;

void nb_trace_step(nb_trace_pixel *tr, const nb_sim *s, int phi_tic, int mos_tic, double phi,
                   const double *a, const double *b, const double *c, double h, double k,
                   double l, int h0, int k0, int l0, const double *Flatt_axes, double F_latt,
                   double F_cell, double I_term);
/* the whole block: meta, setup, pixel, steps, final */
void nb_trace_print(const nb_trace_pixel *tr, const nb_sim *s);

#endif
