#define _XOPEN_SOURCE 700 /* realpath (XSI), readlink, lstat */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include "err.h"
#include "output.h"

static unsigned long temp_counter = 0;

/* the one message of an output that cannot be written; err is an errno value */
static void die_unwritable(const char *option, const char *path, int err) NB_NORETURN;

static void die_unwritable(const char *option, const char *path, int err)
{
    nb_die_code(NB_EXIT_IO, "option %s: cannot write '%s' (%s)", option, path,
                err ? strerror(err) : "write error");
}

/* the file a rename must replace: path itself, or for a symbolic link the file it leads to
 * (a link stays a link, as nbparity's atomic_write keeps it; upstream's fopen writes through
 * it too). A dangling link is refused, the link untouched: writing through it would create a
 * file wherever it points (nbparity refuses it the same way). */
static char *rename_target(const char *option, const char *path)
{
    struct stat lst, st;
    char *target;
    if (lstat(path, &lst) != 0 || !S_ISLNK(lst.st_mode))
        return NULL;
    if (stat(path, &st) != 0) {
        int err = errno;
        char to[4096];
        ssize_t n = readlink(path, to, sizeof to - 1);
        if (err == ENOENT && n >= 0) {
            to[n] = '\0';
            nb_die_code(NB_EXIT_IO, "option %s: cannot write '%s' (a dangling symbolic link to %s)",
                        option, path, to);
        }
        die_unwritable(option, path, err); /* a loop of links: ELOOP */
    }
    target = realpath(path, NULL);
    if (!target)
        die_unwritable(option, path, errno);
    return target;
}

nb_out_file *nb_out_open(const char *option, const char *path)
{
    nb_out_file *o = nb_calloc(1, sizeof *o);
    const char *slash, *base, *target;
    size_t dirlen;
    struct stat st;
    int exists;

    o->option = option;
    o->final_path = nb_calloc(strlen(path) + 1, 1);
    strcpy(o->final_path, path);
    o->link_target = rename_target(option, path);
    exists = stat(path, &st) == 0;
    if (path[0] == '\0' || path[strlen(path) - 1] == '/' || (exists && S_ISDIR(st.st_mode)))
        die_unwritable(option, path, EISDIR);
    if (exists && !S_ISREG(st.st_mode)) {
        /* An existing target that is not a regular file (/dev/null, a FIFO, a terminal, or a
         * link to one) is written directly: renaming a temporary file onto it would replace
         * the device. */
        free(o->link_target);
        o->link_target = NULL;
        o->f = fopen(path, "wb");
        if (!o->f)
            die_unwritable(option, path, errno);
        o->temp_path = NULL;
        return o;
    }
    /* the temporary file beside the file the rename replaces (a link's target) */
    target = o->link_target ? o->link_target : path;
    slash = strrchr(target, '/');
    dirlen = slash ? (size_t)(slash - target + 1) : 0;
    base = slash ? slash + 1 : target;
    o->temp_path = nb_calloc(strlen(target) + 64, 1);
    memcpy(o->temp_path, target, dirlen);
    sprintf(o->temp_path + dirlen, ".%s.%lu.%lu.tmp", base, (unsigned long)clock() & 0xffffUL,
            ++temp_counter);
    o->f = fopen(o->temp_path, "wb");
    if (!o->f)
        die_unwritable(option, path, errno);
    nb_temp_register(o->temp_path);
    return o;
}

static void out_free(nb_out_file *o)
{
    free(o->temp_path);
    free(o->final_path);
    free(o->link_target);
    free(o);
}

void nb_out_write(nb_out_file *o, const void *data, size_t size, size_t n)
{
    if (n && fwrite(data, size, n, o->f) != n)
        die_unwritable(o->option, o->final_path, errno);
}

void nb_out_printf(nb_out_file *o, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = vfprintf(o->f, fmt, ap);
    va_end(ap);
    if (r < 0)
        die_unwritable(o->option, o->final_path, errno);
}

/* files closed and checked, waiting for nb_out_publish to rename them into place */
static nb_out_file **pending = NULL;
static size_t npending = 0;

void nb_out_commit(nb_out_file *o)
{
    /* a buffered write fails at the flush (a full disk): fflush reports it with its errno */
    int err = fflush(o->f) != 0 ? errno : 0;
    if (!err && ferror(o->f))
        err = EIO;
    if (fclose(o->f) != 0 && !err)
        err = errno ? errno : EIO;
    o->f = NULL;
    if (err)
        die_unwritable(o->option, o->final_path, err);
    if (o->temp_path == NULL) { /* written directly (not a regular file) */
        out_free(o);
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
        if (rename(o->temp_path, o->link_target ? o->link_target : o->final_path) != 0)
            nb_die_code(NB_EXIT_IO, "option %s: cannot rename a temporary file to '%s' (%s)",
                        o->option, o->final_path, strerror(errno));
        nb_temp_forget(o->temp_path);
        out_free(o);
        pending[i] = NULL;
    }
    free(pending);
    pending = NULL;
    npending = 0;
}

void nb_stdout_check(void)
{
    /* printf's errors are sticky in ferror(stdout); the flush writes what is buffered */
    int err = fflush(stdout) != 0 ? errno : 0;
    if (err || ferror(stdout))
        nb_die_code(NB_EXIT_IO, "standard output: write error (%s)",
                    err ? strerror(err) : "an earlier write failed");
}
