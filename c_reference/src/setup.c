/* Derived quantities: step-count rules, detector geometry, crystal cell,
 * sources and mosaic domains, in the order upstream derives them. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "nb.h"
#include "rng.h"
#include "vec.h"

/* one of upstream's "range / step / count" rules (divergence and dispersion) */
static void range_rule(double *range, double *step, int *count)
{
    if (*count <= 0) {
        if (*range < 0.0) {
            if (*step <= 0.0) {
                *count = 1;
                *range = 0.0;
                *step = 0.0;
            } else {
                *range = *step;
                *count = 2;
            }
        } else {
            if (*step <= 0.0) {
                *step = *range;
                *count = 2;
            } else {
                *count = (int)ceil(*range / *step);
            }
        }
    } else {
        if (*range < 0.0) {
            if (*step <= 0.0) {
                *range = 1.0;
                *step = *range / *count;
            } else {
                *range = *step;
                *count = 2;
            }
        } else if (*step <= 0.0) {
            if (*count <= 1)
                *count = 2;
            *step = *range / (*count - 1);
        }
    }
}

static void sanity(double *range, double *step, int *count)
{
    if (*range <= 0.0 || *step <= 0.0 || *count <= 0) {
        *count = 1;
        *range = 0.0;
        *step = 0.0;
    }
}

void nb_setup_sampling(nb_sim *s)
{
    /* phi */
    if (s->phisteps < 0) {
        if (s->osc < 0.0) {
            if (s->phistep <= 0.0) {
                s->phisteps = 1;
                s->osc = 0.0;
                s->phistep = 0.0;
            } else {
                s->osc = s->phistep;
                s->phisteps = 2;
            }
        } else {
            if (s->phistep <= 0.0) {
                s->phisteps = 2;
                s->phistep = s->osc / 2.0;
            } else {
                s->phisteps = (int)ceil(s->osc / s->phistep);
            }
        }
    } else {
        if (s->phisteps == 0)
            s->phisteps = 1;
        if (s->osc < 0.0) {
            if (s->phistep <= 0.0) {
                s->osc = 1.0 / NB_RTD;
                s->phistep = s->osc / s->phisteps;
            } else {
                s->osc = s->phistep;
                s->phisteps = 2;
            }
        } else if (s->phistep < 0.0) {
            s->phistep = s->osc / s->phisteps;
        }
    }
    if (s->phisteps <= 0)
        nb_die("option -phisteps: no phi steps to render (%d)", s->phisteps);

    range_rule(&s->hdivrange, &s->hdivstep, &s->hdivsteps);
    range_rule(&s->vdivrange, &s->vdivstep, &s->vdivsteps);
    range_rule(&s->dispersion, &s->dispstep, &s->dispsteps);

    /* detector layers: slightly different rules */
    if (s->det_thicksteps <= 0) {
        if (s->det_thick < 0.0) {
            if (s->det_thickstep <= 0.0) {
                s->det_thicksteps = 1;
                s->det_thick = 0.0;
                s->det_thickstep = 0.0;
            } else {
                s->det_thick = s->det_thickstep;
                s->det_thicksteps = 2;
            }
        } else {
            if (s->det_thickstep <= 0.0) {
                s->det_thicksteps = 2;
                s->det_thickstep = s->det_thick / s->det_thicksteps;
            } else {
                s->det_thicksteps = (int)ceil(s->det_thick / s->det_thickstep);
            }
        }
    } else {
        if (s->det_thick < 0.0) {
            if (s->det_thickstep <= 0.0) {
                s->det_thick = 0.5e-6;
                s->det_thickstep = s->det_thick / s->det_thicksteps;
            } else {
                s->det_thick = s->det_thickstep;
                s->det_thicksteps = 2;
            }
        } else if (s->det_thickstep <= 0.0) {
            if (s->det_thicksteps <= 1)
                s->det_thicksteps = 2;
            s->det_thickstep = s->det_thick / (s->det_thicksteps - 1);
        }
    }
    if (s->det_thick > 0.0 && s->det_mu < 0.0) {
        s->det_mu = 1.0 / s->det_thick;
        printf("WARNING: setting detector attenuation depth to %g m\n", s->det_mu);
    }

    if (s->mosaic_domains <= 0) {
        if (s->mosaic_spread < 0.0) {
            s->mosaic_domains = 1;
            s->mosaic_spread = 0.0;
        } else if (s->mosaic_spread == 0.0) {
            s->mosaic_domains = 1;
        } else {
            printf("WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains\n");
            s->mosaic_domains = 10;
        }
    } else {
        if (s->mosaic_spread < 0.0) {
            printf("WARNING: no mosaic spread specified.  setting mosaic_domains = 1\n");
            s->mosaic_spread = 0.0;
            s->mosaic_domains = 1;
        } else if (s->mosaic_spread == 0.0) {
            printf("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1\n");
            s->mosaic_domains = 1;
        }
    }

    sanity(&s->hdivrange, &s->hdivstep, &s->hdivsteps);
    sanity(&s->vdivrange, &s->vdivstep, &s->vdivsteps);
    sanity(&s->dispersion, &s->dispstep, &s->dispsteps);
    sanity(&s->det_thick, &s->det_thickstep, &s->det_thicksteps);
}

static void set3(double *v, double x, double y, double z)
{
    v[1] = x;
    v[2] = y;
    v[3] = z;
}

/* detector size, beam centre defaults, conventions, vector clean-up */
void nb_setup_detector_frame(nb_sim *s);
void nb_setup_detector_frame(nb_sim *s)
{
    if (!(s->lambda0 > 0.0) || !isfinite(s->lambda0))
        nb_die("option -lambda/-energy: wavelength must be positive and finite (%g A)",
               s->lambda0 * 1e10);
    if (!(s->pixel_size > 0.0))
        nb_die("option -pixel: pixel size must be positive (%g mm)", s->pixel_size * 1000.0);
    if (s->fpixels < 0 || s->spixels < 0)
        nb_die("option -detpixels: negative pixel count (%d x %d)", s->fpixels, s->spixels);
    if (s->fpixels)
        s->detsize_f = s->pixel_size * s->fpixels;
    if (s->spixels)
        s->detsize_s = s->pixel_size * s->spixels;
    s->fpixels = (int)ceil(s->detsize_f / s->pixel_size - 0.5);
    s->spixels = (int)ceil(s->detsize_s / s->pixel_size - 0.5);
    if (s->fpixels <= 0 || s->spixels <= 0)
        nb_die("option -detpixels/-detsize: detector has zero pixels (%d x %d)", s->fpixels,
               s->spixels);

    if (s->flux != 0.0 && s->exposure > 0.0 && s->beamsize >= 0)
        s->fluence = s->flux * s->exposure / s->beamsize / s->beamsize;
    if (s->beamsize >= 0) {
        if (s->beamsize < s->sample_y) {
            printf("WARNING: clipping sample (%lg m high) with beam (%lg m)\n", s->sample_y, s->beamsize);
            s->sample_y = s->beamsize;
        }
        if (s->beamsize < s->sample_z) {
            printf("WARNING: clipping sample (%lg m wide) with beam (%lg m)\n", s->sample_z, s->beamsize);
            s->sample_z = s->beamsize;
        }
    }
    if (s->exposure > 0.0)
        s->flux = s->fluence / s->exposure * s->beamsize * s->beamsize;

    if (!isnan(s->ORGX)) s->Fclose = (s->ORGX - 0.5) * s->pixel_size;
    if (!isnan(s->ORGY)) s->Sclose = (s->ORGY - 0.5) * s->pixel_size;
    if (isnan(s->Fclose)) s->Fclose = (s->detsize_f - 0 * s->pixel_size) / 2.0;
    if (isnan(s->Sclose)) s->Sclose = (s->detsize_s + 0 * s->pixel_size) / 2.0;
    if (isnan(s->Xclose)) s->Xclose = s->Fclose;
    if (isnan(s->Yclose)) s->Yclose = s->Sclose;
    if (isnan(s->Fbeam)) s->Fbeam = s->Fclose;
    if (isnan(s->Sbeam)) s->Sbeam = s->Sclose;
    if (s->roi_xmin < 0) s->roi_xmin = 0;
    if (s->roi_xmax < 0) s->roi_xmax = s->fpixels;
    if (s->roi_ymin < 0) s->roi_ymin = 0;
    if (s->roi_ymax < 0) s->roi_ymax = s->spixels;

    switch (s->conv) {
    case CONV_ADXV:
        if (isnan(s->Xbeam)) s->Xbeam = (s->detsize_f + s->pixel_size) / 2.0;
        if (isnan(s->Ybeam)) s->Ybeam = (s->detsize_s - s->pixel_size) / 2.0;
        set3(s->beam, 0, 0, 1);
        set3(s->fdet, 1, 0, 0);
        set3(s->sdet, 0, -1, 0);
        set3(s->odet, 0, 0, 1);
        set3(s->twotheta_axis, -1, 0, 0);
        set3(s->polar_vec, 1, 0, 0);
        set3(s->spindle, 1, 0, 0);
        s->Fbeam = s->Xbeam;
        s->Sbeam = s->detsize_s - s->Ybeam;
        s->pivot = PIVOT_BEAM;
        break;
    case CONV_MOSFLM:
    case CONV_DENZO: {
        double half = (s->conv == CONV_MOSFLM) ? 0.5 : 0.0;
        if (isnan(s->Xbeam)) s->Xbeam = (s->detsize_s + s->pixel_size) / 2.0;
        if (isnan(s->Ybeam)) s->Ybeam = (s->detsize_f + s->pixel_size) / 2.0;
        set3(s->beam, 1, 0, 0);
        set3(s->odet, 1, 0, 0);
        set3(s->fdet, 0, 0, 1);
        set3(s->sdet, 0, -1, 0);
        set3(s->twotheta_axis, 0, 0, -1);
        set3(s->polar_vec, 0, 0, 1);
        set3(s->spindle, 0, 0, 1);
        s->Fbeam = s->Ybeam + half * s->pixel_size;
        s->Sbeam = s->Xbeam + half * s->pixel_size;
        s->pivot = PIVOT_BEAM;
        break;
    }
    case CONV_XDS:
    case CONV_DIALS:
        if (isnan(s->Xbeam)) s->Xbeam = s->Xclose;
        if (isnan(s->Ybeam)) s->Ybeam = s->Yclose;
        set3(s->beam, 0, 0, 1);
        set3(s->fdet, 1, 0, 0);
        set3(s->sdet, 0, 1, 0);
        set3(s->odet, 0, 0, 1);
        if (s->conv == CONV_XDS) {
            set3(s->twotheta_axis, 1, 0, 0);
            set3(s->polar_vec, 1, 0, 0);
            set3(s->spindle, 1, 0, 0);
        } else {
            set3(s->twotheta_axis, 0, 1, 0);
            set3(s->polar_vec, 0, 1, 0);
            set3(s->spindle, 0, 1, 0);
        }
        s->Fbeam = s->Xbeam;
        s->Sbeam = s->Ybeam;
        s->pivot = PIVOT_SAMPLE;
        break;
    case CONV_CUSTOM:
        if (isnan(s->Xbeam)) s->Xbeam = s->Xclose;
        if (isnan(s->Ybeam)) s->Ybeam = s->Yclose;
        s->Fbeam = s->Xbeam;
        s->Sbeam = s->Ybeam;
        s->Fclose = s->Xbeam;
        s->Sclose = s->Ybeam;
        break;
    }

    vec_unit(s->beam, s->beam);
    vec_unit(s->fdet, s->fdet);
    vec_unit(s->sdet, s->sdet);
    if (vec_unit(s->odet, s->odet) != 1.0) {
        printf("WARNING: auto-generating odet_vector\n");
        vec_cross(s->fdet, s->sdet, s->odet);
        vec_unit(s->odet, s->odet);
    }
    vec_unit(s->polar_vec, s->polar_vec);
    vec_unit(s->spindle, s->spindle);
    vec_cross(s->beam, s->polar_vec, s->vert);
    vec_unit(s->vert, s->vert);
    if (s->beam[0] == 0.0)
        nb_die("option -beam_vector: zero-length beam vector");
    if (s->spindle[0] == 0.0)
        nb_die("option -spindle_axis: zero-length spindle axis");
}

void nb_setup_detector(nb_sim *s)
{
    static const char *names[] = {"custom", "adxv", "mosflm", "xds", "dials", "denzo"};
    double v[4], nv[4], ratio;

    printf("%s convention selected.\n", names[s->conv]);
    rot_xyz(s->odet, v, s->rotx, s->roty, s->rotz);
    ratio = vec_dot(s->beam, v);
    if (ratio == 0.0)
        ratio = DBL_MIN;
    if (isnan(s->close_distance))
        s->close_distance = fabs(ratio * s->distance);
    s->distance = s->close_distance / ratio;

    if (s->pivot == PIVOT_SAMPLE) {
        printf("pivoting detector around sample\n");
        s->pix0[1] = -s->Fclose * s->fdet[1] - s->Sclose * s->sdet[1] + s->close_distance * s->odet[1];
        s->pix0[2] = -s->Fclose * s->fdet[2] - s->Sclose * s->sdet[2] + s->close_distance * s->odet[2];
        s->pix0[3] = -s->Fclose * s->fdet[3] - s->Sclose * s->sdet[3] + s->close_distance * s->odet[3];
        rot_xyz(s->pix0, s->pix0, s->rotx, s->roty, s->rotz);
        rot_axis(s->pix0, s->pix0, s->twotheta_axis, s->twotheta);
    }
    rot_xyz(s->fdet, s->fdet, s->rotx, s->roty, s->rotz);
    rot_xyz(s->sdet, s->sdet, s->rotx, s->roty, s->rotz);
    rot_xyz(s->odet, s->odet, s->rotx, s->roty, s->rotz);
    rot_axis(s->fdet, s->fdet, s->twotheta_axis, s->twotheta);
    rot_axis(s->sdet, s->sdet, s->twotheta_axis, s->twotheta);
    rot_axis(s->odet, s->odet, s->twotheta_axis, s->twotheta);

    if (s->pivot == PIVOT_BEAM) {
        printf("pivoting detector around direct beam spot\n");
        s->pix0[1] = -s->Fbeam * s->fdet[1] - s->Sbeam * s->sdet[1] + s->distance * s->beam[1];
        s->pix0[2] = -s->Fbeam * s->fdet[2] - s->Sbeam * s->sdet[2] + s->distance * s->beam[2];
        s->pix0[3] = -s->Fbeam * s->fdet[3] - s->Sbeam * s->sdet[3] + s->distance * s->beam[3];
    }

    s->Fclose = -vec_dot(s->pix0, s->fdet);
    s->Sclose = -vec_dot(s->pix0, s->sdet);
    s->close_distance = vec_dot(s->pix0, s->odet);

    nv[1] = s->close_distance / ratio * s->beam[1] - s->pix0[1];
    nv[2] = s->close_distance / ratio * s->beam[2] - s->pix0[2];
    nv[3] = s->close_distance / ratio * s->beam[3] - s->pix0[3];
    s->Fbeam = vec_dot(s->fdet, nv);
    s->Sbeam = vec_dot(s->sdet, nv);
    s->distance = s->close_distance / ratio;

    s->ORGX = s->Fclose / s->pixel_size + 0.5;
    s->ORGY = s->Sclose / s->pixel_size + 0.5;

    set3(nv, 0, 0, 1);
    s->dials_origin[1] = 1000.0 * vec_dot(s->pix0, nv);
    set3(nv, 0, 1, 0);
    s->dials_origin[2] = 1000.0 * vec_dot(s->pix0, nv);
    set3(nv, -1, 0, 0);
    s->dials_origin[3] = 1000.0 * vec_dot(s->pix0, nv);

    nv[1] = vec_dot(s->beam, s->fdet);
    nv[2] = vec_dot(s->beam, s->sdet);
    nv[3] = vec_dot(s->beam, s->odet);
    printf("XDS incident beam: %g %g %g\n", nv[1], nv[2], nv[3]);

    if (s->interpolate > 1) {
        if (s->Na <= 2 || s->Nb <= 2 || s->Nc <= 2) {
            printf("auto-selected tricubic interpolation of structure factors\n");
            s->interpolate = 1;
        } else {
            printf("auto-selected no interpolation\n");
            s->interpolate = 0;
        }
    }
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

void nb_setup_crystal(nb_sim *s)
{
    double *as = s->a_star, *bs = s->b_star, *cs = s->c_star;
    double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0}, c[4] = {0, 0, 0, 0};
    double axb[4], bxc[4], cxa[4], asxbs[4], bsxcs[4], csxas[4];
    double V_cell = 0, V_star, sa, sb, sg, ca, cb, cg;
    double xmax, rps;

    if (s->user_cell) {
        double aavg, skew;
        double sas, sbs, sgs, cas, cbs, cgs;
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
        sas = a[0] * V_star / bs[0] / cs[0];
        sbs = b[0] * V_star / as[0] / cs[0];
        sgs = c[0] * V_star / as[0] / bs[0];
        cas = (cos(s->beta) * cos(s->gamma) - cos(s->alpha)) / (sin(s->beta) * sin(s->gamma));
        cbs = (cos(s->gamma) * cos(s->alpha) - cos(s->beta)) / (sin(s->gamma) * sin(s->alpha));
        cgs = (cos(s->alpha) * cos(s->beta) - cos(s->gamma)) / (sin(s->alpha) * sin(s->beta));
        {
            double v[6];
            v[0] = sas; v[1] = cas; v[2] = sbs; v[3] = cbs; v[4] = sgs; v[5] = cgs;
            oddball("reciprocal cell angles", STAR_NAMES_CELL, v);
        }
        clamp_trig(&sas, &cas);
        clamp_trig(&sbs, &cbs);
        clamp_trig(&sgs, &cgs);
        as[1] = as[0];
        bs[1] = bs[0] * cgs;
        cs[1] = cs[0] * cbs;
        as[2] = 0.0;
        bs[2] = bs[0] * sgs;
        cs[2] = cs[0] * (cas - cbs * cgs) / sgs;
        as[3] = 0.0;
        bs[3] = 0.0;
        cs[3] = cs[0] * V_cell / (a[0] * b[0] * c[0] * sgs);
    }
    if (s->matfile)
        read_matrix(s);

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

    sa = as[0] * V_cell / b[0] / c[0];
    sb = bs[0] * V_cell / a[0] / c[0];
    sg = cs[0] * V_cell / a[0] / b[0];
    ca = vec_dot(b, c) / b[0] / c[0];
    cb = vec_dot(a, c) / a[0] / c[0];
    cg = vec_dot(a, b) / a[0] / b[0];
    {
        double v[6];
        v[0] = sa; v[1] = ca; v[2] = sb; v[3] = cb; v[4] = sg; v[5] = cg;
        oddball("cell angles", CELL_NAMES, v);
    }
    clamp_trig(&sa, &ca);
    clamp_trig(&sb, &cb);
    clamp_trig(&sg, &cg);
    s->alpha_out = atan2(sa, ca);
    s->beta_out = atan2(sb, cb);
    s->gamma_out = atan2(sg, cg);
    sa = a[0] * V_star / bs[0] / cs[0];
    sb = b[0] * V_star / as[0] / cs[0];
    sg = c[0] * V_star / as[0] / bs[0];
    ca = vec_dot(bs, cs) / bs[0] / cs[0];
    cb = vec_dot(as, cs) / as[0] / cs[0];
    cg = vec_dot(as, bs) / as[0] / bs[0];
    {
        double v[6];
        v[0] = sa; v[1] = ca; v[2] = sb; v[3] = cb; v[4] = sg; v[5] = cg;
        oddball("reciprocal cell angles", STAR_NAMES, v);
    }
    clamp_trig(&sa, &ca);
    clamp_trig(&sb, &cb);
    clamp_trig(&sg, &cg);
    s->alpha_star = atan2(sa, ca);
    s->beta_star = atan2(sb, cb);
    s->gamma_star = atan2(sg, cg);
    s->V_cell = V_cell;

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

    vec_copy(a, s->a_A);
    vec_copy(b, s->b_A);
    vec_copy(c, s->c_A);
    vec_scale(a, s->a0, 1e-10);
    vec_scale(b, s->b0, 1e-10);
    vec_scale(c, s->c0, 1e-10);

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
    s->recommended_oversample = (int)ceil(3.0 * xmax / rps);
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
    fclose(f);
    if (s->sources == 0)
        nb_die("%s:%ld: no sources in source file", s->sourcefile, lineno);
}

static int div_cut(const nb_sim *s, double hdiv, double vdiv)
{
    double test = (hdiv * hdiv - s->hdivstep * s->hdivstep / 4.0 * (1 - s->hdivsteps % 2)) /
                  s->hdivrange / s->hdivrange;
    test += (vdiv * vdiv - s->vdivstep * s->vdivstep / 4.0 * (1 - s->vdivsteps % 2)) /
            s->vdivrange / s->vdivrange;
    return s->round_div && test * 4.0 > 1.1;
}

void nb_setup_sources(nb_sim *s)
{
    int ht, vt, dt, i;
    double hdiv, vdiv, lambda, v[4], nv[4];

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
                hdiv = s->hdivstep * ht - s->hdivrange / 2.0;
                vdiv = s->vdivstep * vt - s->vdivrange / 2.0;
                if (div_cut(s, hdiv, vdiv))
                    continue;
                n++;
                printf("divergence deviation: %g %g\n", hdiv, vdiv);
            }
        s->divsteps = n;
        for (dt = 0; dt < s->dispsteps; dt++) {
            lambda = s->lambda0 * (1.0 + s->dispstep * dt - s->dispersion / 2.0);
            printf("lambda%d = %.15g\n", dt, lambda);
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
                hdiv = s->hdivstep * ht - s->hdivrange / 2.0;
                vdiv = s->vdivstep * vt - s->vdivrange / 2.0;
                if (div_cut(s, hdiv, vdiv))
                    continue;
                v[1] = -10.0 * s->beam[1];
                v[2] = -10.0 * s->beam[2];
                v[3] = -10.0 * s->beam[3];
                rot_axis(v, nv, s->polar_vec, vdiv);
                rot_axis(nv, v, s->vert, hdiv);
                for (dt = 0; dt < s->dispsteps; dt++) {
                    lambda = s->lambda0 * (1.0 + s->dispstep * dt - s->dispersion / 2.0);
                    s->src_x[s->sources] = v[1];
                    s->src_y[s->sources] = v[2];
                    s->src_z[s->sources] = v[3];
                    s->src_I[s->sources] = weight;
                    s->src_lambda[s->sources] = lambda;
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
