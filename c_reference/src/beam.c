/* Beam: source list (divergence x dispersion grid or -sourcefile) and mosaic domains. */
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

/* one line of a whitespace/punctuation separated numeric table */
static int split_numbers(char *line, double *out, int max, const char *path, long lineno)
{
    int n = 0;
    char *p = strtok(line, " \t,;:!\r\n");
    while (p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || *end)
            nb_die("%s:%ld: '%s' is not a number", path, lineno, p);
        if (n < max)
            out[n] = v;
        n++;
        p = strtok(NULL, " \t,;:!\r\n");
    }
    return n;
}

static void read_sources(nb_sim *s)
{
    FILE *f = fopen(s->sourcefile, "r");
    char line[10240];
    long lineno = 0;
    int cap = 0;
    if (!f)
        nb_die("%s: cannot open source file", s->sourcefile);
    s->sources = 0;
    while (fgets(line, sizeof line, f)) {
        double v[5];
        int n, j;
        lineno++;
        n = split_numbers(line, v, 5, s->sourcefile, lineno);
        if (n == 0)
            continue;
        for (j = n; j < 5; j++)
            v[j] = NAN;
        if (s->sources == cap) {
            cap = cap ? 2 * cap : 64;
            s->src_x = realloc(s->src_x, (size_t)cap * sizeof(double));
            s->src_y = realloc(s->src_y, (size_t)cap * sizeof(double));
            s->src_z = realloc(s->src_z, (size_t)cap * sizeof(double));
            s->src_I = realloc(s->src_I, (size_t)cap * sizeof(double));
            s->src_lambda = realloc(s->src_lambda, (size_t)cap * sizeof(double));
            if (!s->src_x || !s->src_y || !s->src_z || !s->src_I || !s->src_lambda)
                nb_die_code(NB_EXIT_IO, "out of memory reading %s", s->sourcefile);
        }
        s->src_x[s->sources] = isnan(v[0]) ? -10.0 * s->beam[1] : v[0];
        s->src_y[s->sources] = isnan(v[1]) ? -10.0 * s->beam[2] : v[1];
        s->src_z[s->sources] = isnan(v[2]) ? -10.0 * s->beam[3] : v[2];
        s->src_I[s->sources] = isnan(v[3]) ? 1.0 : v[3];
        s->src_lambda[s->sources] = isnan(v[4]) ? s->lambda0 : v[4];
        if (!(s->src_lambda[s->sources] > 0.0))
            nb_die("%s:%ld: wavelength must be positive (metres)", s->sourcefile, lineno);
        if (s->src_x[s->sources] == 0.0 && s->src_y[s->sources] == 0.0 && s->src_z[s->sources] == 0.0)
            nb_die("%s:%ld: source position is the origin", s->sourcefile, lineno);
        s->sources++;
    }
    if (ferror(f)) /* fgets's NULL is the end of the file or a read error (a directory) */
        nb_die("cannot read %s: %s", s->sourcefile, strerror(errno));
    fclose(f);
    if (s->sources == 0)
        nb_die("%s:%ld: no sources in source file", s->sourcefile, lineno);
}

/* divergence angles of grid point (ht, vt); 0 when -round_div cuts the point off */
static int div_point(const nb_sim *s, int ht, int vt, double *hdiv, double *vdiv)
{
    double test;
    *hdiv = s->hdivstep * ht - s->hdivrange / 2.0;
    *vdiv = s->vdivstep * vt - s->vdivrange / 2.0;
    test = (*hdiv * *hdiv - s->hdivstep * s->hdivstep / 4.0 * (1 - s->hdivsteps % 2)) /
           s->hdivrange / s->hdivrange;
    test += (*vdiv * *vdiv - s->vdivstep * s->vdivstep / 4.0 * (1 - s->vdivsteps % 2)) /
            s->vdivrange / s->vdivrange;
    return !(s->round_div && test * 4.0 > 1.1);
}

/* wavelength of dispersion step dt */
static double disp_lambda(const nb_sim *s, int dt)
{
    return s->lambda0 * (1.0 + s->dispstep * dt - s->dispersion / 2.0);
}

void nb_setup_sources(nb_sim *s)
{
    int ht, vt, dt, i;
    double hdiv, vdiv, v[4], nv[4];

    for (i = 0; i < s->det_thicksteps; i++)
        printf("thick%d = %g um\n", i, s->det_thickstep * i * 1e6);
    for (i = 0; i < s->phisteps; i++)
        printf("phi%d = %g\n", i, (s->phi0 + s->phistep * i) * NB_RTD);

    s->sources = 0;
    if (s->sourcefile)
        read_sources(s);
    if (s->sources == 0) {
        int n = 0;
        double weight;
        for (ht = 0; ht < s->hdivsteps; ht++)
            for (vt = 0; vt < s->vdivsteps; vt++) {
                if (!div_point(s, ht, vt, &hdiv, &vdiv))
                    continue;
                n++;
                printf("divergence deviation: %g %g\n", hdiv, vdiv);
            }
        s->divsteps = n;
        for (dt = 0; dt < s->dispsteps; dt++) {
            printf("lambda%d = %.15g\n", dt, disp_lambda(s, dt));
        }
        n = s->divsteps * s->dispsteps;
        if (n <= 0)
            nb_die("option -hdivrange/-vdivrange: no source survives the divergence cut");
        s->src_x = nb_calloc((size_t)n + 10, sizeof(double));
        s->src_y = nb_calloc((size_t)n + 10, sizeof(double));
        s->src_z = nb_calloc((size_t)n + 10, sizeof(double));
        s->src_I = nb_calloc((size_t)n + 10, sizeof(double));
        s->src_lambda = nb_calloc((size_t)n + 10, sizeof(double));
        weight = 1.0 / n;
        for (ht = 0; ht < s->hdivsteps; ht++)
            for (vt = 0; vt < s->vdivsteps; vt++) {
                if (!div_point(s, ht, vt, &hdiv, &vdiv))
                    continue;
                vec_scale(s->beam, v, -10.0);
                rot_axis(v, nv, s->polar_vec, vdiv);
                rot_axis(nv, v, s->vert, hdiv);
                for (dt = 0; dt < s->dispsteps; dt++) {
                    s->src_x[s->sources] = v[1];
                    s->src_y[s->sources] = v[2];
                    s->src_z[s->sources] = v[3];
                    s->src_I[s->sources] = weight;
                    s->src_lambda[s->sources] = disp_lambda(s, dt);
                    s->sources++;
                }
            }
    }
    printf("  created a total of %d sources:\n", s->sources);
    for (i = 0; i < s->sources; i++) {
        double X = s->src_x[i], Y = s->src_y[i], Z = s->src_z[i];
        v[1] = X;
        v[2] = Y;
        v[3] = Z;
        vec_unit(v, v);
        s->src_x[i] = v[1];
        s->src_y[i] = v[2];
        s->src_z[i] = v[3];
        printf("%g %g %g   %g %g\n", X, Y, Z, s->src_I[i], s->src_lambda[i]);
    }
}

void nb_setup_mosaic(nb_sim *s)
{
    int m;
    s->umats = nb_calloc((size_t)s->mosaic_domains + 10, 9 * sizeof(double));
    for (m = 0; m < s->mosaic_domains; m++) {
        double *u = s->umats + 9 * m;
        rng_mosaic_umat((float)s->mosaic_spread, u, &s->mosaic_seed);
        if (m == 0) {
            memset(u, 0, 9 * sizeof(double));
            u[0] = u[4] = u[8] = 1.0;
        }
    }
    printf("  created a total of %d mosaic domains\n", s->mosaic_domains);
}
