/* Output files are written under a temporary name in the same directory and
 * renamed into place by nb_out_publish once every output of the run is complete, so a
 * failed run leaves no output file behind (neither a partial one nor one finished
 * before the failure). An existing target that is not a regular file (/dev/null, a
 * FIFO) is written directly. A symbolic link stays a link: the file it leads to is replaced
 * (the temporary file beside that file); a dangling link is refused (exit 3), untouched.
 *
 * Every write is checked: an output that cannot be written (a directory, a full disk,
 * /dev/full) ends the run with one line naming the option and the path, exit status 3
 * (NB_EXIT_IO). Standard output is checked the same way by nb_stdout_check. */
#ifndef NB_OUTPUT_H
#define NB_OUTPUT_H

#include <stddef.h>
#include <stdio.h>
#include "err.h"

typedef struct {
    FILE *f;
    const char *option; /* the option that named the file: "-floatfile", "-dump", ... */
    char *final_path;  /* the path as given (messages name it) */
    char *link_target; /* when final_path is a symbolic link: the file it leads to, or NULL */
    char *temp_path;
} nb_out_file;

nb_out_file *nb_out_open(const char *option, const char *path);
void nb_out_write(nb_out_file *o, const void *data, size_t size, size_t n); /* dies on error */
void nb_out_printf(nb_out_file *o, const char *fmt, ...) NB_PRINTF(2, 3);   /* dies on error */
void nb_out_commit(nb_out_file *o); /* flushes, closes and checks (dies on error); renamed later */
void nb_out_publish(void);          /* renames every committed file into place */

/* flushes standard output; dies (exit 3) if anything printed so far was lost */
void nb_stdout_check(void);

#endif
