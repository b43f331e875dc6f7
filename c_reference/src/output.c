#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "err.h"
#include "output.h"

static unsigned long temp_counter = 0;

nb_out_file *nb_out_open(const char *path)
{
    nb_out_file *o = nb_calloc(1, sizeof *o);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    size_t n = strlen(path) + 64;

    if (*base == '\0')
        nb_die("%s: output file name is a directory", path);
    o->final_path = nb_calloc(strlen(path) + 1, 1);
    strcpy(o->final_path, path);
    {
        /* An existing target that is not a regular file (/dev/null, a FIFO, a terminal) is
         * written directly: renaming a temporary file onto it would replace the device. */
        struct stat st;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            o->f = fopen(path, "wb");
            if (!o->f)
                nb_die_code(NB_EXIT_IO, "%s: cannot open output file", path);
            o->temp_path = NULL;
            return o;
        }
    }
    o->temp_path = nb_calloc(n, 1);
    memcpy(o->temp_path, path, dirlen);
    sprintf(o->temp_path + dirlen, ".%s.%lu.%lu.tmp", base, (unsigned long)clock() & 0xffffUL,
            ++temp_counter);
    o->f = fopen(o->temp_path, "wb");
    if (!o->f)
        nb_die_code(NB_EXIT_IO, "%s: cannot create output file", path);
    nb_temp_register(o->temp_path);
    return o;
}

/* files closed and checked, waiting for nb_out_publish to rename them into place */
static nb_out_file **pending = NULL;
static size_t npending = 0;

void nb_out_commit(nb_out_file *o)
{
    int bad = ferror(o->f);
    if (fclose(o->f) != 0)
        bad = 1;
    o->f = NULL;
    if (bad)
        nb_die_code(NB_EXIT_IO, "%s: write error", o->final_path);
    if (o->temp_path == NULL) { /* written directly (not a regular file) */
        free(o->final_path);
        free(o);
        return;
    }
    /* the temporary file stays registered: a later failure removes it */
    pending = realloc(pending, (npending + 1) * sizeof *pending);
    if (!pending)
        nb_die_code(NB_EXIT_IO, "out of memory");
    pending[npending++] = o;
}

void nb_out_publish(void)
{
    size_t i;
    for (i = 0; i < npending; i++) {
        nb_out_file *o = pending[i];
        if (rename(o->temp_path, o->final_path) != 0)
            nb_die_code(NB_EXIT_IO, "%s: cannot rename temporary output into place", o->final_path);
        nb_temp_forget(o->temp_path);
        free(o->temp_path);
        free(o->final_path);
        free(o);
        pending[i] = NULL;
    }
    free(pending);
    pending = NULL;
    npending = 0;
}
