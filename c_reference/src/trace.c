/* Formatting of the TRACE_C / TRACE_C_PHI lines: one ordered key table, walked per
 * section.  The values are recorded in contract units by the engine (engine.c); nothing
 * here converts or computes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "err.h"
#include "trace.h"

typedef enum { KIND_INT, KIND_REAL, KIND_WORD } key_kind; /* long, double, const char * */
typedef enum { SEC_META, SEC_SETUP, SEC_PIXEL, SEC_STEP, SEC_FINAL } key_section;

typedef struct {
    const char *key;
    key_section section;
    key_kind kind;
    int n;          /* values on the line */
    size_t offset;  /* of the field in nb_trace_pixel (nb_trace_step for SEC_STEP) */
    int axes_only;  /* printed only when the record has F_latt_axes */
} trace_key;

/* the field is named after the key: #key is both */
#define K(section, kind, n, key) {#key, section, kind, n, offsetof(nb_trace_pixel, key), 0}
#define STEP(kind, n, key) {#key, SEC_STEP, kind, n, offsetof(nb_trace_step, key), 0}
#define STEP_AXES(kind, n, key) {#key, SEC_STEP, kind, n, offsetof(nb_trace_step, key), 1}

/* every key of the contract's catalogue, in its order (the order of the lines) */
static const trace_key trace_keys[] = {
    K(SEC_META, KIND_INT, 2, trace_pixel),
    K(SEC_META, KIND_INT, 1, schema_version),
    K(SEC_META, KIND_WORD, 1, engine),
    K(SEC_META, KIND_WORD, 1, phi_carryover_mode),
    K(SEC_META, KIND_WORD, 1, dtype),
    K(SEC_META, KIND_WORD, 1, device),

    K(SEC_SETUP, KIND_REAL, 3, fdet_vec),
    K(SEC_SETUP, KIND_REAL, 3, sdet_vec),
    K(SEC_SETUP, KIND_REAL, 3, odet_vec),
    K(SEC_SETUP, KIND_REAL, 3, beam_vec),
    K(SEC_SETUP, KIND_REAL, 3, polar_vec),
    K(SEC_SETUP, KIND_REAL, 3, spindle_vec),
    K(SEC_SETUP, KIND_REAL, 3, pix0_vector_meters),
    K(SEC_SETUP, KIND_REAL, 1, distance_meters),
    K(SEC_SETUP, KIND_REAL, 1, close_distance_meters),
    K(SEC_SETUP, KIND_REAL, 3, a_angstroms),
    K(SEC_SETUP, KIND_REAL, 3, b_angstroms),
    K(SEC_SETUP, KIND_REAL, 3, c_angstroms),
    K(SEC_SETUP, KIND_REAL, 3, a_star_A_inv),
    K(SEC_SETUP, KIND_REAL, 3, b_star_A_inv),
    K(SEC_SETUP, KIND_REAL, 3, c_star_A_inv),
    K(SEC_SETUP, KIND_REAL, 1, V_cell_A3),
    K(SEC_SETUP, KIND_REAL, 3, N_cells),
    K(SEC_SETUP, KIND_REAL, 1, phi0_deg),
    K(SEC_SETUP, KIND_REAL, 1, phistep_deg),
    K(SEC_SETUP, KIND_INT, 1, phisteps),
    K(SEC_SETUP, KIND_INT, 1, mosaic_domains),
    K(SEC_SETUP, KIND_INT, 1, sources),
    K(SEC_SETUP, KIND_INT, 1, oversample),
    K(SEC_SETUP, KIND_INT, 1, steps),
    K(SEC_SETUP, KIND_REAL, 1, r_e_sqr_m2),
    K(SEC_SETUP, KIND_REAL, 1, fluence_photons_per_m2),

    K(SEC_PIXEL, KIND_REAL, 3, pixel_pos_meters),
    K(SEC_PIXEL, KIND_REAL, 1, R_distance_meters),
    K(SEC_PIXEL, KIND_REAL, 1, omega_pixel_sr),
    K(SEC_PIXEL, KIND_REAL, 1, obliquity_factor),
    K(SEC_PIXEL, KIND_REAL, 3, diffracted_vec),
    K(SEC_PIXEL, KIND_REAL, 3, incident_vec),
    K(SEC_PIXEL, KIND_REAL, 1, lambda_angstroms),
    K(SEC_PIXEL, KIND_REAL, 3, scattering_vec_A_inv),
    K(SEC_PIXEL, KIND_REAL, 1, stol_A_inv),
    K(SEC_PIXEL, KIND_REAL, 1, polar),
    K(SEC_PIXEL, KIND_REAL, 1, capture_fraction),

    STEP(KIND_REAL, 1, phi_deg),
    STEP(KIND_REAL, 3, rot_a_angstroms),
    STEP(KIND_REAL, 3, rot_b_angstroms),
    STEP(KIND_REAL, 3, rot_c_angstroms),
    STEP(KIND_REAL, 3, hkl_frac),
    STEP(KIND_INT, 3, hkl_rounded),
    STEP_AXES(KIND_REAL, 1, F_latt_a),
    STEP_AXES(KIND_REAL, 1, F_latt_b),
    STEP_AXES(KIND_REAL, 1, F_latt_c),
    STEP(KIND_REAL, 1, F_latt),
    STEP(KIND_REAL, 1, F_cell),
    STEP(KIND_REAL, 1, I_term),

    K(SEC_FINAL, KIND_REAL, 1, I_before_scaling),
    K(SEC_FINAL, KIND_REAL, 1, polar_applied),
    K(SEC_FINAL, KIND_REAL, 1, omega_applied_sr),
    K(SEC_FINAL, KIND_REAL, 1, capture_fraction_applied),
    K(SEC_FINAL, KIND_REAL, 1, I_pixel_final),
};
#define NKEYS (sizeof trace_keys / sizeof trace_keys[0])

nb_trace_step *nb_trace_add_step(nb_trace_pixel *tr)
{
    nb_trace_step *step;
    if (tr->nstep_records == tr->step_records_cap) {
        size_t cap = tr->step_records_cap ? 2 * tr->step_records_cap : 64;
        nb_trace_step *grown = realloc(tr->step_records, cap * sizeof *grown);
        if (!grown)
            nb_die_code(NB_EXIT_IO, "out of memory (trace)");
        tr->step_records = grown;
        tr->step_records_cap = cap;
    }
    step = &tr->step_records[tr->nstep_records++];
    *step = (nb_trace_step){0};
    return step;
}

/* a real as the trace contract spells it: glibc prints a NaN with its sign bit set as "-nan";
 * the contract has one spelling, "nan" (fabs clears the sign bit of a NaN too) */
static double tv(double v)
{
    return isnan(v) ? fabs(v) : v;
}

static void print_line(const char *prefix, const trace_key *k, const void *record)
{
    const char *field = (const char *)record + k->offset;
    int i;
    printf("%s %s", prefix, k->key);
    for (i = 0; i < k->n; i++) {
        if (k->kind == KIND_INT)
            printf(" %ld", ((const long *)(const void *)field)[i]);
        else if (k->kind == KIND_REAL)
            printf(" %.17g", tv(((const double *)(const void *)field)[i]));
        else
            printf(" %s", ((const char *const *)(const void *)field)[i]);
    }
    printf("\n");
}

/* the lines of one section, in table order */
static void print_section(key_section section, const char *prefix, const void *record,
                          int F_latt_axes)
{
    size_t j;
    for (j = 0; j < NKEYS; j++)
        if (trace_keys[j].section == section && (F_latt_axes || !trace_keys[j].axes_only))
            print_line(prefix, &trace_keys[j], record);
}

void nb_trace_print(const nb_trace_pixel *tr)
{
    size_t i;
    print_section(SEC_META, "TRACE_C:", tr, 0);
    print_section(SEC_SETUP, "TRACE_C:", tr, 0);
    if (!tr->computed)
        return; /* outside the ROI or masked: the pixel is never evaluated */
    if (tr->have_pixel)
        print_section(SEC_PIXEL, "TRACE_C:", tr, 0);
    for (i = 0; i < tr->nstep_records; i++) {
        char prefix[64];
        sprintf(prefix, "TRACE_C_PHI: phi_tic=%d mos_tic=%d", tr->step_records[i].phi_tic,
                tr->step_records[i].mos_tic);
        print_section(SEC_STEP, prefix, &tr->step_records[i], tr->F_latt_axes);
    }
    print_section(SEC_FINAL, "TRACE_C:", tr, 0);
}
