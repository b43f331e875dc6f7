#include <math.h>
#include "vec.h"

double vec_norm(double *v)
{
    v[0] = sqrt(v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
    return v[0];
}

double vec_unit(double *v, double *out)
{
    double len = vec_norm(v);
    if (len != 0.0) {
        out[1] = v[1] / len;
        out[2] = v[2] / len;
        out[3] = v[3] / len;
    } else {
        out[0] = out[1] = out[2] = out[3] = 0.0;
    }
    return len;
}

double vec_scale(const double *v, double *out, double s)
{
    out[1] = s * v[1];
    out[2] = s * v[2];
    out[3] = s * v[3];
    return vec_norm(out);
}

double vec_set_length(const double *v, double *out, double len)
{
    double tmp[4];
    double old;
    tmp[1] = v[1];
    tmp[2] = v[2];
    tmp[3] = v[3];
    old = vec_norm(tmp);
    if (old <= 0.0)
        old = 1.0;
    out[1] = len / old * v[1];
    out[2] = len / old * v[2];
    out[3] = len / old * v[3];
    return vec_norm(out);
}

void vec_cross(const double *x, const double *y, double *out)
{
    double r1 = x[2] * y[3] - x[3] * y[2];
    double r2 = x[3] * y[1] - x[1] * y[3];
    double r3 = x[1] * y[2] - x[2] * y[1];
    out[0] = 0.0;
    out[1] = r1;
    out[2] = r2;
    out[3] = r3;
}

double vec_dot(const double *x, const double *y)
{
    return x[1] * y[1] + x[2] * y[2] + x[3] * y[3];
}

void vec_copy(const double *v, double *out)
{
    out[0] = v[0];
    out[1] = v[1];
    out[2] = v[2];
    out[3] = v[3];
}

void rot_xyz(const double *v, double *out, double rx, double ry, double rz)
{
    double x = v[1], y = v[2], z = v[3];
    double nx, ny, nz, c, s;

    if (rx != 0) {
        c = cos(rx);
        s = sin(rx);
        ny = y * c + z * (-s);
        nz = y * s + z * c;
        y = ny;
        z = nz;
    }
    if (ry != 0) {
        c = cos(ry);
        s = sin(ry);
        /* the zero matrix entries are multiplied in, as in the reference */
        nx = x * c + y * 0.0 + z * s;
        nz = x * (-s) + y * 0.0 + z * c;
        x = nx;
        z = nz;
    }
    if (rz != 0) {
        c = cos(rz);
        s = sin(rz);
        nx = x * c + y * (-s);
        ny = x * s + y * c;
        x = nx;
        y = ny;
    }
    out[1] = x;
    out[2] = y;
    out[3] = z;
}

void rot_axis(const double *v, double *out, const double *axis, double angle)
{
    double s = sin(angle);
    double c = cos(angle);
    double along = (axis[1] * v[1] + axis[2] * v[2] + axis[3] * v[3]) * (1.0 - c);
    double r1 = axis[1] * along + v[1] * c + (-axis[3] * v[2] + axis[2] * v[3]) * s;
    double r2 = axis[2] * along + v[2] * c + (+axis[3] * v[1] - axis[1] * v[3]) * s;
    double r3 = axis[3] * along + v[3] * c + (-axis[2] * v[1] + axis[1] * v[2]) * s;
    out[1] = r1;
    out[2] = r2;
    out[3] = r3;
}

void rot_umat(const double *v, double *out, const double *u)
{
    double r1 = u[0] * v[1] + u[1] * v[2] + u[2] * v[3];
    double r2 = u[3] * v[1] + u[4] * v[2] + u[5] * v[3];
    double r3 = u[6] * v[1] + u[7] * v[2] + u[8] * v[3];
    out[1] = r1;
    out[2] = r2;
    out[3] = r3;
}
