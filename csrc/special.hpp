// Special functions the variational mixture needs (scipy.special's, in C++).
#pragma once

#include <cmath>
#include <limits>

namespace emfast {

// The digamma function psi(x) = d/dx log Gamma(x), as scipy.special.digamma
// computes it (Cephes' scheme): relative error under 1e-15 for x > 0.
//
// - x < 0: the reflection psi(x) = psi(1 - x) - pi / tan(pi x), with pi x
//   taken from x's fraction (tan of a large pi x would lose it); NaN at the
//   poles (non-positive integers), psi(+-0) = -+inf.
// - x in (0, 1): psi(x) = psi(x + 1) - 1 / x; x in (2, 10]: down to [1, 2]
//   by psi(x + 1) = psi(x) + 1 / x (terms of one sign: no cancellation).
// - x in [1, 2]: the Taylor series about the positive root x0 = 1.4616...,
//   psi(x) = sum_n c_n t^n, t = x - x0, c_n = (-1)^(n+1) zeta(n + 1, x0) (the
//   Hurwitz zeta function; computed with mpmath at 60 digits): relative
//   accuracy near the root, where psi(x) -> 0 and a difference of two
//   rounded terms would be all error. |t| / x0 <= 0.37 on [1, 2]: 40 terms.
// - x > 10: the asymptotic series log x - 1 / (2x) - sum_n B_2n / (2n x^2n),
//   whose first omitted term is below 5e-17 there.
inline double digamma(double x) {
    constexpr double kPi = 3.14159265358979323846;
    // x0 as a sum of two doubles: t = (x - kRootHi) - kRootLo is exact to
    // rounding (the first difference is exact for x in [1, 2])
    constexpr double kRootHi = 1.4616321449683622;
    constexpr double kRootLo = 9.549995429965697e-17;
    static constexpr double kRoot[40] = {
        0.9676722454476212,     -0.4427631689835921,     0.258499760955651,       -0.16394270544240652,
        0.10782405069126237,    -0.07219956125645471,    0.04880428816414311,     -0.03316112647484736,
        0.022597648232218104,   -0.01542476590494896,    0.010538791616612175,    -0.007204534386356869,
        0.004926781395729853,   -0.003369801655439328,   0.002305126326734928,    -0.0015769367714301972,
        0.0010788252019162967,  -0.0007380709389960052,  0.000504953265834602,    -0.0003454680251063077,
        0.00023635601564027053, -0.00016170622091974803, 0.0001106337276874741,   -7.569179582195066e-05,
        5.178575795222081e-05,  -3.5430070947659604e-05, 2.424006611860132e-05,   -1.6584242271854135e-05,
        1.134638458466385e-05,  -7.762817668462094e-06,  5.3110609208898636e-06,  -3.6336507898010456e-06,
        2.486022733129538e-06,  -1.7008538854332607e-06, 1.1636675363548843e-06,  -7.96142543124197e-07,
        5.446941930669446e-07,  -3.7266161283438227e-07, 2.549626552021554e-07,   -1.7443695117727745e-07,
    };
    // B_2n / (2n), n = 1..7
    static constexpr double kAsymptotic[7] = {
        1.0 / 12.0, -1.0 / 120.0, 1.0 / 252.0, -1.0 / 240.0, 1.0 / 132.0, -691.0 / 32760.0, 1.0 / 12.0,
    };
    if (std::isnan(x)) return x;
    if (x == std::numeric_limits<double>::infinity()) return x;
    if (x == 0.0) return std::copysign(std::numeric_limits<double>::infinity(), -x);
    double y = 0.0;
    if (x < 0.0) {
        if (x == std::floor(x)) return std::numeric_limits<double>::quiet_NaN();  // a pole (or -inf)
        double whole;
        const double fraction = std::modf(x, &whole);
        y = -kPi / std::tan(kPi * fraction);
        x = 1.0 - x;
    }
    if (x < 1.0) {
        y -= 1.0 / x;
        x += 1.0;
    }
    if (x <= 10.0) {
        while (x > 2.0) {
            x -= 1.0;  // exact
            y += 1.0 / x;
        }
        const double t = (x - kRootHi) - kRootLo;
        double p = kRoot[39];
        for (int n = 38; n >= 0; --n) p = p * t + kRoot[n];
        return y + t * p;
    }
    const double z = 1.0 / (x * x);  // 0 once x * x overflows: the series is then nothing
    double s = kAsymptotic[6];
    for (int n = 5; n >= 0; --n) s = s * z + kAsymptotic[n];
    return y + (std::log(x) - 0.5 / x - z * s);
}

}  // namespace emfast
