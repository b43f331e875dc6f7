#ifndef NB_IMAGES_H
#define NB_IMAGES_H
#include "nb.h"

/* statistics and image files after the pixel loop (upstream's order) */
void nb_finish_full_run(nb_sim *s, double omega_sum);

#endif
