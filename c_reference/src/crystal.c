/* Crystal: unit cell or MOSFLM matrix, misset (fixed or random), real and reciprocal
 * cell vectors, cell counts from the crystal size, automatic oversampling. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "nb.h"
#include "rng.h"
#include "vec.h"

static void set3(double *v, double x, double y, double z)
{
    v[1] = x;
    v[2] = y;
    v[3] = z;
}

/* upstream's warning when a sine or cosine leaves [-1, 1] by more than 1e-7 */
static void oddball(const char *title, const char *const *names, const double *v)
{
    int i, bad = 0;
    for (i = 0; i < 6; i++)
        if (v[i] > 1.0000001 || v[i] < -1.0000001)
            bad = 1;
    if (!bad)
        return;
    printf("WARNING: oddball %s:\n", title);
    for (i = 0; i < 6; i++)
        printf("%s = %.25g\n", names[i], v[i]);
}

static const char *const STAR_NAMES[] = {"sin(alpha_star)", "cos(alpha_star)", "sin(beta_star) ",
                                         "cos(beta_star) ", "sin(gamma_star)", "cos(gamma_star)"};
/* (sic) the user-cell check of upstream spells the last name this way */
static const char *const STAR_NAMES_CELL[] = {"sin(alpha_star)", "cos(alpha_star)", "sin(beta_star) ",
                                              "cos(beta_star) ", "sin(gamma_star)", "cos9gamma_star)"};
static const char *const CELL_NAMES[] = {"sin_alpha", "cos_alpha", "sin_beta ", "cos_beta ",
                                         "sin_gamma", "cos_gamma"};

static void clamp_trig(double *sn, double *cs)
{
    if (*sn > 1.0) *sn = 1.0;
    if (*sn < -1.0) *sn = -1.0;
    if (*cs * *cs > 1.0) *cs = 1.0;
}

/* t = {sin alpha, cos alpha, sin beta, cos beta, sin gamma, cos gamma}: upstream's
 * oddball warning, then each pair clamped */
static void check_trig(const char *title, const char *const *names, double *t)
{
    oddball(title, names, t);
    clamp_trig(&t[0], &t[1]);
    clamp_trig(&t[2], &t[3]);
    clamp_trig(&t[4], &t[5]);
}

/* angles between the vectors x, y, z (lengths in element 0), with sines from the
 * lengths of the dual vectors xd, yd, zd and the volume V of the dual cell:
 * sin(alpha) = |xd| V / |y| / |z|, cos(alpha) = y.z / |y| / |z|, and so on */
static void cell_angles(const double *x, const double *y, const double *z, const double *xd,
                        const double *yd, const double *zd, double V, const char *title,
                        const char *const *names, double *alpha, double *beta, double *gamma)
{
    double t[6];
    t[0] = xd[0] * V / y[0] / z[0];
    t[2] = yd[0] * V / x[0] / z[0];
    t[4] = zd[0] * V / x[0] / y[0];
    t[1] = vec_dot(y, z) / y[0] / z[0];
    t[3] = vec_dot(x, z) / x[0] / z[0];
    t[5] = vec_dot(x, y) / x[0] / y[0];
    check_trig(title, names, t);
    *alpha = atan2(t[0], t[1]);
    *beta = atan2(t[2], t[3]);
    *gamma = atan2(t[4], t[5]);
}

static void read_matrix(nb_sim *s)
{
    FILE *f = fopen(s->matfile, "r");
    char line[4096];
    double m[9];
    int n = 0;
    long lineno = 0;
    if (!f)
        nb_die("%s: cannot open matrix file", s->matfile);
    printf("reading %s\n", s->matfile);
    while (n < 9 && fgets(line, sizeof line, f)) {
        /* numbers are read like scanf does, so fixed-format rows whose
         * columns touch ("0.1-0.2") still read as two numbers */
        char *p = line;
        int onthis = 0;
        lineno++;
        for (;;) {
            char *end;
            double v;
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
            if (*p == '\0' || n == 9)
                break;
            v = strtod(p, &end);
            if (end == p) {
                char bad[32];
                size_t k = 0;
                while (p[k] && p[k] != ' ' && p[k] != '\t' && p[k] != '\n' && k < sizeof bad - 1) {
                    bad[k] = p[k];
                    k++;
                }
                bad[k] = '\0';
                nb_die("%s:%ld: '%s' is not a number", s->matfile, lineno, bad);
            }
            m[n++] = v;
            onthis++;
            p = end;
        }
        if (onthis != 0 && onthis != 3)
            nb_die("%s:%ld: expected 3 numbers per matrix row, found %d", s->matfile, lineno, onthis);
    }
    if (ferror(f)) /* fgets's NULL is the end of the file or a read error (a directory) */
        nb_die("cannot read %s: %s", s->matfile, strerror(errno));
    fclose(f);
    if (n < 9)
        nb_die("%s:%ld: matrix file holds %d of the 9 numbers of a 3x3 matrix", s->matfile,
               lineno, n);
    set3(s->a_star, m[0], m[3], m[6]);
    set3(s->b_star, m[1], m[4], m[7]);
    set3(s->c_star, m[2], m[5], m[8]);
    vec_scale(s->a_star, s->a_star, 1e-10 / s->lambda0);
    vec_scale(s->b_star, s->b_star, 1e-10 / s->lambda0);
    vec_scale(s->c_star, s->c_star, 1e-10 / s->lambda0);
}

/* -cell: lengths (Angstrom, into a[0], b[0], c[0]) and angles to the reciprocal cell in
 * upstream's orientation (a* along x, b* in the xy plane); returns the cell volume */
static double reciprocal_from_cell(nb_sim *s, double *a, double *b, double *c)
{
    double *as = s->a_star, *bs = s->b_star, *cs = s->c_star;
    double V_cell, V_star;
    double aavg, skew;
    double t[6];
    a[0] = s->cell_a;
    b[0] = s->cell_b;
    c[0] = s->cell_c;
    if (b[0] <= 0.0) b[0] = a[0];
    if (c[0] <= 0.0) c[0] = a[0];
    if (s->alpha <= 0.0) s->alpha = M_PI / 2;
    if (s->beta <= 0.0) s->beta = M_PI / 2;
    if (s->gamma <= 0.0) s->gamma = M_PI / 2;
    aavg = (s->alpha + s->beta + s->gamma) / 2;
    skew = sin(aavg) * sin(aavg - s->alpha) * sin(aavg - s->beta) * sin(aavg - s->gamma);
    /* angles that cannot close a cell give a negative (or vanishing) product;
     * upstream takes its absolute value and goes on, this program refuses */
    if (!(skew > 1e-12) || !(s->alpha < M_PI) || !(s->beta < M_PI) || !(s->gamma < M_PI))
        nb_die("option -cell: impossible unit cell angles %g %g %g", s->alpha * NB_RTD,
               s->beta * NB_RTD, s->gamma * NB_RTD);
    V_cell = 2.0 * a[0] * b[0] * c[0] * sqrt(skew);
    if (!(V_cell > 0.0) || !isfinite(V_cell))
        nb_die("option -cell: impossible unit cell (volume %g A^3)", V_cell);
    V_star = 1.0 / V_cell;
    as[0] = b[0] * c[0] * sin(s->alpha) * V_star;
    bs[0] = c[0] * a[0] * sin(s->beta) * V_star;
    cs[0] = a[0] * b[0] * sin(s->gamma) * V_star;
    if (as[0] <= 0.0 || bs[0] <= 0.0 || cs[0] <= 0.0) {
        printf("WARNING: impossible reciprocal cell lengths: %g %g %g\n", as[0], bs[0], cs[0]);
        as[0] = fabs(as[0]);
        bs[0] = fabs(bs[0]);
        cs[0] = fabs(cs[0]);
        if (as[0] <= 0.0) as[0] = DBL_MIN;
        if (bs[0] <= 0.0) bs[0] = DBL_MIN;
        if (cs[0] <= 0.0) cs[0] = DBL_MIN;
    }
    /* t: sin and cos of the reciprocal angles (the cosines from the direct angles) */
    t[0] = a[0] * V_star / bs[0] / cs[0];
    t[2] = b[0] * V_star / as[0] / cs[0];
    t[4] = c[0] * V_star / as[0] / bs[0];
    t[1] = (cos(s->beta) * cos(s->gamma) - cos(s->alpha)) / (sin(s->beta) * sin(s->gamma));
    t[3] = (cos(s->gamma) * cos(s->alpha) - cos(s->beta)) / (sin(s->gamma) * sin(s->alpha));
    t[5] = (cos(s->alpha) * cos(s->beta) - cos(s->gamma)) / (sin(s->alpha) * sin(s->beta));
    check_trig("reciprocal cell angles", STAR_NAMES_CELL, t);
    as[1] = as[0];
    bs[1] = bs[0] * t[5];
    cs[1] = cs[0] * t[3];
    as[2] = 0.0;
    bs[2] = bs[0] * t[4];
    cs[2] = cs[0] * (t[1] - t[3] * t[5]) / t[4];
    as[3] = 0.0;
    bs[3] = 0.0;
    cs[3] = cs[0] * V_cell / (a[0] * b[0] * c[0] * t[4]);
    return V_cell;
}

/* -misset (fixed angles, or random from -misset_seed): rotate the reciprocal cell */
static void apply_misset(nb_sim *s)
{
    double *as = s->a_star, *bs = s->b_star, *cs = s->c_star;
    if (s->misset[0] == -1.0) {
        double u[9];
        rng_mosaic_umat(90.0f, u, &s->misset_seed);
        umat_to_misset(u, s->misset);
        printf("random orientation misset angles: %f %f %f deg\n", s->misset[1] * NB_RTD,
               s->misset[2] * NB_RTD, s->misset[3] * NB_RTD);
        s->misset[0] = 1.0;
    }
    if (s->misset[0] > 0.0) {
        rot_xyz(as, as, s->misset[1], s->misset[2], s->misset[3]);
        rot_xyz(bs, bs, s->misset[1], s->misset[2], s->misset[3]);
        rot_xyz(cs, cs, s->misset[1], s->misset[2], s->misset[3]);
    }
}

static void print_cells(const nb_sim *s, const double *a, const double *b, const double *c,
                        double V_cell)
{
    const double *as = s->a_star, *bs = s->b_star, *cs = s->c_star;
    printf("Unit Cell: %g %g %g %g %g %g\n", a[0], b[0], c[0], s->alpha_out * NB_RTD,
           s->beta_out * NB_RTD, s->gamma_out * NB_RTD);
    printf("Recp Cell: %g %g %g %g %g %g\n", as[0], bs[0], cs[0], s->alpha_star * NB_RTD,
           s->beta_star * NB_RTD, s->gamma_star * NB_RTD);
    printf("volume = %g A^3\n", V_cell);
    printf("real-space cell vectors (Angstrom):\n");
    printf("     %-10s  %-10s  %-10s\n", "a", "b", "c");
    printf("X: %11.8f %11.8f %11.8f\n", a[1], b[1], c[1]);
    printf("Y: %11.8f %11.8f %11.8f\n", a[2], b[2], c[2]);
    printf("Z: %11.8f %11.8f %11.8f\n", a[3], b[3], c[3]);
    printf("reciprocal-space cell vectors (Angstrom^-1):\n");
    printf("     %-10s  %-10s  %-10s\n", "a_star", "b_star", "c_star");
    printf("X: %11.8f %11.8f %11.8f\n", as[1], bs[1], cs[1]);
    printf("Y: %11.8f %11.8f %11.8f\n", as[2], bs[2], cs[2]);
    printf("Z: %11.8f %11.8f %11.8f\n", as[3], bs[3], cs[3]);
}

/* N from -xtalsize, the crystal size, and the oversampling it recommends (automatic
 * when -oversample is not given) */
static void crystal_size(nb_sim *s)
{
    double xmax, rps;
    if (s->sample_x > 0) s->Na = ceil(s->sample_x / s->a0[0]);
    if (s->sample_y > 0) s->Nb = ceil(s->sample_y / s->b0[0]);
    if (s->sample_z > 0) s->Nc = ceil(s->sample_z / s->c0[0]);
    if (s->Na <= 1.0) s->Na = 1.0;
    if (s->Nb <= 1.0) s->Nb = 1.0;
    if (s->Nc <= 1.0) s->Nc = 1.0;
    s->xtal_a = s->a0[0] * s->Na;
    s->xtal_b = s->b0[0] * s->Nb;
    s->xtal_c = s->c0[0] * s->Nc;
    printf("crystal is %g x %g x %g microns\n", s->xtal_a * 1e6, s->xtal_b * 1e6, s->xtal_c * 1e6);
    xmax = s->xtal_a;
    if (xmax < s->xtal_b) xmax = s->xtal_b;
    if (xmax < s->xtal_c) xmax = s->xtal_c;
    rps = s->lambda0 * s->distance / s->pixel_size;
    s->recommended_oversample = nb_c_int(ceil(3.0 * xmax / rps));
    if (s->recommended_oversample <= 0)
        s->recommended_oversample = 1;
    if (s->oversample <= 0) {
        s->oversample = s->recommended_oversample;
        printf("auto-selected %d-fold oversampling\n", s->oversample);
    }
    if (s->oversample < s->recommended_oversample) {
        printf("WARNING: maximum dimension of sample is %g A\n", xmax * 1e10);
        printf("         but reciprocal pixel size is %g A\n", rps * 1e10);
        printf("         intensity may vary significantly across a pixel!\n");
        printf("         recommend -oversample %d to work around this\n", s->recommended_oversample);
    }
    {
        double volume = s->xtal_a * s->xtal_b * s->xtal_c;
        double molecules = s->Na * s->Nb * s->Nc;
        printf("approximate MW = %g\n", volume * 1.2e6 * NB_AVOGADRO / molecules);
    }
}

void nb_setup_crystal(nb_sim *s)
{
    double *as = s->a_star, *bs = s->b_star, *cs = s->c_star;
    double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0}, c[4] = {0, 0, 0, 0};
    double axb[4], bxc[4], cxa[4], asxbs[4], bsxcs[4], csxas[4];
    double V_cell = 0, V_star;

    if (s->user_cell)
        V_cell = reciprocal_from_cell(s, a, b, c);
    if (s->matfile)
        read_matrix(s);

    apply_misset(s);

    vec_cross(as, bs, asxbs);
    vec_cross(bs, cs, bsxcs);
    vec_cross(cs, as, csxas);
    V_star = vec_dot(as, bsxcs);
    if (!s->user_cell) {
        double scale = vec_norm(as) * vec_norm(bs) * vec_norm(cs);
        if (!(fabs(V_star) > 1e-9 * scale) || !isfinite(V_star))
            nb_die("%s: singular orientation matrix (reciprocal cell volume %g)", s->matfile,
                   V_star);
    }
    if (s->user_cell) {
        vec_set_length(bsxcs, bsxcs, a[0] / V_cell);
        vec_set_length(csxas, csxas, b[0] / V_cell);
        vec_set_length(asxbs, asxbs, c[0] / V_cell);
        V_star = 1.0 / V_cell;
    }
    V_cell = 1.0 / V_star;
    vec_scale(bsxcs, a, V_cell);
    vec_scale(csxas, b, V_cell);
    vec_scale(asxbs, c, V_cell);
    vec_cross(a, b, axb);
    vec_cross(b, c, bxc);
    vec_cross(c, a, cxa);
    vec_scale(bxc, as, V_star);
    vec_scale(cxa, bs, V_star);
    vec_scale(axb, cs, V_star);

    cell_angles(a, b, c, as, bs, cs, V_cell, "cell angles", CELL_NAMES, &s->alpha_out,
                &s->beta_out, &s->gamma_out);
    cell_angles(as, bs, cs, a, b, c, V_star, "reciprocal cell angles", STAR_NAMES, &s->alpha_star,
                &s->beta_star, &s->gamma_star);
    s->V_cell = V_cell;

    print_cells(s, a, b, c, V_cell);
    vec_copy(a, s->a_A);
    vec_copy(b, s->b_A);
    vec_copy(c, s->c_A);
    vec_scale(a, s->a0, 1e-10);
    vec_scale(b, s->b0, 1e-10);
    vec_scale(c, s->c0, 1e-10);

    crystal_size(s);
}
