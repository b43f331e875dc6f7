#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "physics.h"
#include "err.h"
#include "vec.h"

#define CELL_TABLE_MAX_DOUBLES (32L * 1024L * 1024L)

/* ---------------------------------------------------------- cell table */

static void make_cell(const nb_sim *s, const nb_engine *e, int state, int m, double *out)
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

void nb_engine_init(nb_engine *e, const nb_sim *s)
{
    int t, m;
    long total;
    memset(e, 0, sizeof *e);
    e->nstate = s->phisteps + 1;
    e->phi = nb_calloc((size_t)s->phisteps, sizeof(double));
    e->last_nonzero = -1;
    for (t = 0; t < s->phisteps; t++) {
        e->phi[t] = s->phi0 + s->phistep * t;
        if (e->phi[t] != 0.0)
            e->last_nonzero = t;
    }
    total = (long)e->nstate * s->mosaic_domains * 12;
    if (total <= CELL_TABLE_MAX_DOUBLES) {
        e->cells = nb_calloc((size_t)total, sizeof(double));
        for (t = 0; t < e->nstate; t++)
            for (m = 0; m < s->mosaic_domains; m++)
                make_cell(s, e, t, m, e->cells + ((size_t)t * s->mosaic_domains + m) * 12);
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
    p->carry = 0;
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

int nb_pixel_in_roi(const nb_sim *s, int fpixel, int spixel)
{
    return !(fpixel < s->roi_xmin || fpixel > s->roi_xmax || spixel < s->roi_ymin ||
             spixel > s->roi_ymax);
}

int nb_pixel_active(const nb_sim *s, int fpixel, int spixel)
{
    if (!nb_pixel_in_roi(s, fpixel, spixel))
        return 0;
    if (s->mask && s->mask[(size_t)spixel * s->fpixels + fpixel] == 0)
        return 0;
    return 1;
}

/* position of a sub-pixel; returns nothing, fills pos[1..3] */
static void subpixel_position(const nb_sim *s, int fpixel, int spixel, int t, int sS, int sF,
                              double *pos, double *Fdet_out, double *Sdet_out)
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
    *Fdet_out = Fdet;
    *Sdet_out = Sdet;
}

int nb_thread_blocks(const nb_sim *s)
{
    if (!s->carry_omp)
        return 1;
    return s->omp_threads < s->spixels ? s->omp_threads : s->spixels;
}

void nb_block_rows(const nb_sim *s, int block, int *sp_first, int *sp_end)
{
    int n = s->spixels, threads = s->carry_omp ? s->omp_threads : 1;
    int q = n / threads, r = n % threads;
    if (block < r) {
        *sp_first = block * (q + 1);
        *sp_end = *sp_first + q + 1;
    } else {
        *sp_first = block * q + r;
        *sp_end = *sp_first + q;
    }
}

int nb_row_block(const nb_sim *s, int spixel)
{
    int n = s->spixels, threads = s->carry_omp ? s->omp_threads : 1;
    int q = n / threads, r = n % threads;
    /* the r long blocks come first; q == 0 means every row is in a long block */
    if (spixel < r * (q + 1))
        return spixel / (q + 1);
    return r + (spixel - r * (q + 1)) / q;
}

long nb_first_sweep_pixel(const nb_sim *s, int sp_first, int sp_end)
{
    int sp, fp, t, sS, sF, src;
    for (sp = sp_first; sp < sp_end; sp++)
        for (fp = 0; fp < s->fpixels; fp++) {
            if (!nb_pixel_active(s, fp, sp))
                continue;
            if (!(s->dmin > 0.0))
                return (long)sp * s->fpixels + fp;
            for (t = 0; t < s->det_thicksteps; t++)
                for (sS = 0; sS < s->oversample; sS++)
                    for (sF = 0; sF < s->oversample; sF++) {
                        double pos[4], d[4], sc[4], Fd, Sd, stol;
                        subpixel_position(s, fp, sp, t, sS, sF, pos, &Fd, &Sd);
                        vec_unit(pos, d);
                        for (src = 0; src < s->sources; src++) {
                            sc[1] = (d[1] - (-s->src_x[src])) / s->src_lambda[src];
                            sc[2] = (d[2] - (-s->src_y[src])) / s->src_lambda[src];
                            sc[3] = (d[3] - (-s->src_z[src])) / s->src_lambda[src];
                            stol = 0.5 * vec_norm(sc);
                            if (stol > 0.0 && s->dmin > 0.5 / stol)
                                continue;
                            return (long)sp * s->fpixels + fp;
                        }
                    }
        }
    return -1;
}

/* --------------------------------------------------------- the pixel */

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

/* upstream's warning when the interpolation switch turns itself off (printed once) */
static void interp_off_warning(nb_engine *e, double h, double k, double l, int h0, int k0, int l0)
{
    if (e->babble) {
        e->babble = 0;
        printf("WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: %g,%g,%g,%d,%d,%d \n",
               h, k, l, h0, k0, l0);
        printf("WARNING: further warnings will not be printed! ");
    }
}

void nb_compute_pixel(const nb_sim *s, nb_engine *e, nb_persist *p, int fpixel, int spixel,
                      nb_trace_pixel *tr)
{
    const size_t idx = (size_t)spixel * s->fpixels + fpixel;
    const int domains = s->mosaic_domains;
    double I = s->I_bg;
    double polar = s->nopolar ? 1.0 : 0.0;
    double omega = 0.0, capture = 0.0;
    double pos[4], diffracted[4], incident[4], scattering[4];
    double h = p->h, k = p->k, l = p->l, F_cell = p->F_cell, F_latt = p->F_latt;
    double stol = p->stol;
    int h0 = p->h0, k0 = p->k0, l0 = p->l0;
    int state = p->carry;
    int last_state = -1, last_m = 0;
    const double *cell = NULL;
    double scratch[12];
    int t, sS, sF, src, pt, m;
    double Fdet, Sdet, test;

    vec_copy(p->pixel_pos, pos);

    for (t = 0; t < s->det_thicksteps; t++) {
        capture = 0.0;
        if (s->det_thick == 0.0)
            capture = 1.0;
        for (sS = 0; sS < s->oversample; sS++) {
            for (sF = 0; sF < s->oversample; sF++) {
                const int first_sub = (t == 0 && sS == 0 && sF == 0);
                double airpath;
                subpixel_position(s, fpixel, spixel, t, sS, sF, pos, &Fdet, &Sdet);
                airpath = vec_unit(pos, diffracted);

                if (omega == 0.0 || s->os_omega) {
                    omega = s->pixel_size * s->pixel_size / airpath / airpath * s->close_distance / airpath;
                    if (s->point_pixel)
                        omega = 1.0 / airpath / airpath;
                }
                p->omega_sum += omega;

                if (capture == 0.0 || s->os_thick) {
                    double parallax = vec_dot(diffracted, s->odet);
                    capture = exp((double)(-t) * s->det_thickstep * s->det_mu / parallax) -
                              exp((double)(-(t + 1)) * s->det_thickstep * s->det_mu / parallax);
                }
                if (tr && first_sub) {
                    tr->have_pixel = 1;
                    vec_copy(pos, tr->pixel_pos);
                    tr->R = airpath;
                    tr->omega = omega;
                    tr->obliquity = s->close_distance / airpath;
                    vec_copy(diffracted, tr->diffracted);
                    tr->have_capture = 1;
                    tr->capture = capture;
                }

                for (src = 0; src < s->sources; src++) {
                    const double lambda = s->src_lambda[src];
                    const int trace_steps = (tr && first_sub && src == 0);
                    stol = scattering_vector(s, src, lambda, diffracted, incident, scattering);
                    if (tr && first_sub && src == 0) {
                        vec_copy(incident, tr->incident);
                        tr->lambda = lambda;
                        vec_copy(scattering, tr->scattering);
                        tr->stol = stol;
                    }
                    if (s->dmin > 0.0 && stol > 0.0) {
                        if (s->dmin > 0.5 / stol)
                            continue;
                    }
                    if (polar == 0.0 || s->os_polar) {
                        polar = nb_polarization_factor(s->polarization, incident, diffracted, e->polar_axis);
                        if (tr && !tr->have_polar) {
                            tr->have_polar = 1;
                            tr->polar = polar;
                        }
                    }

                    for (pt = 0; pt < s->phisteps; pt++) {
                        const double phi = e->phi[pt];
                        if (phi != 0.0)
                            state = pt + 1;
                        else if (!s->carry_cparity)
                            state = 0;
                        /* else: c-parity keeps the cell of the last non-zero phi */

                        for (m = 0; m < domains; m++) {
                            const double *a, *b, *c;
                            double Fax[3] = {1.0, 1.0, 1.0};
                            int skipped = 0;
                            if (e->cells) {
                                cell = e->cells + ((size_t)state * domains + m) * 12;
                            } else {
                                make_cell(s, e, state, m, scratch);
                                cell = scratch;
                            }
                            a = cell;
                            b = cell + 4;
                            c = cell + 8;

                            h = vec_dot(a, scattering);
                            k = vec_dot(b, scattering);
                            l = vec_dot(c, scattering);
                            h0 = nb_c_int(ceil(h - 0.5));
                            k0 = nb_c_int(ceil(k - 0.5));
                            l0 = nb_c_int(ceil(l - 0.5));

                            F_latt = nb_lattice_factor(s, h, k, l, h0, k0, l0, Fax);
                            if (F_latt == 0.0 && s->water_size == 0.0)
                                skipped = 1;

                            if (!skipped) {
                                int interp;
                                double term;
#if defined(_OPENMP)
#pragma omp atomic read
#endif
                                interp = e->interpolate;
                                if (interp) {
                                    nb_stop_at_nan_index(h, k, l);
                                    F_cell = nb_F_lookup(s, h, k, l, h0, k0, l0, &interp);
                                    if (!interp) {
#if defined(_OPENMP)
#pragma omp atomic write
#endif
                                        e->interpolate = 0;
                                        interp_off_warning(e, h, k, l, h0, k0, l0);
                                    }
                                } else {
                                    F_cell = nb_F_lookup(s, h, k, l, h0, k0, l0, &interp);
                                }
                                term = F_cell * F_cell * F_latt * F_latt;
                                I += term;
                                if (s->os_thick)
                                    I *= capture;
                                if (s->os_polar)
                                    I *= polar;
                                if (s->os_omega)
                                    I *= omega;
                                if (trace_steps)
                                    nb_trace_step(tr, s, pt, m, phi, a, b, c, h, k, l, h0, k0, l0,
                                                  Fax, F_latt, F_cell, term);
                            } else if (trace_steps) {
                                /* nothing is added at this step; report the structure
                                 * factor the lookup would give, without side effects */
                                int interp = e->interpolate;
                                double Fc = nb_F_lookup(s, h, k, l, h0, k0, l0, &interp);
                                nb_trace_step(tr, s, pt, m, phi, a, b, c, h, k, l, h0, k0, l0,
                                              Fax, F_latt, Fc, 0.0);
                            }
                            last_state = state;
                            last_m = m;
                        }
                    }
                }
            }
        }
    }

    test = s->r_e_sqr * s->fluence * I / s->steps;
    if (!s->os_thick)
        test *= capture;
    if (!s->os_polar)
        test *= polar;
    if (!s->os_omega)
        test *= omega;
    s->image[idx] += test;

    if (tr) {
        tr->computed = 1;
        tr->I = I;
        tr->polar_applied = s->os_polar ? 1.0 : polar;
        tr->omega_applied = s->os_omega ? 1.0 : omega;
        tr->capture_applied = s->os_thick ? 1.0 : capture;
        tr->I_final = (double)s->image[idx];
        if (!tr->have_polar)
            tr->polar = polar;
    }

    p->carry = state;
    if (last_state >= 0) {
        /* the cell of the last evaluated step, for -printout */
        make_cell(s, e, last_state, last_m, scratch);
        vec_copy(scratch, p->a);
        vec_copy(scratch + 4, p->b);
        vec_copy(scratch + 8, p->c);
    }
    vec_copy(pos, p->pixel_pos);
    p->stol = stol;
    p->h = h;
    p->k = k;
    p->l = l;
    p->h0 = h0;
    p->k0 = k0;
    p->l0 = l0;
    p->F_cell = F_cell;
    p->F_latt = F_latt;
    p->I = I;
    p->polar = polar;
    p->omega = omega;
    p->capture = capture;
}

/* The same loops as nb_compute_pixel, reduced to what decides the run-wide
 * interpolation switch: Miller indices of every evaluated step (the carried
 * cell, the dmin cut, the lattice-factor skip and the in-place re-normalisation
 * of the diffracted vector all included) and the range test.  Returns 1 when
 * the switch flipped inside this pixel.  Nothing is written to the image. */
int nb_probe_pixel(const nb_sim *s, nb_engine *e, nb_persist *p, int fpixel, int spixel)
{
    const int domains = s->mosaic_domains;
    double polar = s->nopolar ? 1.0 : 0.0;
    double pos[4], diffracted[4], incident[4], scattering[4], scratch[12];
    int state = p->carry;
    int t, sS, sF, src, pt, m;
    double Fdet, Sdet;

    for (t = 0; t < s->det_thicksteps; t++)
        for (sS = 0; sS < s->oversample; sS++)
            for (sF = 0; sF < s->oversample; sF++) {
                subpixel_position(s, fpixel, spixel, t, sS, sF, pos, &Fdet, &Sdet);
                vec_unit(pos, diffracted);
                for (src = 0; src < s->sources; src++) {
                    const double lambda = s->src_lambda[src];
                    double stol;
                    stol = scattering_vector(s, src, lambda, diffracted, incident, scattering);
                    if (s->dmin > 0.0 && stol > 0.0 && s->dmin > 0.5 / stol)
                        continue;
                    if (polar == 0.0 || s->os_polar)
                        polar = nb_polarization_factor(s->polarization, incident, diffracted, e->polar_axis);
                    for (pt = 0; pt < s->phisteps; pt++) {
                        if (e->phi[pt] != 0.0)
                            state = pt + 1;
                        else if (!s->carry_cparity)
                            state = 0;
                        for (m = 0; m < domains; m++) {
                            const double *cell;
                            double h, k, l;
                            if (e->cells) {
                                cell = e->cells + ((size_t)state * domains + m) * 12;
                            } else {
                                make_cell(s, e, state, m, scratch);
                                cell = scratch;
                            }
                            h = vec_dot(cell, scattering);
                            k = vec_dot(cell + 4, scattering);
                            l = vec_dot(cell + 8, scattering);
                            if (s->shape != SHAPE_SQUARE && s->water_size == 0.0) {
                                /* a zero lattice factor skips the lookup (a square
                                 * lattice factor is never exactly zero) */
                                double Fax[3];
                                int h0 = nb_c_int(ceil(h - 0.5)), k0 = nb_c_int(ceil(k - 0.5)),
                                    l0 = nb_c_int(ceil(l - 0.5));
                                if (nb_lattice_factor(s, h, k, l, h0, k0, l0, Fax) == 0.0)
                                    continue;
                            }
                            nb_stop_at_nan_index(h, k, l);
                            if (!nb_interp_in_range(s, h, k, l)) {
                                e->interpolate = 0;
                                interp_off_warning(e, h, k, l, nb_c_int(ceil(h - 0.5)),
                                                   nb_c_int(ceil(k - 0.5)),
                                                   nb_c_int(ceil(l - 0.5)));
                                p->carry = state;
                                return 1;
                            }
                        }
                    }
                }
            }
    p->carry = state;
    return 0;
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
