/* Random deviates with the exact arithmetic (float/double mix) of the
 * Numerical-Recipes style generators used by nanoBragg, so that the same seed
 * gives the same mosaic domains, random misset and noise image. */
#ifndef NB_RNG_H
#define NB_RNG_H

/* uniform deviate in (0,1); reseeds when *seed <= 0.  The 32-entry shuffle
 * table is one static table shared by every seed stream. */
float rng_uniform(long *seed);
float rng_gauss(long *seed);
float rng_poisson(float mean, long *seed);
float rng_lngamma(float x);

/* random rotation inside a spherical cap: the angle uses a float power */
void rng_mosaic_umat(float spread, double *u, long *seed);
/* rotation matrix -> x, y, z misset angles (radians) in m[1..3] */
void umat_to_misset(const double *u, double *m);

#endif
