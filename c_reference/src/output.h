/* Output files are written under a temporary name in the same directory and
 * renamed when complete, so a failed run leaves no partial file behind. An existing
 * target that is not a regular file (/dev/null, a FIFO) is written directly. */
#ifndef NB_OUTPUT_H
#define NB_OUTPUT_H

#include <stdio.h>

typedef struct {
    FILE *f;
    char *final_path;
    char *temp_path;
} nb_out_file;

nb_out_file *nb_out_open(const char *path);
void nb_out_commit(nb_out_file *o); /* closes, checks, renames; dies on error */

#endif
