/* nanobragg-ref: a clean-room C reference of nanoBragg's algorithm with
 * per-pixel tracing (TRACE_C lines of the nbparity trace contract). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(_OPENMP)
#include <omp.h>
#endif
#include "engine.h"
#include "err.h"
#include "images.h"
#include "nb.h"
#include "output.h"
#include "trace.h"
#include "vec.h"

static void print_summary(const nb_sim *s)
{
    static const char *shapes[] = {"parallelpiped", "ellipsoidal", "gaussian", "tophat-spot"};
    double v[4];
    printf("  %ld initialized hkls (all others =%g)\n", s->hkls, s->default_F);
    printf("  %s xtal: %.0fx%.0fx%.0f cells\n", shapes[s->shape], s->Na, s->Nb, s->Nc);
    printf("  wave=%g meters +/- %g%% in %d steps\n", s->lambda0, s->dispersion * 100, s->dispsteps);
    if (s->nopolar)
        printf("  polarization effect disabled\n");
    else
        printf("  Kahn polarization factor: %f\n", s->polarization);
    if (s->curved)
        printf("  curved detector: all pixels same distance from origin\n");
    if (s->point_pixel)
        printf("  pixel obliquity effect disabled\n");
    printf("  incident fluence: %lg photons/m^2\n", s->fluence);
    printf("  distance=%lg detsize=%lgx%lg  pixel=%lg meters (%dx%d pixels)\n", s->distance,
           s->detsize_f, s->detsize_s, s->pixel_size, s->fpixels, s->spixels);
    printf("  sensor is %lg m thick in %d layers with mu= %lg\n", s->det_thick, s->det_thicksteps, s->det_mu);
    printf("  Xbeam=%lg Ybeam=%lg\n", s->Xbeam, s->Ybeam);
    printf("  Fbeam=%lg Sbeam=%lg\n", s->Fbeam, s->Sbeam);
    printf("  Xclose=%lg Yclose=%lg\n", s->Xclose, s->Yclose);
    printf("  Fclose=%lg Sclose=%lg\n", s->Fclose, s->Sclose);
    printf("  DIRECTION_OF_DETECTOR_X-AXIS= %g %g %g\n", s->fdet[1], s->fdet[2], s->fdet[3]);
    printf("  DIRECTION_OF_DETECTOR_Y-AXIS= %g %g %g\n", s->sdet[1], s->sdet[2], s->sdet[3]);
    printf("  DIRECTION_OF_DETECTOR_Z-AXIS= %g %g %g\n", s->odet[1], s->odet[2], s->odet[3]);
    printf("  INCIDENT_BEAM_DIRECTION= %g %g %g\n", s->beam[1], s->beam[2], s->beam[3]);
    printf("  spindle ROTATION_AXIS= %g %g %g\n", s->spindle[1], s->spindle[2], s->spindle[3]);
    vec_cross(s->beam, s->polar_vec, v);
    printf("  POLARIZATION_PLANE_NORMAL= %g %g %g\n", v[1], v[2], v[3]);
    printf("  dials origin= %g %g %g\n", s->dials_origin[1], s->dials_origin[2], s->dials_origin[3]);
    printf("  roi: %d < x < %d && %d < y < %d\n", s->roi_xmin, s->roi_xmax, s->roi_ymin, s->roi_ymax);
    printf("  hdivrange=%g hdivstep=%g  radians\n", s->hdivrange, s->hdivstep);
    printf("  vdivrange=%g vdivstep=%g  radians\n", s->vdivrange, s->vdivstep);
    printf("  %d divergence steps\n", s->divsteps);
    printf("  %d sources\n", s->sources);
    printf("  %d mosaic domains over mosaic spread of %g degrees\n", s->mosaic_domains,
           s->mosaic_spread * NB_RTD);
    printf("  %d phi steps from %g to %g degrees\n", s->phisteps, s->phi0 * NB_RTD,
           (s->phi0 + s->osc) * NB_RTD);
    printf("  %dx%d pixel oversample steps", s->oversample, s->oversample);
    if (s->os_thick) printf(" +thick");
    if (s->os_polar) printf(" +polar");
    if (s->os_omega) printf(" +omega");
    printf("\n");
    if (s->mask)
        printf("  skipping zero-flagged pixels in %s\n", s->maskfile);
    if (s->calculate_noise) {
        printf("\n  noise image paramters:\n");
        printf("  seed: %ld\n", s->seed);
        printf("  water droplet size: %g m\n", s->water_size);
    }
}

static nb_trace_pixel *find_trace(nb_trace_pixel *tp, int n, int fp, int sp)
{
    int j;
    for (j = 0; j < n; j++)
        if (tp[j].trace_pixel[0] == sp && tp[j].trace_pixel[1] == fp)
            return &tp[j];
    return NULL;
}

#if !defined(_OPENMP)
/* upstream's progress_pixels, (roi_xmax - roi_xmin + 1) * (roi_ymax - roi_ymin + 1), in a
 * wide type: in int it overflows (upstream's undefined behaviour) for -roi 0 2147483647 ...
 * Not clamped to the detector: the region as given sets the percentages, as upstream (and the
 * torch engine's progress_lines) count them; each factor lies within +-2^31 (roi_xmin and
 * roi_ymin >= 0), so the product fits in a long long. An inverted region (a negative product)
 * renders nothing and prints no progress. */
static unsigned long long progress_total(const nb_sim *s)
{
    long long w = (long long)s->roi_xmax - s->roi_xmin + 1;
    long long h = (long long)s->roi_ymax - s->roi_ymin + 1;
    long long t = w * h;
    return t > 0 ? (unsigned long long)t : 0;
}

static void progress_line(const nb_sim *s, unsigned long long done, unsigned long long total)
{
    if (!s->progress || s->printout || total / 100 == 0)
        return;
    /* 9 * total wraps past 2^64 / 9, where 10 * done (done < the pixel count) is smaller */
    if (done % (total / 20) == 0 ||
        ((10 * done < total || (total <= ULLONG_MAX / 9 && 10 * done > 9 * total)) &&
         done % (total / 100) == 0)) {
        printf("%llu%% done\n", done * 100 / total);
        fflush(stdout);
    }
}
#endif

#if defined(_OPENMP)
/* rows [sp_first, sp_end) in raster order with the carried state p */
static void run_rows(nb_sim *s, nb_engine *e, nb_persist *p, nb_trace_pixel *tp, int sp_first,
                     int sp_end)
{
    int sp, fp;
    for (sp = sp_first; sp < sp_end; sp++)
        for (fp = 0; fp < s->fpixels; fp++) {
            if (!nb_pixel_active(s, fp, sp))
                continue;
            nb_eval_pixel(s, e, p, fp, sp, NB_PASS_IMAGE,
                          s->ntrace ? find_trace(tp, s->ntrace, fp, sp) : NULL);
            if (s->printout && ((fp == s->printout_f && sp == s->printout_s) || s->printout_f < 0)) {
#pragma omp critical(nb_printout)
                nb_printout_pixel(s, p, fp, sp);
            }
        }
}
#endif

static double run_full(nb_sim *s, nb_engine *e, nb_trace_pixel *tp)
{
    double omega_sum = 0.0;
    const int blocks = nb_thread_blocks(s);
#if defined(_OPENMP)
#pragma omp parallel reduction(+ : omega_sum)
    {
        nb_persist p;
        int sp, b;
        nb_persist_init(&p, s);
        if (nb_carry_per_thread_block(s)) {
            /* the emulated threads' blocks, each from the unrotated cell: the image does not
             * depend on how many threads really run them */
#pragma omp for schedule(dynamic, 1)
            for (b = 0; b < blocks; b++) {
                int first, end;
                nb_block_rows(s, b, &first, &end);
                p.carried_cell_state = 0;
                run_rows(s, e, &p, tp, first, end);
            }
        } else {
            /* upstream's loop: each thread carries its own cell over its static block */
#pragma omp for schedule(static)
            for (sp = 0; sp < s->spixels; sp++)
                run_rows(s, e, &p, tp, sp, sp + 1);
        }
        omega_sum += p.omega_sum;
    }
#else
    nb_persist p;
    int sp, fp, b;
    unsigned long long done = 0, total = progress_total(s);
    nb_persist_init(&p, s);
    for (b = 0; b < blocks; b++) {
        int first, end;
        nb_block_rows(s, b, &first, &end);
        /* c-parity-omp: a thread starts from the unrotated cell (upstream's firstprivate
         * ap, bp, cp); the other loop variables only feed -printout and stay serial */
        p.carried_cell_state = 0;
        for (sp = first; sp < end; sp++)
            for (fp = 0; fp < s->fpixels; fp++) {
                if (!nb_pixel_active(s, fp, sp))
                    continue;
                nb_eval_pixel(s, e, &p, fp, sp, NB_PASS_IMAGE,
                              s->ntrace ? find_trace(tp, s->ntrace, fp, sp) : NULL);
                if (s->printout && ((fp == s->printout_f && sp == s->printout_s) || s->printout_f < 0))
                    nb_printout_pixel(s, &p, fp, sp);
                else
                    progress_line(s, done, total);
                ++done;
            }
    }
    omega_sum = p.omega_sum;
#endif
    return omega_sum;
}

/* Only the traced pixels, each with the state it has in a full serial run:
 * the carried cell is the previous sweep's last non-zero phi step, or the
 * unrotated cell if the pixel is (or comes before) the first sweep of its thread
 * block (the whole detector is one block except in c-parity-omp); the
 * interpolation switch is found by probing pixels in raster order until it flips. */
static void run_traced_only(nb_sim *s, nb_engine *e, nb_trace_pixel *tp)
{
    long last_traced = -1;
    int j;

    for (j = 0; j < s->ntrace; j++) {
        long idx = tp[j].trace_pixel[0] * s->fpixels + tp[j].trace_pixel[1];
        if (idx > last_traced)
            last_traced = idx;
    }
    if (e->interpolate) {
        nb_persist p;
        long idx;
        nb_persist_init(&p, s);
        for (idx = 0; idx <= last_traced && e->interpolate; idx++) {
            int fp = (int)(idx % s->fpixels), sp = (int)(idx / s->fpixels);
            nb_trace_pixel *tr;
            if (fp == 0 && nb_carry_per_thread_block(s)) {
                int first, end;
                nb_block_rows(s, nb_row_block(s, sp), &first, &end);
                if (sp == first)
                    p.carried_cell_state = 0;
            }
            if (!nb_pixel_active(s, fp, sp))
                continue;
            tr = find_trace(tp, s->ntrace, fp, sp);
            nb_eval_pixel(s, e, &p, fp, sp, tr ? NB_PASS_IMAGE : NB_PASS_PROBE, tr);
        }
    }
    for (j = 0; j < s->ntrace; j++) {
        const int sp = (int)tp[j].trace_pixel[0], fp = (int)tp[j].trace_pixel[1];
        const long idx = (long)sp * s->fpixels + fp;
        long first_sweep;
        int first, end;
        nb_persist p;
        if (tp[j].computed || !nb_pixel_active(s, fp, sp))
            continue;
        nb_block_rows(s, nb_row_block(s, sp), &first, &end);
        first_sweep = nb_first_sweep_pixel(s, e, first, end);
        nb_persist_init(&p, s);
        p.carried_cell_state =
            (first_sweep >= 0 && first_sweep < idx) ? e->last_nonzero_phi_step + 1 : 0;
        nb_eval_pixel(s, e, &p, fp, sp, NB_PASS_IMAGE, &tp[j]);
    }
}

/* what the command line asks for must be computable: structure factors, an orientation,
 * traced pixels on the detector, a mask of the detector's size */
static void check_request(const nb_sim *s)
{
    int j;
    if (!s->hklfile && s->default_F == 0.0 && !s->dumpfile)
        nb_die("no structure factors: give -hkl FILE, -default_F VALUE or -dump FILE");
    if (!s->matfile && !s->user_cell)
        nb_die("no crystal orientation: give -cell a b c alpha beta gamma or -mat FILE");
    for (j = 0; j < s->ntrace; j++)
        if (s->trace[j][0] < 0 || s->trace[j][0] >= s->spixels || s->trace[j][1] < 0 ||
            s->trace[j][1] >= s->fpixels)
            nb_die("option -trace_pixel: pixel (slow %d, fast %d) is outside the %d x %d detector",
                   s->trace[j][0], s->trace[j][1], s->spixels, s->fpixels);
    if (s->mask && (s->fpixels != s->mask_f || s->spixels != s->mask_s))
        nb_die("%s: mask is %d x %d pixels but the detector is %d x %d", s->maskfile, s->mask_f,
               s->mask_s, s->fpixels, s->spixels);
}

int main(int argc, char **argv)
{
    nb_sim sim;
    nb_sim *s = &sim;
    nb_engine eng;
    nb_trace_pixel *tp = NULL;
    int j, full;

    nb_defaults(s);
    nb_parse_args(s, argc, argv);
    nb_setup_detector_frame(s);

    printf("nanoBragg nanocrystal diffraction simulator - James Holton and Ken Frankel 5-17-17\n");
    check_request(s);

    nb_setup_sampling(s);
    nb_setup_detector(s);
    nb_setup_crystal(s);
    nb_load_structure_factors(s);
    if (s->stolfile) {
        FILE *f = fopen(s->stolfile, "r");
        if (!f)
            nb_die("%s: cannot open structure-factor-vs-stol file", s->stolfile);
        fclose(f); /* read by upstream but never used */
    }
    nb_setup_sources(s);
    nb_setup_mosaic(s);

    if (s->oversample <= 0)
        s->oversample = 1;
    /* resource guard shared with the torch engine (upstream would run for days) */
    if (s->oversample > NB_MAX_OVERSAMPLE)
        nb_die("impossible sampling: oversample %d (at most %d)", s->oversample,
               NB_MAX_OVERSAMPLE);
    s->steps = (long)s->sources * s->mosaic_domains * s->phisteps * s->oversample * s->oversample;
    s->subpixel_size = s->pixel_size / s->oversample;
    print_summary(s);
    nb_stdout_check(); /* a lost console (a full disk) fails before the long pixel loop */
    s->I_bg = 2.57 * 2.57 * s->r_e_sqr * s->fluence * s->water_size * s->water_size *
              s->water_size * 1e6 * NB_AVOGADRO / 18.0;

    s->image = nb_calloc((size_t)s->fpixels * (size_t)s->spixels + 10, sizeof(float));
    nb_engine_init(&eng, s);
    if (s->ntrace) {
        tp = nb_calloc((size_t)s->ntrace, sizeof *tp);
        for (j = 0; j < s->ntrace; j++)
            nb_trace_open(&tp[j], s, s->trace[j][0], s->trace[j][1]);
    }

    full = s->floatfile || s->intfile || (s->pgmfile && s->write_pgm) ||
           (s->noisefile && s->calculate_noise) || s->printout || s->ntrace == 0;
    if (full) {
        double omega_sum = run_full(s, &eng, tp);
        nb_finish_full_run(s, omega_sum);
        /* trace blocks last: every line above ends with a newline by now */
        for (j = 0; j < s->ntrace; j++)
            nb_trace_print(&tp[j]);
    } else {
        run_traced_only(s, &eng, tp);
        printf("\n");
        for (j = 0; j < s->ntrace; j++)
            nb_trace_print(&tp[j]);
        printf("trace only: %d pixel%s evaluated, no image statistics\n", s->ntrace,
               s->ntrace == 1 ? "" : "s");
    }
    for (j = 0; j < s->ntrace; j++)
        if (!tp[j].computed)
            nb_warn("traced pixel (slow %d, fast %d) is outside the ROI or masked: not evaluated",
                    s->trace[j][0], s->trace[j][1]);
    /* everything printed must have arrived before any output file is published */
    nb_stdout_check();
    nb_out_publish();
    return 0;
}
