#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "err.h"
#include "images.h"
#include "output.h"
#include "rng.h"

/* A NaN pixel is 0 in the integer images (int, PGM, noise): upstream's cast of a NaN is
 * undefined in C; x86-64 converts through a 32-bit int (INT_MIN), whose low bits are 0. */

static const char *byte_order(void)
{
    unsigned short probe = 1;
    return (*(unsigned char *)&probe == 1) ? "little_endian" : "big_endian";
}

/* appends to a fixed header buffer (an SMV header is a few hundred bytes) */
static void hdr_add(char *buf, size_t cap, size_t *len, const char *fmt, ...) NB_PRINTF(4, 5);

static void hdr_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= cap - *len)
        nb_die_code(NB_EXIT_IO, "SMV header too long");
    *len += (size_t)r;
}

/* the header is formatted in memory and padded to 512 bytes there: the padding does not
 * depend on the target reporting its position (a FIFO cannot) */
static void write_smv(const nb_sim *s, const char *option, const char *path,
                      const unsigned short *data)
{
    char h[2048];
    size_t n = 0;
    const size_t npix = (size_t)s->fpixels * (size_t)s->spixels;
    nb_out_file *o;
    hdr_add(h, sizeof h, &n, "{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=%s;\n", byte_order());
    hdr_add(h, sizeof h, &n, "TYPE=unsigned_short;\n");
    hdr_add(h, sizeof h, &n, "SIZE1=%d;\nSIZE2=%d;\nPIXEL_SIZE=%g;\nDISTANCE=%g;\n", s->fpixels,
            s->spixels, s->pixel_size * 1000.0, s->distance * 1000.0);
    hdr_add(h, sizeof h, &n, "WAVELENGTH=%g;\n", s->lambda0 * 1e10);
    hdr_add(h, sizeof h, &n, "BEAM_CENTER_X=%g;\nBEAM_CENTER_Y=%g;\n", s->Xbeam * 1000.0,
            s->Ybeam * 1000);
    hdr_add(h, sizeof h, &n, "ADXV_CENTER_X=%g;\nADXV_CENTER_Y=%g;\n", s->Fbeam * 1000.0,
            (s->detsize_s - s->Sbeam) * 1000);
    hdr_add(h, sizeof h, &n, "MOSFLM_CENTER_X=%g;\nMOSFLM_CENTER_Y=%g;\n",
            (s->Sbeam - 0.5 * s->pixel_size) * 1000.0, (s->Fbeam - 0.5 * s->pixel_size) * 1000);
    hdr_add(h, sizeof h, &n, "DENZO_X_BEAM=%g;\nDENZO_Y_BEAM=%g;\n",
            (s->Sbeam - 0.0 * s->pixel_size) * 1000.0, (s->Fbeam - 0.0 * s->pixel_size) * 1000);
    hdr_add(h, sizeof h, &n, "DIALS_ORIGIN=%g,%g,%g\n", s->dials_origin[1], s->dials_origin[2],
            s->dials_origin[3]);
    hdr_add(h, sizeof h, &n, "XDS_ORGX=%g;\nXDS_ORGY=%g;\n", s->ORGX, s->ORGY);
    hdr_add(h, sizeof h, &n, "CLOSE_DISTANCE=%g;\n", s->close_distance * 1000.0);
    hdr_add(h, sizeof h, &n, "PHI=%g;\nOSC_START=%g;\nOSC_RANGE=%g;\n", s->phi0 * NB_RTD,
            s->phi0 * NB_RTD, s->osc * NB_RTD);
    hdr_add(h, sizeof h, &n, "TWOTHETA=%g;\n", s->twotheta * NB_RTD);
    hdr_add(h, sizeof h, &n, "DETECTOR_SN=000;\n");
    hdr_add(h, sizeof h, &n, "BEAMLINE=fake;\n");
    hdr_add(h, sizeof h, &n, "}\f");
    while (n < 512)
        h[n++] = ' ';
    o = nb_out_open(option, path);
    nb_out_write(o, h, 1, n);
    nb_out_write(o, data, sizeof(unsigned short), npix);
    nb_out_commit(o);
}

typedef struct {
    double avg, rms, rmsd, max_I, max_x, max_y;
} image_stats;

/* mean, rms and maximum over the active pixels (upstream keeps them inside its pixel loop,
 * in raster order); rmsd about the mean over the ROI */
static void image_statistics(const nb_sim *s, image_stats *st)
{
    double sum = 0.0, sumsqr = 0.0;
    long sumn = 0;
    int sp, fp;
    const double sub = s->subpixel_size;
    const int os = s->oversample;
    st->max_I = st->max_x = st->max_y = 0.0;
    for (sp = 0; sp < s->spixels; sp++)
        for (fp = 0; fp < s->fpixels; fp++) {
            float v, v2;
            if (!nb_pixel_active(s, fp, sp))
                continue;
            v = s->image[(size_t)sp * s->fpixels + fp];
            if (v > st->max_I) {
                st->max_I = v;
                /* sub-pixel position of the last sub-pixel of that pixel */
                st->max_x = sub * (fp * os + (os - 1)) + sub / 2.0;
                st->max_y = sub * (sp * os + (os - 1)) + sub / 2.0;
            }
            sum += v;
            v2 = v * v;
            sumsqr += v2;
            ++sumn;
        }
    if (sumn <= 0)
        sumn = 1;
    st->avg = sum / sumn;
    if (sumn <= 1)
        sumn = 2;
    st->rms = sqrt(sumsqr / (sumn - 1));
    sumsqr = 0.0;
    sumn = 0;
    for (sp = 0; sp < s->spixels; sp++)
        for (fp = 0; fp < s->fpixels; fp++) {
            double d;
            if (!nb_pixel_in_roi(s, fp, sp))
                continue;
            d = s->image[(size_t)sp * s->fpixels + fp] - st->avg;
            sumsqr += d * d;
            ++sumn;
        }
    if (sumn <= 1)
        sumn = 2;
    st->rmsd = sqrt(sumsqr / (sumn - 1));
}

/* the SMV integer image: pixel * intfile_scale + adc, clipped to 16 bits */
static void int_image(const nb_sim *s, unsigned short *ints)
{
    int sp, fp;
    for (sp = 0; sp < s->spixels; sp++)
        for (fp = 0; fp < s->fpixels; fp++) {
            size_t i = (size_t)sp * s->fpixels + fp;
            double v;
            if (!nb_pixel_in_roi(s, fp, sp))
                continue;
            v = s->image[i] * s->intfile_scale + s->adc;
            if (v > 65535.0) v = 65535.0;
            if (v < 0.0) v = 0.0;
            ints[i] = isnan(v) ? 0 : (unsigned short)(floorf((float)(v + 0.5)));
        }
}

/* the PGM preview, scaled so that 5 rmsd is white unless -pgmscale is given */
static void write_pgm(nb_sim *s, size_t npix, double rmsd)
{
    int sp, fp;
    unsigned char *pgm = nb_calloc(npix + 10, 1);
    nb_out_file *o;
    if (s->pgm_scale <= 0.0) {
        s->pgm_scale = s->intfile_scale;
        if (rmsd > 0.0)
            s->pgm_scale = 250.0 / (5.0 * rmsd);
    }
    printf("pgm_scale = %g\n", s->pgm_scale);
    for (sp = 0; sp < s->spixels; sp++)
        for (fp = 0; fp < s->fpixels; fp++) {
            size_t i = (size_t)sp * s->fpixels + fp;
            double v;
            if (!nb_pixel_in_roi(s, fp, sp))
                continue;
            v = s->image[i] * s->pgm_scale;
            if (v > 255.0) v = 255.0;
            pgm[i] = (unsigned char)(v < 0.0 || isnan(v) ? 0 : v);
        }
    printf("writing %s as %lu-byte integers\n", s->pgmfile, (unsigned long)sizeof(unsigned char));
    o = nb_out_open("-pgmfile", s->pgmfile);
    nb_out_printf(o, "P5\n%d %d\n", s->fpixels, s->spixels);
    nb_out_printf(o, "# pixels scaled by %g\n", s->pgm_scale);
    nb_out_printf(o, "255\n");
    nb_out_write(o, pgm, 1, npix);
    nb_out_commit(o);
    free(pgm);
}

/* Poisson noise (from -seed) on the image, plus adc, as an SMV image */
static void write_noise(nb_sim *s, unsigned short *ints)
{
    int sp, fp;
    double photons = 0.0;
    long overloads = 0;
    for (sp = 0; sp < s->spixels; sp++)
        for (fp = 0; fp < s->fpixels; fp++) {
            size_t i = (size_t)sp * s->fpixels + fp;
            double v;
            if (!nb_pixel_in_roi(s, fp, sp))
                continue;
            v = rng_poisson(s->image[i], &s->seed);
            photons += v;
            v += s->adc;
            if (v > 65535.0) {
                v = 65535.0;
                ++overloads;
            }
            ints[i] = isnan(v) ? 0 : (unsigned short)v;
        }
    printf("%.0f photons on noise image (%ld overloads)\n", photons, overloads);
    printf("writing %s as %lu-byte integers\n", s->noisefile, (unsigned long)sizeof(unsigned short));
    write_smv(s, "-noisefile", s->noisefile, ints);
}

void nb_finish_full_run(nb_sim *s, double omega_sum)
{
    const size_t npix = (size_t)s->fpixels * (size_t)s->spixels;
    image_stats st;
    unsigned short *ints;

    printf("\n");
    printf("solid angle subtended by detector = %g steradian ( %g%% sphere)\n", omega_sum / s->steps,
           100 * omega_sum / s->steps / 4 / M_PI);
    image_statistics(s, &st);
    if (s->floatfile) {
        nb_out_file *o;
        printf("writing %s as %lu %lu-byte floats\n", s->floatfile, (unsigned long)npix,
               (unsigned long)sizeof(float));
        o = nb_out_open("-floatfile", s->floatfile);
        nb_out_write(o, s->image, sizeof(float), npix);
        nb_out_commit(o);
    }

    printf("max_I = %g  at %g %g\n", st.max_I, st.max_x, st.max_y);
    printf("mean= %g rms= %g rmsd= %g\n", st.avg, st.rms, st.rmsd);
    if (s->intfile_scale <= 0.0) {
        s->intfile_scale = 1.0;
        if (st.max_I > 0.0)
            s->intfile_scale = 55000.0 / st.max_I;
    }
    printf("intfile_scale = %g\n", s->intfile_scale);

    ints = nb_calloc(npix + 10, sizeof(unsigned short));
    int_image(s, ints);
    if (s->intfile) {
        printf("writing %s as %lu-byte integers\n", s->intfile, (unsigned long)sizeof(unsigned short));
        write_smv(s, "-intfile", s->intfile, ints);
    }
    if (s->write_pgm && s->pgmfile)
        write_pgm(s, npix, st.rmsd);
    if (s->calculate_noise && s->noisefile)
        write_noise(s, ints);
    free(ints);
}
