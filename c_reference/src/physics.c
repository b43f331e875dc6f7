/* Physics of one sub-pixel and one step: solid angle, detector absorption, polarisation,
 * lattice transforms, crystal shapes. */
#include <math.h>
#include "nb.h"
#include "physics.h"
#include "vec.h"

/* lattice transform of N unit cells along one axis */
double nb_sincg(double x, double N)
{
    if (x == 0.0)
        return N;
    return sin(x * N) / sin(x);
}

/* transform of a sphere */
double nb_sinc3(double x)
{
    if (x == 0.0)
        return 1.0;
    return 3.0 * (sin(x) / x - cos(x)) / (x * x);
}

double nb_solid_angle(const nb_sim *s, double airpath)
{
    if (s->point_pixel)
        return 1.0 / airpath / airpath;
    return s->pixel_size * s->pixel_size / airpath / airpath * s->close_distance / airpath;
}

/* the layer's share of exp(-mu x) along the path through the sensor: the path
 * length per layer is det_thickstep / parallax */
double nb_capture_fraction(const nb_sim *s, int layer, const double *diffracted)
{
    double parallax = vec_dot(diffracted, s->odet);
    return exp((double)(-layer) * s->det_thickstep * s->det_mu / parallax) -
           exp((double)(-(layer + 1)) * s->det_thickstep * s->det_mu / parallax);
}

/* Kahn polarisation factor.  incident and diffracted are re-normalised in
 * place, as upstream does (the caller's diffracted vector changes by an ulp
 * at most, and later sources of the same sub-pixel see that). */
double nb_polarization_factor(double kahn, double *incident, double *diffracted,
                                  const double *axis)
{
    double c2t, c2, s2, psi = 0.0, B[4], E[4];
    vec_unit(incident, incident);
    vec_unit(diffracted, diffracted);
    c2t = vec_dot(incident, diffracted);
    c2 = c2t * c2t;
    s2 = 1 - c2;
    if (kahn != 0.0) {
        vec_cross(axis, incident, B);
        vec_unit(B, B);
        vec_cross(incident, B, E);
        vec_unit(E, E);
        psi = -atan2(vec_dot(diffracted, B), vec_dot(diffracted, E));
    }
    return 0.5 * (1.0 + c2 - kahn * cos(2 * psi) * s2);
}

/* lattice transform of the crystal shape at fractional (h,k,l), nearest (h0,k0,l0);
 * axes[] receives the three sincg factors of the square shape (1 where N <= 1) */
double nb_lattice_factor(const nb_sim *s, double h, double k, double l, int h0, int k0, int l0,
                         double *axes)
{
    double F_latt = 1.0;
    axes[0] = axes[1] = axes[2] = 1.0;
    if (s->shape == SHAPE_SQUARE) {
        if (s->Na > 1) {
            axes[0] = nb_sincg(M_PI * h, s->Na);
            F_latt *= axes[0];
        }
        if (s->Nb > 1) {
            axes[1] = nb_sincg(M_PI * k, s->Nb);
            F_latt *= axes[1];
        }
        if (s->Nc > 1) {
            axes[2] = nb_sincg(M_PI * l, s->Nc);
            F_latt *= axes[2];
        }
    } else {
        /* distance from the nearest node, in the unrotated reciprocal cell
         * (1/Angstrom) whatever the phi and mosaic rotation: as upstream */
        const double *as = s->a_star, *bs = s->b_star, *cs = s->c_star;
        double dx = (h - h0) * as[1] + (k - k0) * bs[1] + (l - l0) * cs[1];
        double dy = (h - h0) * as[2] + (k - k0) * bs[2] + (l - l0) * cs[2];
        double dz = (h - h0) * as[3] + (k - k0) * bs[3] + (l - l0) * cs[3];
        double rad = (dx * dx + dy * dy + dz * dz) * s->Na * s->Na * s->Nb * s->Nb * s->Nc * s->Nc;
        if (s->shape == SHAPE_ROUND) {
            double hr = (h - h0) * (h - h0) * s->Na * s->Na + (k - k0) * (k - k0) * s->Nb * s->Nb +
                        (l - l0) * (l - l0) * s->Nc * s->Nc;
            F_latt = s->Na * s->Nb * s->Nc * 0.723601254558268 * nb_sinc3(M_PI * sqrt(hr * s->fudge));
        } else if (s->shape == SHAPE_GAUSS) {
            F_latt = s->Na * s->Nb * s->Nc * exp(-(rad / 0.63 * s->fudge));
        } else {
            F_latt = s->Na * s->Nb * s->Nc * (rad * s->fudge < 0.3969);
        }
    }
    return F_latt;
}
