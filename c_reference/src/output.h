/* Output files are written under a temporary name in the same directory and
 * renamed into place by nb_out_publish once every output of the run is complete, so a
 * failed run leaves no output file behind (neither a partial one nor one finished
 * before the failure). An existing target that is not a regular file (/dev/null, a
 * FIFO) is written directly. */
#ifndef NB_OUTPUT_H
#define NB_OUTPUT_H

#include <stdio.h>

typedef struct {
    FILE *f;
    char *final_path;
    char *temp_path;
} nb_out_file;

nb_out_file *nb_out_open(const char *path);
void nb_out_commit(nb_out_file *o); /* closes and checks (dies on error); renamed later */
void nb_out_publish(void);          /* renames every committed file into place */

#endif
