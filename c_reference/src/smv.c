/* SMV (ADSC) image headers and data, for -mask and -img. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "nb.h"

/* value after '=' of the LAST occurrence of key in the header (a key that is
 * a substring of a later key, like DISTANCE in CLOSE_DISTANCE, finds the later
 * one: reproduced on purpose) */
static double header_value(const char *hdr, const char *key)
{
    const char *p = hdr, *q;
    size_t n = strlen(key);
    while ((q = strstr(p, key)) != NULL)
        p = q + n;
    if (p == hdr)
        return NAN;
    p = strchr(p, '=');
    if (!p)
        return 0.0;
    return atof(p + 1);
}

/* an integer header value truncated like a (int) cast; 0 when the key is absent, -1 when
 * the value is nan or out of the int range (converting those is undefined) */
static int header_int(const char *hdr, const char *key)
{
    double v;
    if (!strstr(hdr, key))
        return 0;
    v = header_value(hdr, key);
    if (!(v > -2147483648.0 && v < 2147483648.0))
        return -1;
    return (int)v;
}

void nb_read_mask_header(nb_sim *s, const char *path, int is_mask)
{
    FILE *f = fopen(path, "rb");
    char *hdr;
    long hbytes;
    int w, h;
    double v;
    size_t npix, got;
    unsigned short *data;

    if (!f)
        nb_die("%s: cannot open %s file", path, is_mask ? "mask" : "image");
    hdr = nb_calloc(1024, 1);
    if (fread(hdr, 1, 512, f) != 512)
        nb_die("%s:1: not an SMV image (header shorter than 512 bytes)", path);
    if (strncmp(hdr, "{\nHEADER_BYT", 12) != 0)
        nb_die("%s:1: not an SMV image (no HEADER_BYTES at the start)", path);
    v = header_value(hdr, "HEADER_BYTES"); /* checked as a double: (long)nan is undefined */
    if (!(v >= 512.0 && v <= (double)(1L << 24)))
        nb_die("%s:1: bad HEADER_BYTES in SMV header", path);
    hbytes = (long)v;
    if (hbytes != 512) {
        free(hdr);
        hdr = nb_calloc((size_t)hbytes * 2, 1);
        rewind(f);
        if (fread(hdr, 1, (size_t)hbytes, f) != (size_t)hbytes)
            nb_die("%s:1: SMV header shorter than HEADER_BYTES", path);
    }
    w = header_int(hdr, "SIZE1");
    h = header_int(hdr, "SIZE2");
    if (w == 0)
        w = h = header_int(hdr, "DETECTOR_DIMENSIONS");
    if (w <= 0 || h <= 0)
        nb_die("%s:1: SMV header has no positive SIZE1/SIZE2", path);

    s->fpixels = w;
    s->spixels = h;
    v = header_value(hdr, "PIXEL_SIZE");
    if (!isnan(v)) s->pixel_size = v / 1000.0;
    s->detsize_f = s->pixel_size * w;
    s->detsize_s = s->pixel_size * h;
    v = header_value(hdr, "DISTANCE");
    if (!isnan(v)) s->distance = v / 1000.0;
    v = header_value(hdr, "CLOSE_DISTANCE");
    if (!isnan(v)) s->close_distance = v / 1000.0;
    v = header_value(hdr, "WAVELENGTH");
    if (!isnan(v)) s->lambda0 = v / 1e10;
    v = header_value(hdr, "BEAM_CENTER_X");
    if (!isnan(v)) s->Xbeam = v / 1000.0;
    v = header_value(hdr, "BEAM_CENTER_Y");
    if (!isnan(v)) s->Ybeam = is_mask ? s->detsize_s - v / 1000.0 : v / 1000.0;
    v = header_value(hdr, "ORGX");
    if (!isnan(v)) s->ORGX = v;
    v = header_value(hdr, "ORGY");
    if (!isnan(v)) s->ORGY = v;
    v = header_value(hdr, "PHI");
    if (!isnan(v)) s->phi0 = v / NB_RTD;
    v = header_value(hdr, "OSC_RANGE");
    if (!isnan(v)) s->osc = v / NB_RTD;
    v = header_value(hdr, "TWOTHETA");
    if (!isnan(v)) s->hdr_twotheta = v / NB_RTD; /* read, never used (as upstream) */

    if (is_mask) {
        npix = (size_t)w * (size_t)h;
        data = nb_calloc(npix + 10, sizeof(unsigned short));
        if (fseek(f, hbytes, SEEK_SET) != 0)
            nb_die("%s: cannot seek to the image data", path);
        got = fread(data, sizeof(unsigned short), npix, f);
        if (got != npix)
            nb_die("%s: truncated SMV data (%lu of %lu pixels)", path, (unsigned long)got,
                   (unsigned long)npix);
        free(s->mask);
        s->mask = data;
        s->mask_f = w;
        s->mask_s = h;
    }
    fclose(f);
    free(hdr);
}
