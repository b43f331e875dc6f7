/* Command line: nanoBragg's option names, parsed exactly (one token, one
 * option), in command-line order so that options with side effects (pivot,
 * convention) combine the way they do upstream. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "err.h"
#include "nb.h"

void nb_defaults(nb_sim *s)
{
    const double nan_ = NAN;
    memset(s, 0, sizeof(*s));
    s->calculate_noise = 1;
    s->write_pgm = 1;

    s->beam[1] = 1;
    s->fdet[3] = 1;
    s->sdet[2] = -1;
    s->odet[1] = 1;
    s->twotheta_axis[2] = 1;
    s->polar_vec[3] = 1;
    s->spindle[3] = 1;
    s->pivot = PIVOT_BEAM;
    s->conv = CONV_MOSFLM;
    s->distance = 100.0e-3;
    s->close_distance = nan_;
    s->detsize_f = s->detsize_s = 102.4e-3;
    s->pixel_size = 0.1e-3;
    s->Xbeam = s->Ybeam = s->Fbeam = s->Sbeam = nan_;
    s->Xclose = s->Yclose = s->Fclose = s->Sclose = nan_;
    s->ORGX = s->ORGY = nan_;
    s->det_mu = -1.0;
    s->det_thick = 0.0;
    s->det_thickstep = -1.0;
    s->det_thicksteps = -1;
    s->oversample = -1;
    s->roi_xmin = s->roi_xmax = s->roi_ymin = s->roi_ymax = -1;

    s->lambda0 = 1.0e-10;
    s->dispersion = 0.0;
    s->dispstep = -1;
    s->dispsteps = -1;
    s->hdivrange = s->hdivstep = -1.0;
    s->vdivrange = s->vdivstep = -1.0;
    s->hdivsteps = s->vdivsteps = s->divsteps = -1;
    s->round_div = 1;
    s->fluence = 125932015286227086360700780544.0;
    s->flux = 0.0;
    s->exposure = 1.0;
    s->beamsize = 1e-4;
    s->r_e_sqr = 7.94079248018965e-30;

    s->Na = s->Nb = s->Nc = 1.0;
    s->shape = SHAPE_SQUARE;
    s->fudge = 1;
    s->mosaic_spread = -1.0;
    s->mosaic_domains = -1;
    s->mosaic_seed = -12345678;
    s->seed = -(long)time(NULL);
    s->misset_seed = s->seed;
    s->phi0 = 0.0;
    s->phistep = -1.0;
    s->osc = -1.0;
    s->phisteps = -1;

    s->interpolate = 2;
    s->stol_file_mult = 1.0e10;
    s->adc = 40.0;
    s->progress = 1;
    s->printout_f = s->printout_s = -1;
    s->phi_carryover_mode = PHI_CARRYOVER_C_PARITY;
}

const char *nb_phi_carryover_mode_name(nb_phi_carryover_mode mode)
{
    static const char *const names[] = {"spec", "c-parity", "c-parity-omp"};
    return names[mode];
}

/* ---------------------------------------------------------------- values */

static int parse_real(const char *t, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(t, &end);
    if (end == t)
        return 0;
    while (*end && isspace((unsigned char)*end))
        end++;
    if (*end)
        return 0;
    *out = v;
    return 1;
}

typedef struct {
    int argc;
    char **argv;
    int i; /* index of the option token */
} cursor;

static const char *value_token(cursor *c, int k)
{
    const char *opt = c->argv[c->i];
    if (c->i + k >= c->argc)
        nb_die("option %s: missing value", opt);
    return c->argv[c->i + k];
}

static double val_real(cursor *c, int k)
{
    const char *t = value_token(c, k);
    double v;
    if (!parse_real(t, &v)) {
        if (t[0] == '-' && isalpha((unsigned char)t[1]))
            nb_die("option %s: missing value (found option %s)", c->argv[c->i], t);
        nb_die("option %s: value '%s' is not a number", c->argv[c->i], t);
    }
    return v;
}

/* Integer options: upstream reads them with atoi, which stops at the first non-digit.
 * A value atoi reads as written ('5', '5.0') is taken; '2.5', '1e2', 'nan', 'inf' would be
 * read as 2, 1, 0, 0 and are errors, like a value beyond a C int (atoi's is undefined). */
static int val_int(cursor *c, int k)
{
    const char *t = value_token(c, k);
    double v;
    long n;
    if (!parse_real(t, &v)) {
        if (t[0] == '-' && isalpha((unsigned char)t[1]))
            nb_die("option %s: missing value (found option %s)", c->argv[c->i], t);
        nb_die("option %s: value '%s' is not a number", c->argv[c->i], t);
    }
    errno = 0;
    n = strtol(t, NULL, 10);
    if (v != (double)n)
        nb_die("option %s: value '%s' is not an integer", c->argv[c->i], t);
    if (errno == ERANGE || n > 2147483647L || n < -2147483647L)
        nb_die("option %s: value '%s' is out of range", c->argv[c->i], t);
    return (int)n;
}

/* a count of at least 1, written as a plain decimal integer (no fraction, no exponent:
 * unlike val_int, '2.5' is an error, not 2) */
static int val_count(cursor *c, int k)
{
    const char *t = value_token(c, k);
    const char *d = t;
    long n;
    if (t[0] == '-' && isalpha((unsigned char)t[1]))
        nb_die("option %s: missing value (found option %s)", c->argv[c->i], t);
    if (*d == '+')
        d++;
    if (!isdigit((unsigned char)*d))
        nb_die("option %s: value '%s' is not a positive integer", c->argv[c->i], t);
    while (isdigit((unsigned char)*d))
        d++;
    if (*d)
        nb_die("option %s: value '%s' is not a positive integer", c->argv[c->i], t);
    errno = 0;
    n = strtol(t, NULL, 10);
    if (errno == ERANGE || n > 2147483647L)
        nb_die("option %s: value '%s' is out of range", c->argv[c->i], t);
    if (n < 1)
        nb_die("option %s: value '%s' is not a positive integer", c->argv[c->i], t);
    return (int)n;
}

static const char *val_word(cursor *c, int k)
{
    const char *t = value_token(c, k);
    if (t[0] == '-' && isalpha((unsigned char)t[1]))
        nb_die("option %s: missing value (found option %s)", c->argv[c->i], t);
    if (t[0] == '\0')
        nb_die("option %s: empty value", c->argv[c->i]);
    return t;
}

static int is(const char *tok, const char *name)
{
    return strcmp(tok, name) == 0;
}

static int is_any(const char *tok, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(tok, *names) == 0)
            return 1;
    return 0;
}

static void vector3(cursor *c, double *v)
{
    v[1] = val_real(c, 1);
    v[2] = val_real(c, 2);
    v[3] = val_real(c, 3);
    c->i += 3;
}

/* ------------------------------------------------------------ the parser */

static void add_trace(nb_sim *s, int slow, int fast)
{
    int j;
    for (j = 0; j < s->ntrace; j++)
        if (s->trace[j][0] == slow && s->trace[j][1] == fast)
            return; /* the same pixel twice: one block */
    s->trace = realloc(s->trace, (size_t)(s->ntrace + 1) * sizeof(*s->trace));
    if (!s->trace)
        nb_die_code(NB_EXIT_IO, "out of memory");
    s->trace[s->ntrace][0] = slow;
    s->trace[s->ntrace][1] = fast;
    s->ntrace++;
}

static const char *const SIZE_ALL[] = {"-samplesize", "-sample_size", "-xtalsize", "-xtal_size", NULL};
static const char *const SIZE_X[] = {"-sample_thick", "-sample_x", "-xtal_thick", "-xtal_x", NULL};
static const char *const SIZE_Y[] = {"-sample_width", "-sample_y", "-width", "-xtal_width",
                                     "-xtal_y", NULL};
static const char *const SIZE_Z[] = {"-sample_heigh", "-sample_height", "-sample_z", "-heigh",
                                     "-height", "-xtal_heigh", "-xtal_height", "-xtal_z", NULL};
static const char *const IGNORED_VALUE[] = {"-density", "-sample_den", "-sample_density", "-MW",
                                            "-molec", "-molecules", "-molecular_weight",
                                            "-stolout", NULL};
/* upstream matches "-detector_abs" and "-curved_det" anywhere in a token (strstr): their full
 * words are listed (docs/design/nanobragg-facts.md, PARSING: the spellings both engines take) */
static const char *const DETECTOR_ABS[] = {"-detector_abs", "-detector_absorb",
                                           "-detector_absorption", NULL};
static const char *const MOSAIC[] = {"-mosaic", "-mosaicity", "-mosaic_spread", "-mosaic_spr",
                                     "-mosaici", NULL};

/* Long on purpose (~250 lines): one flat if-else chain, one short branch per option, so
 * that an option is found by searching for its name and every option's effect is read in
 * one place; the loop applies them in command-line order.  Splitting it into functions by
 * topic would only add dispatch code between the name and its effect. */
void nb_parse_args(nb_sim *s, int argc, char **argv)
{
    cursor cc;
    cursor *c = &cc;
    int i;

    cc.argc = argc;
    cc.argv = argv;

    /* image headers first: the command line overrides what they say */
    for (i = 1; i + 1 < argc; i++) {
        if (is(argv[i], "-mask"))
            s->maskfile = argv[i + 1];
        if (is(argv[i], "-img"))
            s->imgfile = argv[i + 1];
    }
    if (s->maskfile)
        nb_read_mask_header(s, s->maskfile, 1);
    if (s->imgfile)
        nb_read_mask_header(s, s->imgfile, 0);

    for (c->i = 1; c->i < argc; c->i++) {
        const char *o = argv[c->i];
        if (o[0] != '-')
            nb_die("unexpected argument '%s' (not an option)", o);

        if (is(o, "-Na")) { s->Na = val_int(c, 1); c->i++; }
        else if (is(o, "-Nb")) { s->Nb = val_int(c, 1); c->i++; }
        else if (is(o, "-Nc")) { s->Nc = val_int(c, 1); c->i++; }
        else if (is(o, "-N")) { s->Na = s->Nb = s->Nc = val_int(c, 1); c->i++; }
        else if (is(o, "-cell")) {
            double v[6];
            int n = 0;
            s->user_cell = 1;
            while (n < 6 && c->i + 1 + n < argc && argv[c->i + 1 + n][0] != '-') {
                v[n] = val_real(c, 1 + n);
                n++;
            }
            if (n == 0)
                nb_die("option -cell: missing value");
            if (n > 0) s->cell_a = v[0];
            if (n > 1) s->cell_b = v[1];
            if (n > 2) s->cell_c = v[2];
            if (n > 3) s->alpha = v[3] / NB_RTD;
            if (n > 4) s->beta = v[4] / NB_RTD;
            if (n > 5) s->gamma = v[5] / NB_RTD;
            {
                /* upstream's defaults for b, c <= 0 (a) and angles <= 0 (90 degrees) are
                 * kept; a <= 0 or a NaN / infinite parameter has no cell to give */
                int k;
                for (k = 0; k < n; k++)
                    if (!isfinite(v[k]))
                        nb_die("option -cell: cell parameter '%s' is not finite",
                               argv[c->i + 1 + k]);
                if (!(v[0] > 0.0))
                    nb_die("option -cell: non-positive cell length a '%s'", argv[c->i + 1]);
            }
            c->i += n;
        }
        else if (is(o, "-misset")) {
            const char *t = value_token(c, 1);
            if (strstr(t, "rand")) {
                s->misset[0] = -1;
                c->i++;
            } else {
                double v[4];
                vector3(c, v);
                s->misset[0] = 1;
                s->misset[1] = v[1] / NB_RTD;
                s->misset[2] = v[2] / NB_RTD;
                s->misset[3] = v[3] / NB_RTD;
            }
        }
        else if (is_any(o, SIZE_ALL)) {
            double v = val_real(c, 1) / 1000;
            s->sample_x = s->sample_y = s->sample_z = v;
            c->i++;
        }
        else if (is_any(o, SIZE_X)) { s->sample_x = val_real(c, 1) / 1000; c->i++; }
        else if (is_any(o, SIZE_Y)) { s->sample_y = val_real(c, 1) / 1000; c->i++; }
        else if (is_any(o, SIZE_Z)) { s->sample_z = val_real(c, 1) / 1000; c->i++; }
        else if (is_any(o, IGNORED_VALUE)) { (void)val_word(c, 1); c->i++; }
        else if (is(o, "-Xbeam")) { s->Xbeam = val_real(c, 1) / 1000.0; s->pivot = PIVOT_BEAM; c->i++; }
        else if (is(o, "-Ybeam")) { s->Ybeam = val_real(c, 1) / 1000.0; s->pivot = PIVOT_BEAM; c->i++; }
        else if (is(o, "-Xclose")) { s->Xclose = val_real(c, 1) / 1000.0; s->pivot = PIVOT_SAMPLE; c->i++; }
        else if (is(o, "-Yclose")) { s->Yclose = val_real(c, 1) / 1000.0; s->pivot = PIVOT_SAMPLE; c->i++; }
        else if (is(o, "-ORGX")) { s->ORGX = val_real(c, 1); s->pivot = PIVOT_SAMPLE; c->i++; }
        else if (is(o, "-ORGY")) { s->ORGY = val_real(c, 1); s->pivot = PIVOT_SAMPLE; c->i++; }
        else if (is(o, "-pivot")) {
            const char *t = val_word(c, 1);
            if (strstr(t, "sample"))
                s->pivot = PIVOT_SAMPLE;
            else if (strstr(t, "beam"))
                s->pivot = PIVOT_BEAM;
            else
                nb_die("option -pivot: value '%s' is not 'sample' or 'beam'", t);
            c->i++;
        }
        else if (is(o, "-mosflm")) { s->conv = CONV_MOSFLM; s->pivot = PIVOT_BEAM; }
        else if (is(o, "-xds")) { s->conv = CONV_XDS; s->pivot = PIVOT_SAMPLE; }
        else if (is(o, "-adxv")) { s->conv = CONV_ADXV; s->pivot = PIVOT_BEAM; }
        else if (is(o, "-denzo")) { s->conv = CONV_DENZO; s->pivot = PIVOT_BEAM; }
        else if (is(o, "-dials")) { s->conv = CONV_DIALS; s->pivot = PIVOT_BEAM; }
        else if (is(o, "-fdet_vector")) { vector3(c, s->fdet); s->conv = CONV_CUSTOM; }
        else if (is(o, "-sdet_vector")) { vector3(c, s->sdet); s->conv = CONV_CUSTOM; }
        else if (is(o, "-odet_vector")) { vector3(c, s->odet); s->conv = CONV_CUSTOM; }
        else if (is(o, "-beam_vector")) { vector3(c, s->beam); s->conv = CONV_CUSTOM; }
        else if (is(o, "-polar_vector")) { vector3(c, s->polar_vec); s->conv = CONV_CUSTOM; }
        else if (is(o, "-spindle_axis")) { vector3(c, s->spindle); s->conv = CONV_CUSTOM; }
        else if (is(o, "-twotheta_axis")) { vector3(c, s->twotheta_axis); s->conv = CONV_CUSTOM; }
        else if (is(o, "-pix0_vector")) { vector3(c, s->pix0); s->pix0[0] = 1.0; s->conv = CONV_CUSTOM; }
        else if (is(o, "-distance")) { s->distance = val_real(c, 1) / 1000.0; s->pivot = PIVOT_BEAM; c->i++; }
        else if (is(o, "-close_distance")) { s->close_distance = val_real(c, 1) / 1000.0; s->pivot = PIVOT_SAMPLE; c->i++; }
        else if (is_any(o, DETECTOR_ABS)) {
            const char *t = value_token(c, 1);
            double v = val_real(c, 1);
            if (strstr(t, "inf") || v == 0.0) {
                s->det_thick = 0.0;
                s->det_mu = 0.0;
            } else {
                s->det_mu = 1.0 / (v * 1e-6);
            }
            c->i++;
        }
        else if (is(o, "-detector_thick")) { s->det_thick = val_real(c, 1) * 1e-6; c->i++; }
        else if (is(o, "-detector_thicksteps") || is(o, "-thicksteps")) { s->det_thicksteps = val_int(c, 1); c->i++; }
        else if (is(o, "-twotheta")) { s->twotheta = val_real(c, 1) / NB_RTD; s->pivot = PIVOT_SAMPLE; c->i++; }
        else if (is(o, "-detector_rotx")) { s->rotx = val_real(c, 1) / NB_RTD; c->i++; }
        else if (is(o, "-detector_roty")) { s->roty = val_real(c, 1) / NB_RTD; c->i++; }
        else if (is(o, "-detector_rotz")) { s->rotz = val_real(c, 1) / NB_RTD; c->i++; }
        else if (is(o, "-detsize")) { s->detsize_f = s->detsize_s = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-detsize_f")) { s->detsize_f = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-detsize_s")) { s->detsize_s = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-detpixels")) { s->fpixels = s->spixels = val_int(c, 1); c->i++; }
        else if (is(o, "-detpixels_f") || is(o, "-detpixels_x")) { s->fpixels = val_int(c, 1); c->i++; }
        else if (is(o, "-detpixels_s") || is(o, "-detpixels_y")) { s->spixels = val_int(c, 1); c->i++; }
        else if (is(o, "-curved_det") || is(o, "-curved_detector")) {
            /* upstream only honours it when another token follows */
            if (c->i + 1 < argc)
                s->curved = 1;
        }
        else if (is(o, "-pixel")) { s->pixel_size = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-point_pixel")) { s->point_pixel = 1; }
        else if (is(o, "-polar")) { s->polarization = val_real(c, 1); s->nopolar = 0; c->i++; }
        else if (is(o, "-nopolar")) { s->nopolar = 1; }
        else if (is(o, "-oversample_thick")) { s->os_thick = 1; }
        else if (is(o, "-oversample_polar")) { s->os_polar = 1; }
        else if (is(o, "-oversample_omega")) { s->os_omega = 1; }
        else if (is(o, "-oversample")) { s->oversample = val_int(c, 1); c->i++; }
        else if (is(o, "-roi")) {
            s->roi_xmin = val_int(c, 1);
            s->roi_xmax = val_int(c, 2);
            s->roi_ymin = val_int(c, 3);
            s->roi_ymax = val_int(c, 4);
            c->i += 4;
        }
        else if (is(o, "-lambda") || is(o, "-wave") || is(o, "-wavelength")) { s->lambda0 = val_real(c, 1) / 1.0e10; c->i++; }
        else if (is(o, "-energy")) { s->lambda0 = (12398.42 / val_real(c, 1)) / 1.0e10; c->i++; }
        else if (is(o, "-fluence")) { s->fluence = val_real(c, 1); c->i++; }
        else if (is(o, "-flux")) { s->flux = val_real(c, 1); c->i++; }
        else if (is(o, "-exposure")) { s->exposure = val_real(c, 1); c->i++; }
        else if (is(o, "-beamsize")) { s->beamsize = val_real(c, 1) / 1000; c->i++; }
        else if (is_any(o, MOSAIC)) { s->mosaic_spread = val_real(c, 1) / NB_RTD; c->i++; }
        else if (is(o, "-mosaic_dom") || is(o, "-mosaic_domains")) { s->mosaic_domains = val_int(c, 1); c->i++; }
        else if (is(o, "-dispersion")) { s->dispersion = val_real(c, 1) / 100.0; c->i++; }
        else if (is(o, "-dispsteps")) { s->dispsteps = val_int(c, 1); c->i++; }
        else if (is(o, "-divergence")) { s->hdivrange = s->vdivrange = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-hdivrange")) { s->hdivrange = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-vdivrange")) { s->vdivrange = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-hdivstep")) { s->hdivstep = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-vdivstep")) { s->vdivstep = val_real(c, 1) / 1000.0; c->i++; }
        else if (is(o, "-hdivsteps")) { s->hdivsteps = val_int(c, 1); c->i++; }
        else if (is(o, "-vdivsteps")) { s->vdivsteps = val_int(c, 1); c->i++; }
        else if (is(o, "-divsteps")) { s->hdivsteps = s->vdivsteps = val_int(c, 1); c->i++; }
        else if (is(o, "-round_div")) { s->round_div = 1; }
        else if (is(o, "-square_div")) { s->round_div = 0; }
        else if (is(o, "-adc")) { s->adc = val_real(c, 1); c->i++; }
        else if (is(o, "-phi")) { s->phi0 = val_real(c, 1) / NB_RTD; c->i++; }
        else if (is(o, "-osc")) { s->osc = val_real(c, 1) / NB_RTD; c->i++; }
        else if (is(o, "-phistep")) { s->phistep = val_real(c, 1) / NB_RTD; c->i++; }
        else if (is(o, "-phisteps")) { s->phisteps = val_int(c, 1); c->i++; }
        else if (is(o, "-dmin")) { s->dmin = val_real(c, 1) * 1e-10; c->i++; }
        else if (is(o, "-mat") || is(o, "-matrix")) { s->matfile = val_word(c, 1); c->i++; }
        else if (is(o, "-hkl")) { s->hklfile = val_word(c, 1); c->i++; }
        else if (is(o, "-default_F")) { s->default_F = val_real(c, 1); c->i++; }
        else if (is(o, "-dump")) { s->dumpfile = val_word(c, 1); c->i++; }
        else if (is(o, "-img")) { s->imgfile = val_word(c, 1); c->i++; }
        else if (is(o, "-mask")) { s->maskfile = val_word(c, 1); c->i++; }
        else if (is(o, "-stol")) { s->stolfile = val_word(c, 1); s->stol_file_mult = 1e10; c->i++; }
        else if (is(o, "-4stol")) { s->stolfile = val_word(c, 1); s->stol_file_mult = 1e10 / 4; c->i++; }
        else if (is(o, "-Q")) { s->stolfile = val_word(c, 1); s->stol_file_mult = 1e10 / M_PI / 4; c->i++; }
        else if (is(o, "-sourcefile")) { s->sourcefile = val_word(c, 1); c->i++; }
        else if (is(o, "-floatfile") || is(o, "-floatimage")) { s->floatfile = val_word(c, 1); c->i++; }
        else if (is(o, "-intfile") || is(o, "-intimage")) { s->intfile = val_word(c, 1); c->i++; }
        else if (is(o, "-pgmfile") || is(o, "-pgmimage")) { s->pgmfile = val_word(c, 1); s->write_pgm = 1; c->i++; }
        else if (is(o, "-noisefile") || is(o, "-noiseimage")) { s->noisefile = val_word(c, 1); s->calculate_noise = 1; c->i++; }
        else if (is(o, "-nonoise")) { s->calculate_noise = 0; }
        else if (is(o, "-nopgm")) { s->write_pgm = 0; }
        else if (is(o, "-scale")) { s->intfile_scale = val_real(c, 1); c->i++; }
        else if (is(o, "-pgmscale")) { s->pgm_scale = val_real(c, 1); s->write_pgm = 1; c->i++; }
        else if (is(o, "-coherent")) { /* accepted, no effect (as upstream) */ }
        else if (is(o, "-printout")) { s->printout = 1; }
        else if (is(o, "-noprogress")) { s->progress = 0; }
        else if (is(o, "-progress")) { s->progress = 1; }
        else if (is(o, "-interpolate")) { s->interpolate = 1; }
        else if (is(o, "-nointerpolate")) { s->interpolate = 0; }
        else if (is(o, "-round_xtal")) { s->shape = SHAPE_ROUND; }
        else if (is(o, "-square_xtal")) { s->shape = SHAPE_SQUARE; }
        else if (is(o, "-gauss_xtal")) { s->shape = SHAPE_GAUSS; }
        else if (is(o, "-binary_spots") || is(o, "-tophat_spots")) { s->shape = SHAPE_TOPHAT; }
        else if (is(o, "-fudge")) { s->fudge = val_real(c, 1); c->i++; }
        else if (is(o, "-printout_pixel")) {
            s->printout_f = val_int(c, 1);
            s->printout_s = val_int(c, 2);
            s->printout = 1;
            s->have_printout_pixel = 1;
            c->i += 2;
        }
        else if (is(o, "-seed")) { s->seed = -val_int(c, 1); c->i++; }
        else if (is(o, "-mosaic_seed")) { s->mosaic_seed = -val_int(c, 1); c->i++; }
        else if (is(o, "-misset_seed")) { s->misset_seed = -val_int(c, 1); c->i++; }
        else if (is(o, "-water")) { s->water_size = val_real(c, 1) / 1e6; c->i++; }
        else if (is(o, "-trace_pixel")) {
            int slow = val_int(c, 1), fast = val_int(c, 2);
            add_trace(s, slow, fast);
            c->i += 2;
        }
        else if (is(o, "-phi_carryover_mode")) {
            const char *t = val_word(c, 1);
            nb_phi_carryover_mode m = PHI_CARRYOVER_SPEC;
            while (m <= PHI_CARRYOVER_C_PARITY_OMP && !is(t, nb_phi_carryover_mode_name(m)))
                m++;
            if (m > PHI_CARRYOVER_C_PARITY_OMP)
                nb_die("option -phi_carryover_mode: value '%s' is not 'spec', 'c-parity' or "
                       "'c-parity-omp'", t);
            s->phi_carryover_mode = m;
            c->i++;
        }
        else if (is(o, "-omp_threads")) { s->omp_threads = val_count(c, 1); c->i++; }
        else
            nb_die("unknown option '%s'", o);
    }
    /* a thread count means nothing to the other modes: silently ignoring it would let a
     * caller believe a serial run reproduced a threaded one */
    if (s->omp_threads && !nb_carry_per_thread_block(s))
        nb_die("option -omp_threads: needs -phi_carryover_mode c-parity-omp");
    if (nb_carry_per_thread_block(s) && !s->omp_threads)
        s->omp_threads = 1;
}
