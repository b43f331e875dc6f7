#ifndef NB_PHYSICS_H
#define NB_PHYSICS_H
#include "nb.h"

/* sin(N x)/sin(x), N at x = 0: transform of N cells along one axis */
double nb_sincg(double x, double N);
/* 3 (sin x / x - cos x) / x^2, 1 at x = 0: transform of a sphere */
double nb_sinc3(double x);
/* solid angle (sr) of a pixel at distance airpath (m) from the crystal: the whole pixel's
 * area (not the sub-pixel's) times the obliquity close_distance / airpath, or
 * 1 / airpath^2 with -point_pixel */
double nb_solid_angle(const nb_sim *s, double airpath);
/* fraction of the photons along unit vector diffracted absorbed in detector layer
 * layer (0-based) of thickness det_thickstep and attenuation det_mu */
double nb_capture_fraction(const nb_sim *s, int layer, const double *diffracted);
/* Kahn polarisation factor; re-normalises incident and diffracted in place */
double nb_polarization_factor(double kahn, double *incident, double *diffracted, const double *axis);
/* lattice factor of the crystal shape; axes[3] gets the per-axis square-shape factors */
double nb_lattice_factor(const nb_sim *s, double h, double k, double l, int h0, int k0, int l0,
                         double *axes);

#endif
