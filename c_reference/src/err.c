#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"

#define MAX_TEMPS 16
static char *temps[MAX_TEMPS];

void nb_temp_register(const char *path)
{
    int i;
    for (i = 0; i < MAX_TEMPS; i++) {
        if (!temps[i]) {
            temps[i] = malloc(strlen(path) + 1);
            if (temps[i])
                strcpy(temps[i], path);
            return;
        }
    }
}

void nb_temp_forget(const char *path)
{
    int i;
    for (i = 0; i < MAX_TEMPS; i++) {
        if (temps[i] && strcmp(temps[i], path) == 0) {
            free(temps[i]);
            temps[i] = NULL;
        }
    }
}

void nb_temp_cleanup(void)
{
    int i;
    for (i = 0; i < MAX_TEMPS; i++) {
        if (temps[i]) {
            remove(temps[i]);
            free(temps[i]);
            temps[i] = NULL;
        }
    }
}

static void vmessage(const char *kind, const char *fmt, va_list ap)
{
    fflush(stdout);
    fprintf(stderr, "nanobragg-ref: %s: ", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void vdie(int code, const char *fmt, va_list ap) NB_NORETURN;

static void vdie(int code, const char *fmt, va_list ap)
{
    vmessage("error", fmt, ap);
    nb_temp_cleanup();
    exit(code);
}

void nb_die_code(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdie(code, fmt, ap);
}

void nb_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdie(NB_EXIT_USAGE, fmt, ap);
}

void nb_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("warning", fmt, ap);
    va_end(ap);
}

void *nb_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        nb_die_code(NB_EXIT_IO, "out of memory (%lu x %lu bytes)", (unsigned long)n,
                    (unsigned long)size);
    return p;
}
