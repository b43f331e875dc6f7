/* Which pixels are evaluated (ROI, mask), how c-parity-omp splits the rows into thread
 * blocks, and where each block's first sweep is. */
#include "engine.h"

int nb_pixel_in_roi(const nb_sim *s, int fpixel, int spixel)
{
    return !(fpixel < s->roi_xmin || fpixel > s->roi_xmax || spixel < s->roi_ymin ||
             spixel > s->roi_ymax);
}

int nb_pixel_active(const nb_sim *s, int fpixel, int spixel)
{
    if (!nb_pixel_in_roi(s, fpixel, spixel))
        return 0;
    if (s->mask && s->mask[(size_t)spixel * s->fpixels + fpixel] == 0)
        return 0;
    return 1;
}

int nb_thread_blocks(const nb_sim *s)
{
    if (!nb_carry_per_thread_block(s))
        return 1;
    return s->omp_threads < s->spixels ? s->omp_threads : s->spixels;
}

void nb_block_rows(const nb_sim *s, int block, int *sp_first, int *sp_end)
{
    int n = s->spixels, threads = nb_carry_per_thread_block(s) ? s->omp_threads : 1;
    int q = n / threads, r = n % threads;
    if (block < r) {
        *sp_first = block * (q + 1);
        *sp_end = *sp_first + q + 1;
    } else {
        *sp_first = block * q + r;
        *sp_end = *sp_first + q;
    }
}

int nb_row_block(const nb_sim *s, int spixel)
{
    int n = s->spixels, threads = nb_carry_per_thread_block(s) ? s->omp_threads : 1;
    int q = n / threads, r = n % threads;
    /* the r long blocks come first; q == 0 means every row is in a long block */
    if (spixel < r * (q + 1))
        return spixel / (q + 1);
    return r + (spixel - r * (q + 1)) / q;
}

long nb_first_sweep_pixel(const nb_sim *s, nb_engine *e, int sp_first, int sp_end)
{
    nb_persist scratch; /* the first-sweep pass leaves the carried cell alone */
    int sp, fp;
    nb_persist_init(&scratch, s);
    for (sp = sp_first; sp < sp_end; sp++)
        for (fp = 0; fp < s->fpixels; fp++) {
            if (!nb_pixel_active(s, fp, sp))
                continue;
            /* without -dmin every source of every sub-pixel runs its sweep */
            if (!(s->dmin > 0.0) ||
                nb_eval_pixel(s, e, &scratch, fp, sp, NB_PASS_FIRST_SWEEP, NULL))
                return (long)sp * s->fpixels + fp;
        }
    return -1;
}
