/* The pixel kernel, nb_eval_pixel: one pixel's loops (layers, sub-pixels, sources, phi
 * steps, mosaic domains) for the image, the interpolation-switch probe and the first-sweep
 * scan, and the trace values recorded where they are computed, in contract units. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "engine.h"
#include "physics.h"
#include "vec.h"

/* ------------------------------------------------- trace values, contract units */

static void copy3(double *key, const double *v)
{
    key[0] = v[1];
    key[1] = v[2];
    key[2] = v[3];
}

static void scaled3(double *key, const double *v, double scale)
{
    key[0] = v[1] * scale;
    key[1] = v[2] * scale;
    key[2] = v[3] * scale;
}

void nb_trace_open(nb_trace_pixel *tr, const nb_sim *s, int slow, int fast)
{
    memset(tr, 0, sizeof *tr);
    tr->trace_pixel[0] = slow;
    tr->trace_pixel[1] = fast;
    tr->schema_version = 1;
    tr->engine = "c-reference";
    tr->phi_carryover_mode = nb_phi_carryover_mode_name(s->phi_carryover_mode);
    tr->dtype = "float64";
    tr->device = "cpu";
    copy3(tr->fdet_vec, s->fdet);
    copy3(tr->sdet_vec, s->sdet);
    copy3(tr->odet_vec, s->odet);
    copy3(tr->beam_vec, s->beam);
    copy3(tr->polar_vec, s->polar_vec);
    copy3(tr->spindle_vec, s->spindle);
    copy3(tr->pix0_vector_meters, s->pix0);
    tr->distance_meters = s->distance;
    tr->close_distance_meters = s->close_distance;
    copy3(tr->a_angstroms, s->a_A);
    copy3(tr->b_angstroms, s->b_A);
    copy3(tr->c_angstroms, s->c_A);
    copy3(tr->a_star_A_inv, s->a_star);
    copy3(tr->b_star_A_inv, s->b_star);
    copy3(tr->c_star_A_inv, s->c_star);
    tr->V_cell_A3 = s->V_cell;
    tr->N_cells[0] = s->Na;
    tr->N_cells[1] = s->Nb;
    tr->N_cells[2] = s->Nc;
    tr->phi0_deg = s->phi0 * NB_RTD;
    tr->phistep_deg = s->phistep * NB_RTD;
    tr->phisteps = s->phisteps;
    tr->mosaic_domains = s->mosaic_domains;
    tr->sources = s->sources;
    tr->oversample = s->oversample;
    tr->steps = s->steps;
    tr->r_e_sqr_m2 = s->r_e_sqr;
    tr->fluence_photons_per_m2 = s->fluence;
    tr->F_latt_axes = (s->shape == SHAPE_SQUARE);
}

/* ------------------------------------------------------------ the pixel */

/* one evaluation of nb_eval_pixel: its arguments and the few values that live only as
 * long as the pixel (the others are upstream's loop variables, in p) */
typedef struct {
    const nb_sim *s;
    nb_engine *e;
    nb_persist *p;
    nb_pass pass;
    nb_trace_pixel *tr;       /* the trace, or NULL */
    nb_trace_pixel *tr_steps; /* tr while its steps run (layer 0, sub-pixel (0,0), source 0) */
    int last_state, last_m;   /* cell of the last evaluated step, or -1 */
    double scratch[12];
} pixel_eval;

/* position of a sub-pixel: fills pos[0..3] */
static void subpixel_position(const nb_sim *s, int fpixel, int spixel, int t, int sS, int sF,
                              double *pos)
{
    int os = s->oversample;
    double sub = s->subpixel_size;
    double Fdet = sub * (fpixel * os + sF) + sub / 2.0;
    double Sdet = sub * (spixel * os + sS) + sub / 2.0;
    double Odet = t * s->det_thickstep;
    pos[1] = Fdet * s->fdet[1] + Sdet * s->sdet[1] + Odet * s->odet[1] + s->pix0[1];
    pos[2] = Fdet * s->fdet[2] + Sdet * s->sdet[2] + Odet * s->odet[2] + s->pix0[2];
    pos[3] = Fdet * s->fdet[3] + Sdet * s->sdet[3] + Odet * s->odet[3] + s->pix0[3];
    pos[0] = 0.0;
    if (s->curved) {
        double v[4], nv[4];
        v[1] = s->distance * s->beam[1];
        v[2] = s->distance * s->beam[2];
        v[3] = s->distance * s->beam[3];
        rot_axis(v, nv, s->sdet, pos[2] / s->distance);
        rot_axis(nv, pos, s->fdet, pos[3] / s->distance);
    }
}

/* incident direction of source src and the scattering vector (1/m) for a diffracted
 * direction; returns sin(theta)/lambda = |scattering|/2 */
static double scattering_vector(const nb_sim *s, int src, double lambda, const double *diffracted,
                                double *incident, double *scattering)
{
    incident[1] = -s->src_x[src];
    incident[2] = -s->src_y[src];
    incident[3] = -s->src_z[src];
    scattering[1] = (diffracted[1] - incident[1]) / lambda;
    scattering[2] = (diffracted[2] - incident[2]) / lambda;
    scattering[3] = (diffracted[3] - incident[3]) / lambda;
    return 0.5 * vec_norm(scattering);
}

/* the run-wide interpolation switch, shared by upstream's threads */
static int interpolation_on(const nb_engine *e)
{
    int on;
#if defined(_OPENMP)
#pragma omp atomic read
#endif
    on = e->interpolate;
    return on;
}

/* turn the switch off for the rest of the run, with upstream's warning (printed once) */
static void interpolation_off(nb_engine *e, const nb_persist *p)
{
#if defined(_OPENMP)
#pragma omp atomic write
#endif
    e->interpolate = 0;
    if (e->babble) {
        e->babble = 0;
        printf("WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: %g,%g,%g,%d,%d,%d \n",
               p->h, p->k, p->l, p->h0, p->k0, p->l0);
        printf("WARNING: further warnings will not be printed! ");
    }
}

static void record_step(pixel_eval *pe, int pt, int m, const double *cell, const double *Fax,
                        double F_cell, double I_term)
{
    const nb_persist *p = pe->p;
    nb_trace_step *st = nb_trace_add_step(pe->tr_steps);
    st->phi_tic = pt;
    st->mos_tic = m;
    st->phi_deg = pe->e->phi[pt] * NB_RTD;
    scaled3(st->rot_a_angstroms, cell, 1e10);
    scaled3(st->rot_b_angstroms, cell + 4, 1e10);
    scaled3(st->rot_c_angstroms, cell + 8, 1e10);
    st->hkl_frac[0] = p->h;
    st->hkl_frac[1] = p->k;
    st->hkl_frac[2] = p->l;
    st->hkl_rounded[0] = p->h0;
    st->hkl_rounded[1] = p->k0;
    st->hkl_rounded[2] = p->l0;
    st->F_latt_a = Fax[0];
    st->F_latt_b = Fax[1];
    st->F_latt_c = Fax[2];
    st->F_latt = p->F_latt;
    st->F_cell = F_cell;
    st->I_term = I_term;
}

/* structure factor of the step in p (lookup, interpolation switch) and its term added
 * to the running sum, with the per-step factors of -oversample_thick/_polar/_omega */
static void add_step(pixel_eval *pe, int pt, int m, const double *cell, const double *Fax)
{
    const nb_sim *s = pe->s;
    nb_persist *p = pe->p;
    int interp = interpolation_on(pe->e);
    double term;
    if (interp) {
        nb_stop_at_nan_index(p->h, p->k, p->l);
        p->F_cell = nb_F_lookup(s, p->h, p->k, p->l, p->h0, p->k0, p->l0, &interp);
        if (!interp)
            interpolation_off(pe->e, p);
    } else {
        p->F_cell = nb_F_lookup(s, p->h, p->k, p->l, p->h0, p->k0, p->l0, &interp);
    }
    term = p->F_cell * p->F_cell * p->F_latt * p->F_latt;
    p->I += term;
    if (s->os_thick)
        p->I *= p->capture;
    if (s->os_polar)
        p->I *= p->polar;
    if (s->os_omega)
        p->I *= p->omega;
    if (pe->tr_steps)
        record_step(pe, pt, m, cell, Fax, p->F_cell, term);
}

/* phi step pt, mosaic domain m, in cell state state.  Returns 1 when the pass stops. */
static int eval_step(pixel_eval *pe, int pt, int m, int state, const double *scattering)
{
    const nb_sim *s = pe->s;
    nb_persist *p = pe->p;
    const double *cell = nb_cell_of(s, pe->e, state, m, pe->scratch);
    double Fax[3] = {1.0, 1.0, 1.0};
    int skipped;

    p->h = vec_dot(cell, scattering);
    p->k = vec_dot(cell + 4, scattering);
    p->l = vec_dot(cell + 8, scattering);
    p->h0 = nb_c_int(ceil(p->h - 0.5));
    p->k0 = nb_c_int(ceil(p->k - 0.5));
    p->l0 = nb_c_int(ceil(p->l - 0.5));
    if (pe->pass == NB_PASS_PROBE && s->shape == SHAPE_SQUARE) {
        /* the probe only asks whether the step is skipped, and a square lattice factor
         * is never exactly zero (sin(N x) is not 0 at a double x != 0; at x = 0 the
         * factor is N): its sines are not worth computing */
        skipped = 0;
    } else {
        p->F_latt = nb_lattice_factor(s, p->h, p->k, p->l, p->h0, p->k0, p->l0, Fax);
        /* upstream skips the structure factor of a zero lattice factor (no water) */
        skipped = (p->F_latt == 0.0 && s->water_size == 0.0);
    }

    if (pe->pass == NB_PASS_PROBE) {
        if (skipped || !interpolation_on(pe->e))
            return 0;
        nb_stop_at_nan_index(p->h, p->k, p->l);
        if (nb_interp_in_range(s, p->h, p->k, p->l))
            return 0;
        interpolation_off(pe->e, p);
        return 1;
    }
    if (!skipped) {
        add_step(pe, pt, m, cell, Fax);
    } else if (pe->tr_steps) {
        /* nothing is added at this step; report the structure factor the lookup would
         * give, without side effects */
        int interp = interpolation_on(pe->e);
        double F_cell = nb_F_lookup(s, p->h, p->k, p->l, p->h0, p->k0, p->l0, &interp);
        record_step(pe, pt, m, cell, Fax, F_cell, 0.0);
    }
    pe->last_state = state;
    pe->last_m = m;
    return 0;
}

/* every phi step and mosaic domain for one scattering vector.  The carried cell: a step
 * with phi != 0 uses its own rotation; a phi == 0 step the unrotated cell (spec) or the
 * cell carried from the last evaluated step (c-parity).  Returns 1 when the pass stops. */
static int phi_sweep(pixel_eval *pe, const double *scattering)
{
    const nb_sim *s = pe->s;
    nb_persist *p = pe->p;
    int pt, m;
    for (pt = 0; pt < s->phisteps; pt++) {
        if (pe->e->phi[pt] != 0.0)
            p->carried_cell_state = pt + 1;
        else if (!nb_carries_cell(s))
            p->carried_cell_state = 0;
        for (m = 0; m < s->mosaic_domains; m++)
            if (eval_step(pe, pt, m, p->carried_cell_state, scattering))
                return 1;
    }
    return 0;
}

/* every source for one sub-pixel's diffracted direction.  Returns 1 when the pass stops. */
static int eval_sources(pixel_eval *pe, double *diffracted, int first_sub)
{
    const nb_sim *s = pe->s;
    nb_persist *p = pe->p;
    nb_trace_pixel *tr = first_sub ? pe->tr : NULL;
    double incident[4], scattering[4];
    int src;
    for (src = 0; src < s->sources; src++) {
        const double lambda = s->src_lambda[src];
        p->stol = scattering_vector(s, src, lambda, diffracted, incident, scattering);
        if (tr && src == 0) {
            copy3(tr->incident_vec, incident);
            tr->lambda_angstroms = lambda * 1e10;
            scaled3(tr->scattering_vec_A_inv, scattering, 1e-10);
            tr->stol_A_inv = p->stol * 1e-10;
        }
        if (s->dmin > 0.0 && p->stol > 0.0 && s->dmin > 0.5 / p->stol)
            continue;
        if (pe->pass == NB_PASS_FIRST_SWEEP)
            return 1;
        if (p->polar == 0.0 || s->os_polar) {
            p->polar = nb_polarization_factor(s->polarization, incident, diffracted,
                                              pe->e->polar_axis);
            if (pe->tr && !pe->tr->have_polar) {
                pe->tr->have_polar = 1;
                pe->tr->polar = p->polar;
            }
        }
        pe->tr_steps = (tr && src == 0) ? tr : NULL;
        if (phi_sweep(pe, scattering))
            return 1;
        pe->tr_steps = NULL;
    }
    return 0;
}

/* sub-pixel (sS, sF) of layer t: geometry, solid angle and absorption (computed once per
 * pixel, or per sub-pixel with -oversample_omega/_thick), then the sources */
static int eval_subpixel(pixel_eval *pe, int fpixel, int spixel, int t, int sS, int sF)
{
    const nb_sim *s = pe->s;
    nb_persist *p = pe->p;
    const int first_sub = (t == 0 && sS == 0 && sF == 0);
    double diffracted[4], airpath;

    subpixel_position(s, fpixel, spixel, t, sS, sF, p->pixel_pos);
    airpath = vec_unit(p->pixel_pos, diffracted);
    if (pe->pass == NB_PASS_IMAGE) {
        if (p->omega == 0.0 || s->os_omega)
            p->omega = nb_solid_angle(s, airpath);
        p->omega_sum += p->omega;
        if (p->capture == 0.0 || s->os_thick)
            p->capture = nb_capture_fraction(s, t, diffracted);
    }
    if (pe->tr && first_sub) {
        nb_trace_pixel *tr = pe->tr;
        tr->have_pixel = 1;
        copy3(tr->pixel_pos_meters, p->pixel_pos);
        tr->R_distance_meters = airpath;
        tr->omega_pixel_sr = p->omega;
        tr->obliquity_factor = s->close_distance / airpath;
        copy3(tr->diffracted_vec, diffracted);
        tr->capture_fraction = p->capture;
    }
    return eval_sources(pe, diffracted, first_sub);
}

/* the pixel's value: the running sum scaled, times the factors not applied per step */
static void finish_pixel(pixel_eval *pe, int fpixel, int spixel)
{
    const nb_sim *s = pe->s;
    nb_persist *p = pe->p;
    const size_t idx = (size_t)spixel * s->fpixels + fpixel;
    double test = s->r_e_sqr * s->fluence * p->I / s->steps;
    if (!s->os_thick)
        test *= p->capture;
    if (!s->os_polar)
        test *= p->polar;
    if (!s->os_omega)
        test *= p->omega;
    s->image[idx] += test;

    if (pe->tr) {
        nb_trace_pixel *tr = pe->tr;
        tr->computed = 1;
        tr->I_before_scaling = p->I;
        tr->polar_applied = s->os_polar ? 1.0 : p->polar;
        tr->omega_applied_sr = s->os_omega ? 1.0 : p->omega;
        tr->capture_fraction_applied = s->os_thick ? 1.0 : p->capture;
        tr->I_pixel_final = (double)s->image[idx];
        if (!tr->have_polar)
            tr->polar = p->polar;
    }
    if (pe->last_state >= 0) {
        /* the cell of the last evaluated step, for -printout */
        nb_make_cell(s, pe->e, pe->last_state, pe->last_m, pe->scratch);
        vec_copy(pe->scratch, p->a);
        vec_copy(pe->scratch + 4, p->b);
        vec_copy(pe->scratch + 8, p->c);
    }
}

/* The loop variables live in p, as upstream's live in its loop: the image pass leaves
 * them as -printout shows them.  The probe and first-sweep passes use them as scratch
 * (they run only in traced-only runs, which print no -printout); of p they read and
 * update only the carried cell (the first-sweep pass does not touch it). */
int nb_eval_pixel(const nb_sim *s, nb_engine *e, nb_persist *p, int fpixel, int spixel,
                  nb_pass pass, nb_trace_pixel *tr)
{
    pixel_eval pe;
    int t, sS, sF;
    pe.s = s;
    pe.e = e;
    pe.p = p;
    pe.pass = pass;
    pe.tr = (pass == NB_PASS_IMAGE) ? tr : NULL;
    pe.tr_steps = NULL;
    pe.last_state = -1;
    pe.last_m = 0;

    p->polar = s->nopolar ? 1.0 : 0.0;
    if (pass == NB_PASS_IMAGE) {
        p->I = s->I_bg;
        p->omega = 0.0;
        p->capture = 0.0;
    }
    for (t = 0; t < s->det_thicksteps; t++) {
        if (pass == NB_PASS_IMAGE)
            p->capture = (s->det_thick == 0.0) ? 1.0 : 0.0;
        for (sS = 0; sS < s->oversample; sS++)
            for (sF = 0; sF < s->oversample; sF++)
                if (eval_subpixel(&pe, fpixel, spixel, t, sS, sF))
                    return 1;
    }
    if (pass == NB_PASS_IMAGE)
        finish_pixel(&pe, fpixel, spixel);
    return 0;
}
