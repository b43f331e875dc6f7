/* Small 3-vector helpers.  Vectors are double[4]; element 0 holds a magnitude
 * where a routine says so, elements 1..3 hold x, y, z (the layout of the
 * algorithm this program reproduces, kept so that every operation is done in
 * the same order and gives the same bits). */
#ifndef NB_VEC_H
#define NB_VEC_H

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

#endif
