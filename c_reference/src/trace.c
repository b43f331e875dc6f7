#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "trace.h"

void nb_text_printf(nb_text *t, const char *fmt, ...)
{
    va_list ap;
    int need;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        need = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? room : 0, fmt, ap);
        va_end(ap);
        if (need < 0)
            nb_die_code(NB_EXIT_IO, "trace formatting failed");
        if (t->buf && (size_t)need < room) {
            t->len += (size_t)need;
            return;
        }
        t->cap = (t->cap ? t->cap * 2 : 4096) + (size_t)need + 1;
        t->buf = realloc(t->buf, t->cap);
        if (!t->buf)
            nb_die_code(NB_EXIT_IO, "out of memory (trace)");
    }
}

#define RF "%.17g"

/* a real as the trace contract spells it: glibc prints a NaN with its sign bit set as "-nan";
 * the contract has one spelling, "nan" (fabs clears the sign bit of a NaN too) */
static double tv(double v)
{
    return isnan(v) ? fabs(v) : v;
}

/* a rotated cell vector of a step, in Angstrom */
static void step_cell_vector(nb_text *t, const char *pre, const char *key, const double *v)
{
    nb_text_printf(t, "%s %s " RF " " RF " " RF "\n", pre, key, tv(v[1] * 1e10), tv(v[2] * 1e10),
                   tv(v[3] * 1e10));
}

void nb_trace_step(nb_trace_pixel *tr, const nb_sim *s, int phi_tic, int mos_tic, double phi,
                   const double *a, const double *b, const double *c, double h, double k,
                   double l, int h0, int k0, int l0, const double *Flatt_axes, double F_latt,
                   double F_cell, double I_term)
{
    nb_text *t = &tr->steps;
    char pre[64];
    sprintf(pre, "TRACE_C_PHI: phi_tic=%d mos_tic=%d", phi_tic, mos_tic);
    nb_text_printf(t, "%s phi_deg " RF "\n", pre, tv(phi * NB_RTD));
    step_cell_vector(t, pre, "rot_a_angstroms", a);
    step_cell_vector(t, pre, "rot_b_angstroms", b);
    step_cell_vector(t, pre, "rot_c_angstroms", c);
    nb_text_printf(t, "%s hkl_frac " RF " " RF " " RF "\n", pre, tv(h), tv(k), tv(l));
    nb_text_printf(t, "%s hkl_rounded %d %d %d\n", pre, h0, k0, l0);
    if (s->shape == SHAPE_SQUARE) {
        nb_text_printf(t, "%s F_latt_a " RF "\n", pre, tv(Flatt_axes[0]));
        nb_text_printf(t, "%s F_latt_b " RF "\n", pre, tv(Flatt_axes[1]));
        nb_text_printf(t, "%s F_latt_c " RF "\n", pre, tv(Flatt_axes[2]));
    }
    nb_text_printf(t, "%s F_latt " RF "\n", pre, tv(F_latt));
    nb_text_printf(t, "%s F_cell " RF "\n", pre, tv(F_cell));
    nb_text_printf(t, "%s I_term " RF "\n", pre, tv(I_term));
}

static void v3(const char *key, const double *v, double scale)
{
    printf("TRACE_C: %s " RF " " RF " " RF "\n", key, tv(v[1] * scale), tv(v[2] * scale),
           tv(v[3] * scale));
}

static void r1(const char *key, double v)
{
    printf("TRACE_C: %s " RF "\n", key, tv(v));
}

static void i1(const char *key, long v)
{
    printf("TRACE_C: %s %ld\n", key, v);
}

void nb_trace_print(const nb_trace_pixel *tr, const nb_sim *s)
{
    printf("TRACE_C: trace_pixel %d %d\n", tr->slow, tr->fast);
    printf("TRACE_C: schema_version 1\n");
    printf("TRACE_C: engine c-reference\n");
    printf("TRACE_C: phi_carryover_mode %s\n",
           s->carry_omp ? "c-parity-omp" : (s->carry_cparity ? "c-parity" : "spec"));
    printf("TRACE_C: dtype float64\n");
    printf("TRACE_C: device cpu\n");

    v3("fdet_vec", s->fdet, 1.0);
    v3("sdet_vec", s->sdet, 1.0);
    v3("odet_vec", s->odet, 1.0);
    v3("beam_vec", s->beam, 1.0);
    v3("polar_vec", s->polar_vec, 1.0);
    v3("spindle_vec", s->spindle, 1.0);
    v3("pix0_vector_meters", s->pix0, 1.0);
    r1("distance_meters", s->distance);
    r1("close_distance_meters", s->close_distance);
    v3("a_angstroms", s->a_A, 1.0);
    v3("b_angstroms", s->b_A, 1.0);
    v3("c_angstroms", s->c_A, 1.0);
    v3("a_star_A_inv", s->a_star, 1.0);
    v3("b_star_A_inv", s->b_star, 1.0);
    v3("c_star_A_inv", s->c_star, 1.0);
    r1("V_cell_A3", s->V_cell);
    printf("TRACE_C: N_cells " RF " " RF " " RF "\n", tv(s->Na), tv(s->Nb), tv(s->Nc));
    r1("phi0_deg", s->phi0 * NB_RTD);
    r1("phistep_deg", s->phistep * NB_RTD);
    i1("phisteps", s->phisteps);
    i1("mosaic_domains", s->mosaic_domains);
    i1("sources", s->sources);
    i1("oversample", s->oversample);
    i1("steps", s->steps);
    r1("r_e_sqr_m2", s->r_e_sqr);
    r1("fluence_photons_per_m2", s->fluence);

    if (!tr->computed)
        return; /* outside the ROI or masked: the pixel is never evaluated */

    if (tr->have_pixel) {
        v3("pixel_pos_meters", tr->pixel_pos, 1.0);
        r1("R_distance_meters", tr->R);
        r1("omega_pixel_sr", tr->omega);
        r1("obliquity_factor", tr->obliquity);
        v3("diffracted_vec", tr->diffracted, 1.0);
        v3("incident_vec", tr->incident, 1.0);
        r1("lambda_angstroms", tr->lambda * 1e10);
        v3("scattering_vec_A_inv", tr->scattering, 1e-10);
        r1("stol_A_inv", tr->stol * 1e-10);
        r1("polar", tr->polar);
        r1("capture_fraction", tr->capture);
    }
    if (tr->steps.len)
        fwrite(tr->steps.buf, 1, tr->steps.len, stdout);
    r1("I_before_scaling", tr->I);
    r1("polar_applied", tr->polar_applied);
    r1("omega_applied_sr", tr->omega_applied);
    r1("capture_fraction_applied", tr->capture_applied);
    r1("I_pixel_final", tr->I_final);
}
