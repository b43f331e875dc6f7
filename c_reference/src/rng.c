#include <math.h>
#include "rng.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Park-Miller minimal standard generator with Bays-Durham shuffle */
#define PM_A 16807L
#define PM_M 2147483647L
#define PM_Q 127773L
#define PM_R 2836L
#define SHUFFLE_N 32
#define SHUFFLE_DIV (1 + (PM_M - 1) / SHUFFLE_N)

static long shuffle_last = 0;
static long shuffle_tab[SHUFFLE_N];

static void pm_step(long *s)
{
    long hi = *s / PM_Q;
    *s = PM_A * (*s - hi * PM_Q) - PM_R * hi;
    if (*s < 0)
        *s += PM_M;
}

float rng_uniform(long *seed)
{
    int j;
    float out;
    const double scale = 1.0 / PM_M;
    const double top = 1.0 - 1.2e-7;

    if (*seed <= 0 || shuffle_last == 0) {
        *seed = (-(*seed) < 1) ? 1 : -(*seed);
        for (j = SHUFFLE_N + 7; j >= 0; j--) {
            pm_step(seed);
            if (j < SHUFFLE_N)
                shuffle_tab[j] = *seed;
        }
        shuffle_last = shuffle_tab[0];
    }
    pm_step(seed);
    j = (int)(shuffle_last / SHUFFLE_DIV);
    shuffle_last = shuffle_tab[j];
    shuffle_tab[j] = *seed;
    out = (float)(scale * shuffle_last);
    if (out > top)
        return (float)top;
    return out;
}

float rng_gauss(long *seed)
{
    static int have_spare = 0;
    static float spare;
    float v1, v2, r2, f;

    if (have_spare) {
        have_spare = 0;
        return spare;
    }
    do {
        v1 = (float)(2.0 * rng_uniform(seed) - 1.0);
        v2 = (float)(2.0 * rng_uniform(seed) - 1.0);
        r2 = v1 * v1 + v2 * v2;
    } while (r2 >= 1.0 || r2 == 0);
    f = (float)sqrt(-2.0 * log(r2) / r2);
    spare = v1 * f;
    have_spare = 1;
    return v2 * f;
}

float rng_lngamma(float x)
{
    static const double c[6] = {76.18009172947146, -86.50532032941677,
                                24.01409824083091, -1.231739572450155,
                                0.1208650973866179e-2, -0.5395239384953e-5};
    double xx = x, y = x, t, s;
    int i;
    t = xx + 5.5;
    t -= (xx + 0.5) * log(t);
    s = 1.000000000190015;
    for (i = 0; i < 6; i++) {
        y += 1.0;
        s += c[i] / y;
    }
    return (float)(-t + log(2.5066282746310005 * s / xx));
}

float rng_poisson(float mean, long *seed)
{
    /* cached per-mean constants, kept across calls like the reference */
    static float sq, lnm, g, last = -1.0f;
    float k, t, y;

    if (mean > 1.0e6)
        return (float)(mean + sqrt(mean) * rng_gauss(seed));

    if (mean < 12.0) {
        if (mean != last) {
            last = mean;
            g = (float)exp(-mean);
        }
        k = -1;
        t = 1.0f;
        do {
            k += 1;
            t *= rng_uniform(seed);
        } while (t > g);
        return k;
    }
    if (mean != last) {
        last = mean;
        sq = (float)sqrt(2.0 * mean);
        lnm = (float)log(mean);
        g = mean * lnm - rng_lngamma((float)(mean + 1.0));
    }
    do {
        do {
            y = (float)tan(M_PI * rng_uniform(seed));
            k = sq * y + mean;
        } while (k < 0.0);
        k = (float)floor(k);
        t = (float)(0.9 * (1.0 + y * y) * exp(k * lnm - rng_lngamma((float)(k + 1.0)) - g));
    } while (rng_uniform(seed) > t);
    return k;
}

void rng_mosaic_umat(float spread, double *u, long *seed)
{
    double r1, r2, r3, rxy, ang, ax, ay, az, c, s, omc;

    r1 = 2.0 * rng_uniform(seed) - 1.0;
    r2 = 2.0 * rng_uniform(seed) - 1.0;
    r3 = 2.0 * rng_uniform(seed) - 1.0;
    rxy = sqrt(1.0 - r2 * r2);
    /* the cap angle is evaluated in single precision on purpose */
    ang = spread * powf((float)(1.0 - r3 * r3), (float)(1.0 / 3.0));
    ax = rxy * sin(M_PI * r1);
    ay = rxy * cos(M_PI * r1);
    az = r2;

    c = cos(ang);
    omc = 1.0 - c;
    s = sin(ang);
    u[0] = c + omc * (ax * ax);
    u[1] = omc * ax * ay - s * az;
    u[2] = omc * ax * az + s * ay;
    u[3] = omc * ax * ay + s * az;
    u[4] = c + omc * (ay * ay);
    u[5] = omc * ay * az - s * ax;
    u[6] = omc * ax * az - s * ay;
    u[7] = omc * ay * az + s * ax;
    u[8] = c + omc * (az * az);
}

static void row_normalise(double *r)
{
    double m = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
    if (m > 0) {
        r[0] /= m;
        r[1] /= m;
        r[2] /= m;
    }
}

static void row_cross_unit(const double *p, const double *q, double *out)
{
    double m;
    out[0] = p[1] * q[2] - p[2] * q[1];
    out[1] = p[2] * q[0] - p[0] * q[2];
    out[2] = p[0] * q[1] - p[1] * q[0];
    m = sqrt(out[0] * out[0] + out[1] * out[1] + out[2] * out[2]);
    if (m > 0) {
        out[0] /= m;
        out[1] /= m;
        out[2] /= m;
    }
}

void umat_to_misset(const double *u, double *m)
{
    double r[3][3];
    double len[3], cr[3];
    int i, j, pass;

    for (i = 0; i < 3; i++) {
        for (j = 0; j < 3; j++)
            r[i][j] = u[3 * i + j];
        len[i] = sqrt(r[i][0] * r[i][0] + r[i][1] * r[i][1] + r[i][2] * r[i][2]);
        row_normalise(r[i]);
    }
    /* a missing (zero) row is rebuilt from the other two; with two rows
     * missing the identity rows stand in first */
    if (len[0] >= 0 && len[1] <= 0 && len[2] <= 0) {
        r[1][0] = 0; r[1][1] = 1; r[1][2] = 0;
        r[2][0] = 0; r[2][1] = 0; r[2][2] = 1;
    }
    if (len[0] <= 0 && len[1] >= 0 && len[2] <= 0) {
        r[0][0] = 1; r[0][1] = 0; r[0][2] = 0;
        r[2][0] = 0; r[2][1] = 0; r[2][2] = 1;
    }
    if (len[0] <= 0 && len[1] <= 0 && len[2] >= 0) {
        r[0][0] = 1; r[0][1] = 0; r[0][2] = 0;
        r[1][0] = 0; r[1][1] = 1; r[1][2] = 0;
    }
    for (pass = 0; pass < 2; pass++) {
        double xy[3], yz[3], zx[3];
        row_cross_unit(r[0], r[1], xy);
        row_cross_unit(r[1], r[2], yz);
        row_cross_unit(r[2], r[0], zx);
        if (len[0] <= 0)
            for (j = 0; j < 3; j++) r[0][j] = yz[j];
        if (len[1] <= 0)
            for (j = 0; j < 3; j++) r[1][j] = zx[j];
        if (len[2] <= 0)
            for (j = 0; j < 3; j++) r[2][j] = xy[j];
    }
    (void)cr;
    for (i = 0; i < 3; i++)
        row_normalise(r[i]);
    if (r[2][0] * r[2][0] < 1.0) {
        m[1] = atan2(r[2][1], r[2][2]);
        m[2] = atan2(-r[2][0], sqrt(r[2][1] * r[2][1] + r[2][2] * r[2][2]));
        m[3] = atan2(r[1][0], r[0][0]);
    } else {
        m[1] = atan2(1, 1) * 4;
        m[2] = atan2(1, 1) * 2;
        m[3] = atan2(r[0][1], -r[1][1]);
    }
}
