/* The state the pixel kernel runs on: the run-wide engine (phi list, table of rotated
 * cells, interpolation switch, polarisation axis) and upstream's loop variables kept
 * between pixels (nb_persist), with the -printout block that shows them. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "engine.h"
#include "err.h"
#include "vec.h"

#define CELL_TABLE_MAX_DOUBLES (32L * 1024L * 1024L)

/* ---------------------------------------------------------- cell table */

void nb_make_cell(const nb_sim *s, const nb_engine *e, int state, int m, double *out)
{
    double ap[4], bp[4], cp[4];
    double *a = out, *b = out + 4, *c = out + 8;
    if (state == 0) {
        vec_copy(s->a0, ap);
        vec_copy(s->b0, bp);
        vec_copy(s->c0, cp);
    } else {
        double phi = e->phi[state - 1];
        rot_axis(s->a0, ap, s->spindle, phi);
        rot_axis(s->b0, bp, s->spindle, phi);
        rot_axis(s->c0, cp, s->spindle, phi);
    }
    if (s->mosaic_spread > 0.0) {
        const double *u = s->umats + 9 * m;
        rot_umat(ap, a, u);
        rot_umat(bp, b, u);
        rot_umat(cp, c, u);
    } else {
        vec_copy(ap, a);
        vec_copy(bp, b);
        vec_copy(cp, c);
    }
}

const double *nb_cell_of(const nb_sim *s, const nb_engine *e, int state, int m,
                         double *scratch)
{
    if (e->cells)
        return e->cells + ((size_t)state * s->mosaic_domains + m) * 12;
    nb_make_cell(s, e, state, m, scratch);
    return scratch;
}

void nb_engine_init(nb_engine *e, const nb_sim *s)
{
    int t, m;
    long total;
    memset(e, 0, sizeof *e);
    e->nstate = s->phisteps + 1;
    e->phi = nb_calloc((size_t)s->phisteps, sizeof(double));
    e->last_nonzero_phi_step = -1;
    for (t = 0; t < s->phisteps; t++) {
        e->phi[t] = s->phi0 + s->phistep * t;
        if (e->phi[t] != 0.0)
            e->last_nonzero_phi_step = t;
    }
    total = (long)e->nstate * s->mosaic_domains * 12;
    if (total <= CELL_TABLE_MAX_DOUBLES) {
        e->cells = nb_calloc((size_t)total, sizeof(double));
        for (t = 0; t < e->nstate; t++)
            for (m = 0; m < s->mosaic_domains; m++)
                nb_make_cell(s, e, t, m, e->cells + ((size_t)t * s->mosaic_domains + m) * 12);
    }
    e->interpolate = s->interpolate;
    e->babble = 1;
    /* upstream re-normalises the polarisation axis in place at every use;
     * its fixed point is what every use after the first sees */
    vec_copy(s->polar_vec, e->polar_axis);
    for (t = 0; t < 8; t++) {
        double u[4];
        vec_unit(e->polar_axis, u);
        if (u[1] == e->polar_axis[1] && u[2] == e->polar_axis[2] && u[3] == e->polar_axis[3])
            break;
        vec_copy(u, e->polar_axis);
    }
}

void nb_persist_init(nb_persist *p, const nb_sim *s)
{
    memset(p, 0, sizeof *p);
    p->carried_cell_state = 0;
    vec_copy(s->a0, p->a);
    vec_copy(s->b0, p->b);
    vec_copy(s->c0, p->c);
    if (s->hklfile) {
        /* h,k,l,F_cell hold the last line read; h0,k0 the bounds of the
         * table loops run after it; l0 the last line's l */
        p->h = s->hkl_last[0];
        p->k = s->hkl_last[1];
        p->l = s->hkl_last[2];
        p->F_cell = s->hkl_last[3];
        p->l0 = (int)s->hkl_last[2];
    }
    if (s->hklfile || s->hkls) {
        p->h0 = s->h_range + 1;
        p->k0 = s->k_range + 1;
    }
    if (s->interpolate) {
        p->h0 = 6;
        p->k0 = 6;
    }
}

void nb_printout_pixel(const nb_sim *s, const nb_persist *p, int fpixel, int spixel)
{
    const double *pos = p->pixel_pos;
    double twotheta = atan2(sqrt(pos[2] * pos[2] + pos[3] * pos[3]), pos[1]);
    double test = sin(twotheta / 2.0) / (s->lambda0 * 1e10);
    printf("%4d %4d : stol = %g or %g\n", fpixel, spixel, p->stol, test);
    printf("at %g %g %g\n", pos[1], pos[2], pos[3]);
    printf("hkl= %f %f %f  hkl0= %d %d %d\n", p->h, p->k, p->l, p->h0, p->k0, p->l0);
    printf(" F_cell=%g  F_latt=%g   I = %g\n", p->F_cell, p->F_latt, p->I);
    printf("I/steps %15.10g\n", p->I / s->steps);
    printf("polar   %15.10g\n", p->polar);
    printf("omega   %15.10g\n", p->omega);
    printf("capfrac %15.10g\n", p->capture);
    printf("pixel   %15.10g\n", s->image[(size_t)spixel * s->fpixels + fpixel]);
    printf("real-space cell vectors (Angstrom):\n");
    printf("     %-10s  %-10s  %-10s\n", "a", "b", "c");
    printf("X: %11.8f %11.8f %11.8f\n", p->a[1] * 1e10, p->b[1] * 1e10, p->c[1] * 1e10);
    printf("Y: %11.8f %11.8f %11.8f\n", p->a[2] * 1e10, p->b[2] * 1e10, p->c[2] * 1e10);
    printf("Z: %11.8f %11.8f %11.8f\n", p->a[3] * 1e10, p->b[3] * 1e10, p->c[3] * 1e10);
}
