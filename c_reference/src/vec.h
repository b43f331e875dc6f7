/* Small 3-vector helpers.  Vectors are double[4]; element 0 holds a magnitude
 * where a routine says so, elements 1..3 hold x, y, z (the layout of the
 * algorithm this program reproduces, kept so that every operation is done in
 * the same order and gives the same bits). */
#ifndef NB_VEC_H
#define NB_VEC_H

#include <limits.h>

double vec_norm(double *v);                          /* |v|, also stored in v[0] */
double vec_unit(double *v, double *out);             /* out = v/|v| (zero if |v|==0); returns |v| */
double vec_scale(const double *v, double *out, double s); /* out = s*v; returns |out| */
double vec_set_length(const double *v, double *out, double len);
void vec_cross(const double *x, const double *y, double *out);
double vec_dot(const double *x, const double *y);
void vec_copy(const double *v, double *out);

/* rotation about x, then y, then z (right handed, radians); zero angles skipped */
void rot_xyz(const double *v, double *out, double rx, double ry, double rz);
/* Rodrigues rotation of v about the unit vector axis by angle (radians) */
void rot_axis(const double *v, double *out, const double *axis, double angle);
/* out = U v with U a row-major 3x3 matrix */
void rot_umat(const double *v, double *out, const double *u);

/* (int)x as upstream gets it on x86-64 (cvttsd2si): truncation toward zero, and INT_MIN
 * (the "integer indefinite") for NaN or a value outside int's range, where C leaves the
 * conversion undefined. Upstream's degenerate inputs (a NaN Miller index, an infinite
 * recommended oversampling, an infinite step count) go through this value. */
static inline int nb_c_int(double x)
{
    return (x > -2147483649.0 && x < 2147483648.0) ? (int)x : INT_MIN;
}

#endif
