/* Structure factors: HKL text file, binary dump file, nearest-neighbour and
 * tricubic (4x4x4 Lagrange) lookup. */
#define _POSIX_C_SOURCE 200809L /* getline */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "nb.h"
#include "output.h"

static int parse_number(const char *t, double *v)
{
    char *end;
    *v = strtod(t, &end);
    return end != t && *end == '\0';
}

typedef struct {
    int h, k, l;
    double F;
    long line; /* position in the file (entries are sorted to find repeated reflections) */
} hkl_entry;

/* A Miller index is a plain integer within a C int: upstream's second pass reads it with %d,
 * which stops at '1.0' or '1e2' (and silently drops the rest of the file) and overflows
 * beyond INT_MAX (its index range then wraps and it allocates for ever). */
static void check_index(const char *file, long lineno, const char *t)
{
    const char *d = (*t == '+' || *t == '-') ? t + 1 : t;
    long n;
    if (!isdigit((unsigned char)*d))
        nb_die("%s:%ld: Miller index '%s' is not an integer", file, lineno, t);
    while (isdigit((unsigned char)*d))
        d++;
    if (*d)
        nb_die("%s:%ld: Miller index '%s' is not an integer", file, lineno, t);
    errno = 0;
    n = strtol(t, NULL, 10);
    if (errno == ERANGE || n > INT_MAX || n < -INT_MAX)
        nb_die("%s:%ld: Miller index '%s' is out of range (beyond a C int)", file, lineno, t);
}

static int by_index_then_line(const void *x, const void *y)
{
    const hkl_entry *a = x, *b = y;
    if (a->h != b->h) return a->h < b->h ? -1 : 1;
    if (a->k != b->k) return a->k < b->k ? -1 : 1;
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return a->line < b->line ? -1 : (a->line > b->line);
}

/* A reflection listed twice: upstream keeps the value read last, silently; both engines do
 * the same and say so on stderr (simulator/setup.py, same words). Sorts e. */
static void warn_repeated(const char *file, hkl_entry *e, long n)
{
    long i, count = 0, first = -1;
    qsort(e, (size_t)n, sizeof *e, by_index_then_line);
    for (i = 1; i < n; i++)
        if (e[i].h == e[i - 1].h && e[i].k == e[i - 1].k && e[i].l == e[i - 1].l) {
            count++;
            if (first < 0 || e[i].line < e[first].line)
                first = i;
        }
    if (count)
        nb_warn("%s: %ld %s a reflection listed earlier (the first: %d %d %d); the value read "
                "last is used, as in nanoBragg", file, count,
                count > 1 ? "lines repeat" : "line repeats", e[first].h, e[first].k, e[first].l);
}

/* the lines of the HKL file as entries, checked (count in *count, lines read in *lines).
 * Lines are read whole, of any length (upstream's fscanf has no line limit, nor has the torch
 * engine); a NUL byte is not text: that line is an error, as in the torch engine (where the NUL
 * is a field that is not a number), never the end of its line. */
static hkl_entry *read_hkl_lines(nb_sim *s, long *count, long *lines)
{
    FILE *f = fopen(s->hklfile, "r");
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    long lineno = 0, n = 0, cap = 0;
    hkl_entry *e = NULL;

    if (!f)
        nb_die("%s: cannot open HKL file", s->hklfile);
    while ((len = getline(&line, &linecap, f)) >= 0) {
        char *tok[4];
        int ntok = 0; /* every field counted (the message names how many), the first 4 kept */
        char *p;
        double v[4];
        int j;
        lineno++;
        if (memchr(line, '\0', (size_t)len))
            nb_die("%s:%ld: a NUL byte (not an 'h k l F' line of text)", s->hklfile, lineno);
        p = strtok(line, " \t\r\n");
        while (p) {
            if (ntok < 4)
                tok[ntok] = p;
            if (ntok < INT_MAX)
                ntok++;
            p = strtok(NULL, " \t\r\n");
        }
        if (ntok == 0)
            continue;
        if (ntok != 4)
            nb_die("%s:%ld: expected 'h k l F' (4 numbers), found %d field%s", s->hklfile, lineno,
                   ntok, ntok == 1 ? "" : "s");
        for (j = 0; j < 4; j++)
            if (!parse_number(tok[j], &v[j]))
                nb_die("%s:%ld: '%s' is not a number", s->hklfile, lineno, tok[j]);
        for (j = 0; j < 3; j++)
            check_index(s->hklfile, lineno, tok[j]);
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            e = realloc(e, (size_t)cap * sizeof *e);
            if (!e)
                nb_die_code(NB_EXIT_IO, "out of memory reading %s", s->hklfile);
        }
        e[n].h = (int)v[0];
        e[n].k = (int)v[1];
        e[n].l = (int)v[2];
        e[n].F = v[3];
        e[n].line = n;
        n++;
    }
    /* getline's -1 is the end of the file or a read error (a directory: EISDIR) */
    if (ferror(f))
        nb_die("cannot read %s: %s", s->hklfile, strerror(errno));
    free(line);
    fclose(f);
    *count = n;
    *lines = lineno;
    return e;
}

/* index ranges, the table (default_F where no line gives F), the entries written in */
static void fill_hkl_table(nb_sim *s, const hkl_entry *e, long n)
{
    long i;
    s->h_min = s->k_min = s->l_min = 1000000000;
    s->h_max = s->k_max = s->l_max = -1000000000;
    for (i = 0; i < n; i++) {
        if (s->h_min > e[i].h) s->h_min = e[i].h;
        if (s->k_min > e[i].k) s->k_min = e[i].k;
        if (s->l_min > e[i].l) s->l_min = e[i].l;
        if (s->h_max < e[i].h) s->h_max = e[i].h;
        if (s->k_max < e[i].k) s->k_max = e[i].k;
        if (s->l_max < e[i].l) s->l_max = e[i].l;
    }
    {
        /* in double: the ranges of indices near INT_MAX overflow an int */
        double cells = ((double)s->h_max - s->h_min + 1) * ((double)s->k_max - s->k_min + 1) *
                       ((double)s->l_max - s->l_min + 1);
        if (cells > NB_MAX_HKL_CELLS)
            nb_die("%s: HKL index range too large (%.0f cells, at most %.0f)", s->hklfile, cells,
                   NB_MAX_HKL_CELLS);
    }
    s->h_range = s->h_max - s->h_min + 1;
    s->k_range = s->k_max - s->k_min + 1;
    s->l_range = s->l_max - s->l_min + 1;
    s->hkls = n;
    printf("counting entries in %s\n", s->hklfile);
    {
        size_t nh = (size_t)s->h_range + 1, nk = (size_t)s->k_range + 1, nl = (size_t)s->l_range + 1;
        int a, b, c;
        s->Fhkl = nb_calloc(nh * nk * nl, sizeof(double));
        if (s->default_F != 0.0) {
            printf("initializing to default_F = %g:\n", s->default_F);
            for (a = 0; a < s->h_range; a++)
                for (b = 0; b < s->k_range; b++)
                    for (c = 0; c < s->l_range; c++)
                        s->Fhkl[((size_t)a * nk + (size_t)b) * nl + (size_t)c] = s->default_F;
            printf("done initializing:\n");
        }
        printf("re-reading %s\n", s->hklfile);
        for (i = 0; i < n; i++) {
            size_t idx = ((size_t)(e[i].h - s->h_min) * nk + (size_t)(e[i].k - s->k_min)) * nl +
                         (size_t)(e[i].l - s->l_min);
            s->Fhkl[idx] = e[i].F;
        }
    }
}

static void read_hkl(nb_sim *s)
{
    long n, lineno;
    hkl_entry *e = read_hkl_lines(s, &n, &lineno);
    if (n == 0)
        nb_die("%s:%ld: no reflections in HKL file", s->hklfile, lineno);
    fill_hkl_table(s, e, n);
    s->hkl_last[0] = e[n - 1].h;
    s->hkl_last[1] = e[n - 1].k;
    s->hkl_last[2] = e[n - 1].l;
    s->hkl_last[3] = e[n - 1].F;
    warn_repeated(s->hklfile, e, n);
    free(e);
}

static void read_dump(nb_sim *s, FILE *f)
{
    char line[512];
    size_t total, got;
    int c;
    if (!fgets(line, sizeof line, f) ||
        sscanf(line, "%d %d %d %d %d %d", &s->h_min, &s->h_max, &s->k_min, &s->k_max, &s->l_min,
               &s->l_max) != 6)
        nb_die("%s:1: malformed dump file header", s->dumpfile);
    c = fgetc(f);
    if (c != '\f')
        nb_die("%s:1: malformed dump file header (no form feed)", s->dumpfile);
    {
        /* ranges in long (a wide header overflows int); the table size in double, checked
         * against the bytes the file holds before anything is allocated */
        long hr = (long)s->h_max - s->h_min + 1, kr = (long)s->k_max - s->k_min + 1,
             lr = (long)s->l_max - s->l_min + 1;
        double need;
        long here, end;
        if (hr <= 0 || kr <= 0 || lr <= 0)
            nb_die("%s:1: empty index range in dump file", s->dumpfile);
        if (hr >= INT_MAX || kr >= INT_MAX || lr >= INT_MAX)
            nb_die("%s:1: index range too wide in dump file", s->dumpfile);
        need = ((double)hr + 1) * ((double)kr + 1) * ((double)lr + 1);
        here = ftell(f);
        if (here >= 0 && fseek(f, 0, SEEK_END) == 0) {
            end = ftell(f);
            if (end >= here && (double)(end - here) < need * sizeof(double))
                nb_die("%s: truncated dump file (%.0f of %.0f values)", s->dumpfile,
                       floor((double)(end - here) / sizeof(double)), need);
            if (fseek(f, here, SEEK_SET) != 0)
                nb_die("%s: cannot seek in dump file", s->dumpfile);
        }
        s->h_range = (int)hr;
        s->k_range = (int)kr;
        s->l_range = (int)lr;
    }
    total = ((size_t)s->h_range + 1) * ((size_t)s->k_range + 1) * ((size_t)s->l_range + 1);
    s->Fhkl = nb_calloc(total, sizeof(double));
    got = fread(s->Fhkl, sizeof(double), total, f);
    if (got != total)
        nb_die("%s: truncated dump file (%lu of %lu values)", s->dumpfile, (unsigned long)got,
               (unsigned long)total);
    s->hkls = (long)s->h_range * s->k_range * s->l_range;
}

void nb_load_structure_factors(nb_sim *s)
{
    if (!s->hklfile) {
        FILE *f = s->dumpfile ? fopen(s->dumpfile, "rb") : NULL;
        if (f) {
            printf("reading Fs from %s\n", s->dumpfile);
            read_dump(s, f);
            fclose(f);
        } else if (s->dumpfile && s->default_F == 0.0) {
            nb_die("%s: cannot open dump file", s->dumpfile);
        }
    } else {
        read_hkl(s);
        if (s->dumpfile) {
            size_t total = ((size_t)s->h_range + 1) * ((size_t)s->k_range + 1) *
                           ((size_t)s->l_range + 1);
            nb_out_file *o = nb_out_open("-dump", s->dumpfile);
            printf("writing dump file for next time: %s\n", s->dumpfile);
            nb_out_printf(o, "%d %d %d %d %d %d\n\f", s->h_min, s->h_max, s->k_min, s->k_max,
                          s->l_min, s->l_max);
            nb_out_write(o, s->Fhkl, sizeof(double), total);
            nb_out_commit(o);
        }
    }
    if (s->hkls == 0)
        s->interpolate = 0;
}

/* 4-point Lagrange interpolation at x through (xa[i], ya[i]) */
static double lagrange4(const double *xa, const double *ya, double x)
{
    double t0 = (x - xa[1]) * (x - xa[2]) * (x - xa[3]) * ya[0] /
                ((xa[0] - xa[1]) * (xa[0] - xa[2]) * (xa[0] - xa[3]));
    double t1 = (x - xa[0]) * (x - xa[2]) * (x - xa[3]) * ya[1] /
                ((xa[1] - xa[0]) * (xa[1] - xa[2]) * (xa[1] - xa[3]));
    double t2 = (x - xa[0]) * (x - xa[1]) * (x - xa[3]) * ya[2] /
                ((xa[2] - xa[0]) * (xa[2] - xa[1]) * (xa[2] - xa[3]));
    double t3 = (x - xa[0]) * (x - xa[1]) * (x - xa[2]) * ya[3] /
                ((xa[3] - xa[0]) * (xa[3] - xa[1]) * (xa[3] - xa[2]));
    return t0 + t1 + t2 + t3;
}

static double F_at(const nb_sim *s, int h, int k, int l)
{
    size_t nk = (size_t)s->k_range + 1, nl = (size_t)s->l_range + 1;
    return s->Fhkl[((size_t)(h - s->h_min) * nk + (size_t)(k - s->k_min)) * nl +
                   (size_t)(l - s->l_min)];
}

/* Structure factor at fractional (h,k,l) with nearest indices (h0,k0,l0).
 * *interp_flag is the run-wide interpolation switch: when the 4x4x4 block
 * would leave the table it is turned off for good (as upstream does) and the
 * nearest-neighbour value is used. */
int nb_interp_in_range(const nb_sim *s, double h, double k, double l)
{
    return !((h - s->h_min + 3) > s->h_range || (h - 2 < s->h_min) ||
             (k - s->k_min + 3) > s->k_range || (k - 2 < s->k_min) ||
             (l - s->l_min + 3) > s->l_range || (l - 2 < s->l_min));
}

/* Upstream interpolates at a nan Miller index (a nan geometry: -distance inf, -twotheta nan,
 * ...): its range test passes, (int)floor(nan) is INT_MIN and it reads far outside its table
 * and crashes. Both engines stop there with one line instead (exit 2). */
void nb_stop_at_nan_index(double h, double k, double l)
{
    if (isnan(h) || isnan(k) || isnan(l))
        nb_die("degenerate input: a Miller index is nan while structure factors are "
               "interpolated (nanoBragg reads outside its table and crashes; -nointerpolate "
               "avoids it)");
}

double nb_F_lookup(const nb_sim *s, double h, double k, double l, int h0, int k0, int l0,
                   int *interp_flag)
{
    /* a nan index has no 4x4x4 block (only a traced step the image skips gets here) */
    if (*interp_flag && (isnan(h) || isnan(k) || isnan(l)))
        return s->default_F;
    if (*interp_flag) {
        if (!nb_interp_in_range(s, h, k, l)) {
            *interp_flag = 0;
        } else {
            int hf = (int)floor(h), kf = (int)floor(k), lf = (int)floor(l);
            double hx[4], kx[4], lx[4], tk[4], th[4], tl[4];
            int i1, i2, i3;
            for (i1 = 0; i1 < 4; i1++) {
                hx[i1] = (double)(hf - 1 + i1);
                kx[i1] = (double)(kf - 1 + i1);
                lx[i1] = (double)(lf - 1 + i1);
            }
            for (i1 = 0; i1 < 4; i1++) {
                for (i2 = 0; i2 < 4; i2++) {
                    for (i3 = 0; i3 < 4; i3++)
                        tl[i3] = F_at(s, hf - 1 + i1, kf - 1 + i2, lf - 1 + i3);
                    tk[i2] = lagrange4(lx, tl, l);
                }
                th[i1] = lagrange4(kx, tk, k);
            }
            return lagrange4(hx, th, h);
        }
    }
    if (s->hkls && h0 <= s->h_max && h0 >= s->h_min && k0 <= s->k_max && k0 >= s->k_min &&
        l0 <= s->l_max && l0 >= s->l_min)
        return F_at(s, h0, k0, l0);
    return s->default_F;
}
