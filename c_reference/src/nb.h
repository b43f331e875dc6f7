/* The whole state of one simulation run: options as given, the values derived
 * from them, the tables built from them and the image.  Lengths are metres and
 * angles radians inside, as in the program whose behaviour is reproduced. */
#ifndef NB_H
#define NB_H

#include <stddef.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define NB_RTD (180.0 * (1.0 / M_PI))
#define NB_AVOGADRO 6.02214179e23

/* resource guards shared with the torch engine (simulator/setup.py): inputs beyond them
 * are usage errors in both engines (upstream would run for days or exhaust memory) */
#define NB_MAX_STEPS 10000000         /* steps along one loop (phi, divergence, ...) */
#define NB_MAX_OVERSAMPLE 1000        /* sub-pixels per pixel side */
#define NB_MAX_PIXELS 400000000.0     /* detector pixels */
#define NB_MAX_HKL_CELLS 250000000.0  /* cells of the structure-factor table (2 GB) */

typedef enum { PIVOT_SAMPLE, PIVOT_BEAM } nb_pivot;
typedef enum { SHAPE_SQUARE, SHAPE_ROUND, SHAPE_GAUSS, SHAPE_TOPHAT } nb_shape;
typedef enum { CONV_CUSTOM, CONV_ADXV, CONV_MOSFLM, CONV_XDS, CONV_DIALS, CONV_DENZO } nb_convention;

/* The phi=0 carry-over, with the names both engines and the docs use:
 *
 * - phi_carryover_mode (-phi_carryover_mode): SPEC rotates every phi step from the
 *   reference orientation; C_PARITY reproduces upstream's serial loop, where a step with
 *   phi == 0 skips the rotation and so reuses the cell of the last evaluated step;
 *   C_PARITY_OMP reproduces upstream's OpenMP build run with omp_threads threads, where
 *   each thread (a static-schedule block of slow rows) carries its own cell.
 * - carried_cell: the rotated cell kept from the last evaluated phi step and reused at
 *   phi == 0 steps.  It does not depend on the pixel, so it is kept as an index,
 *   carried_cell_state, into the engine's cell table (nb_engine.cells: 0 the unrotated
 *   cell, t + 1 the cell of phi step t).
 * - first_sweep: the first phi sweep of the run (of each thread block in c-parity-omp), the
 *   only one that starts from the unrotated cell; its pixel is the first active
 *   pixel (ROI, mask, raster order) with a sub-pixel and source that pass the -dmin cut.
 *   Every sweep after it starts with the carried cell of the last non-zero phi step. */
typedef enum {
    PHI_CARRYOVER_SPEC,
    PHI_CARRYOVER_C_PARITY,
    PHI_CARRYOVER_C_PARITY_OMP
} nb_phi_carryover_mode;

typedef struct {
    /* ---- files ---- */
    const char *matfile, *hklfile, *dumpfile, *maskfile, *imgfile, *sourcefile, *stolfile;
    const char *floatfile, *intfile, *pgmfile, *noisefile;
    int calculate_noise, write_pgm;

    /* ---- detector ---- */
    double beam[4], fdet[4], sdet[4], odet[4], pix0[4], twotheta_axis[4];
    double polar_vec[4], spindle[4], vert[4];
    nb_pivot pivot;
    nb_convention conv;
    double distance, close_distance, detsize_f, detsize_s, pixel_size;
    int fpixels, spixels;
    double Xbeam, Ybeam, Fbeam, Sbeam, Xclose, Yclose, Fclose, Sclose, ORGX, ORGY;
    double dials_origin[4];
    double rotx, roty, rotz, twotheta;
    double hdr_twotheta; /* read from image headers, unused */
    int curved, point_pixel;
    double det_mu, det_thick, det_thickstep;
    int det_thicksteps;
    int oversample, os_thick, os_polar, os_omega;
    int roi_xmin, roi_xmax, roi_ymin, roi_ymax;
    unsigned short *mask;
    int mask_f, mask_s;
    double omega_sum;

    /* ---- beam ---- */
    double lambda0, dispersion, dispstep;
    int dispsteps;
    double hdivrange, hdivstep, vdivrange, vdivstep;
    int hdivsteps, vdivsteps, divsteps, round_div;
    double fluence, flux, exposure, beamsize;
    double polarization;
    int nopolar;
    double water_size, I_bg;
    int sources;
    double *src_x, *src_y, *src_z, *src_I, *src_lambda;
    double r_e_sqr;

    /* ---- crystal ---- */
    int user_cell;
    double cell_a, cell_b, cell_c, alpha, beta, gamma;
    double misset[4];
    long misset_seed;
    double Na, Nb, Nc;
    double sample_x, sample_y, sample_z;
    nb_shape shape;
    double fudge;
    double mosaic_spread;
    int mosaic_domains;
    long mosaic_seed;
    double *umats;
    double phi0, phistep, osc;
    int phisteps;
    double a_A[4], b_A[4], c_A[4];          /* real-space cell, Angstrom, phi=0 */
    double a_star[4], b_star[4], c_star[4]; /* reciprocal cell, 1/Angstrom */
    double a0[4], b0[4], c0[4];             /* real-space cell, metres */
    double V_cell;                          /* Angstrom^3 */
    double alpha_out, beta_out, gamma_out, alpha_star, beta_star, gamma_star;
    double xtal_a, xtal_b, xtal_c;

    /* ---- structure factors ---- */
    int interpolate;     /* 2: automatic, 1: on, 0: off */
    double default_F;
    long hkls;
    int h_min, h_max, k_min, k_max, l_min, l_max, h_range, k_range, l_range;
    double *Fhkl;        /* (h_range+1) x (k_range+1) x (l_range+1) */
    double dmin;
    double stol_file_mult;
    double hkl_last[4];  /* h k l F of the last HKL line (upstream's loop variables keep them) */

    /* ---- output ---- */
    double intfile_scale, pgm_scale, adc;
    long seed;
    int printout, printout_f, printout_s, progress;
    int have_printout_pixel;
    int recommended_oversample;

    /* ---- extras ---- */
    nb_phi_carryover_mode phi_carryover_mode; /* see above; default C_PARITY */
    int omp_threads;   /* threads of C_PARITY_OMP's schedule (-omp_threads; 0 when not given) */
    int ntrace;
    int (*trace)[2]; /* slow, fast */

    /* ---- derived sampling ---- */
    long steps;
    double subpixel_size;
    float *image;
} nb_sim;

/* phi == 0 steps use the carried cell (c-parity, c-parity-omp) */
static inline int nb_carries_cell(const nb_sim *s)
{
    return s->phi_carryover_mode != PHI_CARRYOVER_SPEC;
}
/* the carried cell restarts at every thread block (c-parity-omp) */
static inline int nb_carry_per_thread_block(const nb_sim *s)
{
    return s->phi_carryover_mode == PHI_CARRYOVER_C_PARITY_OMP;
}

/* options.c */
void nb_defaults(nb_sim *s);
/* "spec", "c-parity" or "c-parity-omp": the option value and the trace word */
const char *nb_phi_carryover_mode_name(nb_phi_carryover_mode mode);
void nb_parse_args(nb_sim *s, int argc, char **argv);
/* smv.c */
void nb_read_mask_header(nb_sim *s, const char *path, int is_mask);
/* sampling.c */
void nb_setup_sampling(nb_sim *s);
/* detector.c */
void nb_setup_detector_frame(nb_sim *s);
void nb_setup_detector(nb_sim *s);
/* crystal.c */
void nb_setup_crystal(nb_sim *s);
/* beam.c */
void nb_setup_sources(nb_sim *s);
void nb_setup_mosaic(nb_sim *s);
/* sfac.c */
void nb_load_structure_factors(nb_sim *s);
int nb_interp_in_range(const nb_sim *s, double h, double k, double l);
void nb_stop_at_nan_index(double h, double k, double l); /* dies: upstream would crash */
double nb_F_lookup(const nb_sim *s, double h, double k, double l, int h0, int k0, int l0,
                   int *interp_flag);

#endif
