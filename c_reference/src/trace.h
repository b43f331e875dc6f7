/* TRACE_C lines of the trace contract (schema version 1).
 *
 * A traced pixel's values are recorded where the engine computes them, already in
 * contract units, into fields named exactly after their contract keys
 * (docs/design/trace-contract.md).  trace.c only formats: it walks one ordered key
 * table (trace_keys in trace.c).  Adding a key in C: a field below, one line in that
 * table, and the value stored where it is computed. */
#ifndef NB_TRACE_H
#define NB_TRACE_H

#include <stddef.h>

/* one phi step x mosaic domain of the traced evaluation (layer 0, sub-pixel (0,0),
 * source 0) */
typedef struct {
    int phi_tic, mos_tic; /* the line prefix, not keys */
    double phi_deg;
    double rot_a_angstroms[3], rot_b_angstroms[3], rot_c_angstroms[3];
    double hkl_frac[3];
    long hkl_rounded[3];
    double F_latt_a, F_latt_b, F_latt_c; /* square crystal shape only */
    double F_latt, F_cell, I_term;
} nb_trace_step;

typedef struct {
    /* ---- meta ---- */
    long trace_pixel[2]; /* slow, fast */
    long schema_version;
    const char *engine, *phi_carryover_mode, *dtype, *device;

    /* ---- setup ---- */
    double fdet_vec[3], sdet_vec[3], odet_vec[3], beam_vec[3], polar_vec[3], spindle_vec[3];
    double pix0_vector_meters[3], distance_meters, close_distance_meters;
    double a_angstroms[3], b_angstroms[3], c_angstroms[3];
    double a_star_A_inv[3], b_star_A_inv[3], c_star_A_inv[3], V_cell_A3;
    double N_cells[3], phi0_deg, phistep_deg;
    long phisteps, mosaic_domains, sources, oversample, steps;
    double r_e_sqr_m2, fluence_photons_per_m2;

    /* ---- pixel (layer 0, sub-pixel (0,0), source 0) ---- */
    double pixel_pos_meters[3], R_distance_meters, omega_pixel_sr, obliquity_factor;
    double diffracted_vec[3], incident_vec[3], lambda_angstroms;
    double scattering_vec_A_inv[3], stol_A_inv, polar, capture_fraction;

    /* ---- step records, in loop order ---- */
    nb_trace_step *step_records;
    size_t nstep_records, step_records_cap;

    /* ---- final ---- */
    double I_before_scaling, polar_applied, omega_applied_sr, capture_fraction_applied;
    double I_pixel_final;

    /* ---- which sections were recorded ---- */
    int computed;    /* the pixel was evaluated (inside ROI, not masked): final keys */
    int have_pixel;  /* the pixel keys */
    int have_polar;  /* polar holds the first polarisation factor computed */
    int F_latt_axes; /* the steps hold F_latt_a/b/c (square shape) */
} nb_trace_pixel;

/* a new, zeroed step record at the end of tr's steps */
nb_trace_step *nb_trace_add_step(nb_trace_pixel *tr);
/* the whole block: meta, setup, pixel, steps, final */
void nb_trace_print(const nb_trace_pixel *tr);

#endif
