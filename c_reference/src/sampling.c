/* Step-count rules: phi, divergence, dispersion, detector layers, mosaic domains. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "nb.h"
#include "rng.h"
#include "vec.h"

/* the rule when no step count is given: a range and a step give ceil(range / step)
 * steps, a step alone two steps of it, neither one step of nothing, and a range alone
 * two steps of range / range_alone_parts (phi and detector layers: 2, half of it each;
 * divergence and dispersion: 1, the whole range; x / 1.0 is x exactly) */
static void count_from_range(double *range, double *step, int *count, double range_alone_parts)
{
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
            *count = 2;
            *step = *range / range_alone_parts;
        } else {
            *count = nb_c_int(ceil(*range / *step));
        }
    }
}

/* one of upstream's "range / step / count" rules (divergence and dispersion) */
static void range_rule(double *range, double *step, int *count)
{
    if (*count <= 0) {
        count_from_range(range, step, count, 1.0);
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

/* A resource guard shared with the torch engine: more than NB_MAX_STEPS steps along one
 * loop would run for days (upstream runs them); both engines refuse, exit 2. */
static void check_count(const char *what, double count)
{
    if (count > NB_MAX_STEPS)
        nb_die("impossible sampling: %.0f %s steps (at most %d)", count, what, NB_MAX_STEPS);
}

void nb_setup_sampling(nb_sim *s)
{
    /* phi */
    if (s->phisteps < 0) {
        count_from_range(&s->osc, &s->phistep, &s->phisteps, 2.0);
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
        count_from_range(&s->det_thick, &s->det_thickstep, &s->det_thicksteps, 2.0);
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
    check_count("phi", s->phisteps);
    check_count("divergence", (double)s->hdivsteps * s->vdivsteps);
    check_count("dispersion", s->dispsteps);
    check_count("thickness", s->det_thicksteps);
    check_count("mosaic", s->mosaic_domains);
}
