/* Detector: size, beam-centre conventions, vector clean-up, pivots and rotations. */
#include <float.h>
#include <limits.h>
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

/* wavelength and pixel checks, detector size in pixels (from -detpixels or -detsize) */
static void detector_size(nb_sim *s)
{
    if (!(s->lambda0 > 0.0) || !isfinite(s->lambda0))
        nb_die("option -lambda/-energy: wavelength must be positive and finite (%g A)",
               s->lambda0 * 1e10);
    if (!(s->pixel_size > 0.0) || !isfinite(s->pixel_size))
        nb_die("option -pixel: pixel size must be positive and finite (%g mm)",
               s->pixel_size * 1000.0);
    if (s->fpixels < 0 || s->spixels < 0)
        nb_die("option -detpixels: negative pixel count (%d x %d)", s->fpixels, s->spixels);
    if (s->fpixels)
        s->detsize_f = s->pixel_size * s->fpixels;
    if (s->spixels)
        s->detsize_s = s->pixel_size * s->spixels;
    {
        /* checked as doubles: converting a nan or out-of-range count to int is undefined */
        double nf = ceil(s->detsize_f / s->pixel_size - 0.5);
        double ns = ceil(s->detsize_s / s->pixel_size - 0.5);
        if (!(nf <= INT_MAX) || !(ns <= INT_MAX))
            nb_die("option -detpixels/-detsize: detector size out of range (%g x %g pixels)", nf,
                   ns);
        if (nf <= 0.0 || ns <= 0.0)
            nb_die("option -detpixels/-detsize: detector has zero pixels (%g x %g)", nf + 0.0,
                   ns + 0.0);
        if (nf * ns > NB_MAX_PIXELS)
            nb_die("option -detpixels/-detsize: %.0f x %.0f pixels (at most %.0f in all)", nf, ns,
                   NB_MAX_PIXELS);
        s->fpixels = (int)nf;
        s->spixels = (int)ns;
    }
}

/* fluence from flux, exposure and beam size; the sample clipped by the beam */
static void beam_and_sample(nb_sim *s)
{
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
}

/* beam-centre and ROI defaults */
static void centre_defaults(nb_sim *s)
{
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
}

/* a convention's vectors, beam centre and pivot */
static void apply_convention(nb_sim *s)
{
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
}

/* unit vectors (odet rebuilt from fdet x sdet when it is not a unit vector) */
static void unit_vectors(nb_sim *s)
{
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
    /* A zero beam vector or spindle axis stays zero (upstream's unitize) and upstream renders
     * what follows: no beam gives a zero image; a zero spindle makes every phi step scale the
     * cell by cos(phi) instead of rotating it. Both are rendered the same way here. */
}

/* detector size, beam centre defaults, conventions, vector clean-up */
void nb_setup_detector_frame(nb_sim *s)
{
    detector_size(s);
    beam_and_sample(s);
    centre_defaults(s);
    apply_convention(s);
    unit_vectors(s);
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
