// Portable SIMD vectors for the kernels.
//
// Every kernel source is compiled once per instruction set (see meson.build):
// the vector width below follows the flags of that build, and Python picks the
// module matching the CPU at import time. GCC/Clang vector extensions give us
// explicit register blocking without per-ISA intrinsics; with -mfma and
// -ffp-contract=fast, `acc += a * b` becomes one FMA.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define EMFAST_VBYTES 64
#define EMFAST_SIMD_NAME "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define EMFAST_VBYTES 32
#define EMFAST_SIMD_NAME "avx2"
#else
#define EMFAST_VBYTES 16
#if defined(__aarch64__)
#define EMFAST_SIMD_NAME "baseline (neon)"
#elif defined(__x86_64__)
#define EMFAST_SIMD_NAME "baseline (sse2)"
#else
#define EMFAST_SIMD_NAME "baseline"
#endif
#endif

namespace emfast {

typedef double vdouble __attribute__((vector_size(EMFAST_VBYTES)));
typedef float vfloat __attribute__((vector_size(EMFAST_VBYTES)));
typedef int64_t vint64 __attribute__((vector_size(EMFAST_VBYTES)));
typedef uint64_t vuint64 __attribute__((vector_size(EMFAST_VBYTES)));
typedef int32_t vint32 __attribute__((vector_size(EMFAST_VBYTES)));
typedef uint32_t vuint32 __attribute__((vector_size(EMFAST_VBYTES)));

template <class T> struct Simd;
template <> struct Simd<double> {
    using V = vdouble;
    static constexpr int W = EMFAST_VBYTES / 8;
};
template <> struct Simd<float> {
    using V = vfloat;
    static constexpr int W = EMFAST_VBYTES / 4;
};

template <class V, class T> inline V vload(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
}
template <class V, class T> inline void vstore(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }
template <class V, class T> inline V vsplat(T s) { return V{} + s; }
template <class To, class From> inline To vbitcast(From v) {
    static_assert(sizeof(To) == sizeof(From), "bitcast between vectors of one size");
    To t;
    std::memcpy(&t, &v, sizeof(To));
    return t;
}
template <class V> inline V vmax(V a, V b) { return a > b ? a : b; }
template <class V> inline V vmin(V a, V b) { return a < b ? a : b; }

// Horizontal sum by halving (lane i + lane i + W/2 first): a fixed order, done
// with shuffles in registers.
template <class V, size_t... I> inline auto lower_half(V v, std::index_sequence<I...>) {
    return __builtin_shufflevector(v, v, I...);
}
template <class V, size_t... I> inline auto upper_half(V v, std::index_sequence<I...>) {
    return __builtin_shufflevector(v, v, (I + sizeof...(I))...);
}
template <class T, class V> inline T hsum(V v) {
    constexpr size_t n = sizeof(V) / sizeof(T);
    if constexpr (n == 1) {
        return v[0];
    } else {
        constexpr auto half = std::make_index_sequence<n / 2>{};
        return hsum<T>(lower_half(v, half) + upper_half(v, half));
    }
}

// The lanes of a comparison's result as the bits of an integer (bit i: lane i),
// with x86's one-instruction mask extraction where there is one.
template <class M> inline unsigned lane_bits(M m) {
    constexpr int n = int(sizeof(M) / sizeof(m[0]));
#if EMFAST_VBYTES == 32 && defined(__AVX2__)
    if constexpr (n == 4) return unsigned(_mm256_movemask_pd(vbitcast<__m256d>(m)));
    if constexpr (n == 8) return unsigned(_mm256_movemask_ps(vbitcast<__m256>(m)));
#elif EMFAST_VBYTES == 16 && defined(__SSE2__)
    if constexpr (n == 2) return unsigned(_mm_movemask_pd(vbitcast<__m128d>(m)));
    if constexpr (n == 4) return unsigned(_mm_movemask_ps(vbitcast<__m128>(m)));
#endif
    unsigned bits = 0;
    for (int i = 0; i < n; ++i) bits |= unsigned(m[i] != 0) << i;
    return bits;
}

// The lanes where a > b as the bits of an integer (false where either is NaN;
// with AVX-512, one compare into a mask register).
template <class V> inline unsigned greater_bits(V a, V b) {
#if EMFAST_VBYTES == 64
    if constexpr (sizeof(a[0]) == 8)
        return _mm512_cmp_pd_mask(__m512d(a), __m512d(b), _CMP_GT_OQ);
    else
        return _mm512_cmp_ps_mask(__m512(a), __m512(b), _CMP_GT_OQ);
#else
    return lane_bits(a > b);
#endif
}

// Whether a > b in any lane.
template <class V> inline bool any_greater(V a, V b) { return greater_bits(a, b) != 0; }

// Whether a < b in every lane (false where either is NaN).
template <class V> inline bool all_less(V a, V b) {
#if EMFAST_VBYTES == 64
    if constexpr (sizeof(a[0]) == 8)
        return _mm512_cmp_pd_mask(__m512d(a), __m512d(b), _CMP_LT_OQ) == 0xFF;
    else
        return _mm512_cmp_ps_mask(__m512(a), __m512(b), _CMP_LT_OQ) == 0xFFFF;
#else
    constexpr int n = int(sizeof(V) / sizeof(a[0]));
    return lane_bits(a < b) == (1u << n) - 1;
#endif
}

// vexp below this argument (and of -inf) is exactly 0: e^-708 is barely a
// normal double, e^-87 a normal float; smaller results would be subnormal
// (slow arithmetic on every later use). A responsibility whose log-density lies
// this far below its row's largest is therefore exactly 0.
template <class T> constexpr T exp_underflow() { return std::is_same_v<T, float> ? T(-87) : T(-708); }

// exp(r) for |r| <= ln2/2: a polynomial of degree 11 interpolating exp at the
// Chebyshev nodes of that interval (Horner). Relative error below 2e-17 with
// these coefficients rounded to double, as small as Taylor's degree 13.
inline vdouble exp_poly(vdouble r) {
    vdouble p = vsplat<vdouble>(2.5110037605963777e-08);
    p = p * r + 2.763263963904103e-07;
    p = p * r + 2.755724091857897e-06;
    p = p * r + 2.4801485482328494e-05;
    p = p * r + 0.00019841269890047113;
    p = p * r + 0.0013888888952314775;
    p = p * r + 0.008333333333319601;
    p = p * r + 0.0416666666664881;
    p = p * r + 0.1666666666666668;
    p = p * r + 0.5000000000000019;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p;
}

// exp: Cody-Waite reduction to |r| <= ln2/2 and exp_poly (error below 1 ulp).
// Results below the smallest normal number flush to zero, which only matters
// for responsibilities under 1e-308; above 709 the argument is clamped, unless
// the caller knows it is at most 0 (Clamp = false: one instruction less).
template <bool Clamp> inline vdouble vexp_t(vdouble x) {
    // k = round(x / ln2) with one FMA: adding 1.5 * 2^52 rounds to an integer
    const double shifter = 6755399441055744.0;
#if EMFAST_VBYTES == 64
    // AVX-512 scales by 2^k in one instruction and carries NaN through (min
    // returns its second operand then). Below exp_underflow the result is 0 by
    // the mask, which also covers -inf.
    const __m512d lo = _mm512_set1_pd(exp_underflow<double>());
    const __m512d xc = Clamp ? _mm512_min_pd(_mm512_set1_pd(709.0), __m512d(x)) : __m512d(x);
    const __m512d k = _mm512_sub_pd(_mm512_fmadd_pd(xc, _mm512_set1_pd(1.4426950408889634), _mm512_set1_pd(shifter)),
                                    _mm512_set1_pd(shifter));
    __m512d rr = _mm512_fnmadd_pd(k, _mm512_set1_pd(6.93147180369123816490e-01), xc);
    rr = _mm512_fnmadd_pd(k, _mm512_set1_pd(1.90821492927058770002e-10), rr);
    const vdouble p = exp_poly(vdouble(rr));
    // keep lanes not below lo (NaN included: the comparison is unordered-true)
    return vdouble(_mm512_maskz_mov_pd(_mm512_cmp_pd_mask(__m512d(x), lo, _CMP_NLT_UQ), _mm512_scalef_pd(__m512d(p), k)));
#else
    const vdouble lo = vsplat<vdouble>(exp_underflow<double>());
    vdouble xc = vmax(x, lo);
    if constexpr (Clamp) xc = vmin(xc, vsplat<vdouble>(709.0));
    vdouble kf = xc * 1.4426950408889634 + shifter;
    vint64 ki = vbitcast<vint64>(kf) - vbitcast<vint64>(vsplat<vdouble>(shifter));
    kf -= shifter;
    vdouble r = xc - kf * 6.93147180369123816490e-01;
    r = r - kf * 1.90821492927058770002e-10;
    const vdouble p = exp_poly(r);
    vdouble scale = vbitcast<vdouble>((ki + 1023) << 52);
    vdouble y = p * scale;
    y = x < lo ? vdouble{} : y;
    y = x != x ? x : y;  // NaN in, NaN out
    return y;
#endif
}
inline vfloat exp_taylor(vfloat r) {  // degree 7, for float
    vfloat p = vsplat<vfloat>(1.0f / 5040.0f);
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p;
}

template <bool Clamp> inline vfloat vexp_t(vfloat x) {
#if EMFAST_VBYTES == 64
    const __m512 lo = _mm512_set1_ps(exp_underflow<float>());
    const __m512 xl = _mm512_max_ps(lo, __m512(x));
    const __m512 xc = Clamp ? _mm512_min_ps(_mm512_set1_ps(88.0f), xl) : xl;
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 rr = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), xc);
    rr = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), rr);
    const vfloat r = vfloat(rr);
    const vfloat p = exp_taylor(r);
    return vfloat(_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(__m512(x), lo, _CMP_NLT_UQ), _mm512_scalef_ps(__m512(p), k)));
#else
    const vfloat lo = vsplat<vfloat>(exp_underflow<float>());
    vfloat xc = vmax(x, lo);
    if constexpr (Clamp) xc = vmin(xc, vsplat<vfloat>(88.0f));
    const float shifter = 12582912.0f;  // 1.5 * 2^23
    vfloat kf = xc * 1.44269504f + shifter;
    vint32 ki = vbitcast<vint32>(kf) - vbitcast<vint32>(vsplat<vfloat>(shifter));
    kf -= shifter;
    vfloat r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    const vfloat p = exp_taylor(r);
    vfloat scale = vbitcast<vfloat>((ki + 127) << 23);
    vfloat y = p * scale;
    y = x < lo ? vfloat{} : y;
    y = x != x ? x : y;
    return y;
#endif
}

template <class V> inline V vexp(V x) { return vexp_t<true>(x); }
// exp for arguments at most 0 (or NaN), such as log-densities minus their maximum
template <class V> inline V vexp_nonpositive(V x) { return vexp_t<false>(x); }

// 1 / y for positive normal finite y, without the (slow, unpipelined) divider:
// an integer guess within 13 % refined by Newton steps, each squaring the error.
inline vdouble vrecip(vdouble y) {
#if EMFAST_VBYTES == 64
    vdouble r = vdouble(_mm512_rcp14_pd(__m512d(y)));  // within 2^-14
    for (int i = 0; i < 2; ++i) r = r + r * (1.0 - y * r);
#else
    vdouble r = vbitcast<vdouble>(vsplat<vint64>(0x7FDE623822FC16E6ll) - vbitcast<vint64>(y));
    for (int i = 0; i < 5; ++i) r = r + r * (1.0 - y * r);
#endif
    return r;
}
inline vfloat vrecip(vfloat y) {
#if EMFAST_VBYTES == 64
    vfloat r = vfloat(_mm512_rcp14_ps(__m512(y)));
    r = r + r * (1.0f - y * r);
#else
    vfloat r = vbitcast<vfloat>(vsplat<vint32>(0x7EF311C7) - vbitcast<vint32>(y));
    for (int i = 0; i < 3; ++i) r = r + r * (1.0f - y * r);
#endif
    return r;
}

// log(m 2^e) for m within [0.7, 1.5): e log 2 plus the atanh series of
// s = (m - 1) / (m + 1), log m = 2 (s + s^3/3 + s^5/5 + ...).
inline vdouble log_series(vdouble m, vdouble e) {
    const vdouble s = (m - 1.0) * vrecip(m + 1.0), z = s * s;
    vdouble p = vsplat<vdouble>(2.0 / 21.0);
    p = p * z + 2.0 / 19.0;
    p = p * z + 2.0 / 17.0;
    p = p * z + 2.0 / 15.0;
    p = p * z + 2.0 / 13.0;
    p = p * z + 2.0 / 11.0;
    p = p * z + 2.0 / 9.0;
    p = p * z + 2.0 / 7.0;
    p = p * z + 2.0 / 5.0;
    p = p * z + 2.0 / 3.0;
    return e * 6.93147180369123816490e-01 + ((2.0 * s + s * z * p) + e * 1.90821492927058770002e-10);
}

// log for positive normal finite arguments (callers pass sums of exponentials,
// or ratios of sums 1 + exp(-|a|)).
inline vdouble vlog(vdouble x) {
#if EMFAST_VBYTES == 64
    // AVX-512: the exponent in one instruction, and m = x 2^-e in [0.75, 1.5) exactly
    const __m512d e = _mm512_getexp_pd(_mm512_mul_pd(__m512d(x), _mm512_set1_pd(4.0 / 3.0)));
    const vdouble m = vdouble(_mm512_scalef_pd(__m512d(x), _mm512_sub_pd(_mm512_setzero_pd(), e)));
    return log_series(m, vdouble(e));
#else
    // m in [sqrt(1/2), sqrt(2)) from the bits
    vuint64 bits = vbitcast<vuint64>(x);
    vuint64 biased = bits >> 52;
    vdouble m = vbitcast<vdouble>((bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
    // biased exponent as a double without int->double conversion instructions
    vdouble e = vbitcast<vdouble>(biased | 0x4330000000000000ull) - 4503599627370496.0 - 1023.0;
    auto big = m > 1.4142135623730951;
    m = big ? m * 0.5 : m;
    e = big ? e + 1.0 : e;
    return log_series(m, e);
#endif
}

inline vfloat vlog(vfloat x) {
    vuint32 bits = vbitcast<vuint32>(x);
    vint32 biased = vbitcast<vint32>(bits >> 23);
    vfloat m = vbitcast<vfloat>((bits & 0x007FFFFFu) | 0x3F800000u);
    vfloat e = __builtin_convertvector(biased - 127, vfloat);
    auto big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e = big ? e + 1.0f : e;
    vfloat s = (m - 1.0f) * vrecip(m + 1.0f);
    vfloat z = s * s;
    vfloat p = vsplat<vfloat>(2.0f / 9.0f);
    p = p * z + 2.0f / 7.0f;
    p = p * z + 2.0f / 5.0f;
    p = p * z + 2.0f / 3.0f;
    vfloat logm = 2.0f * s + s * z * p;
    return e * 0.693359375f + (logm + e * -2.12194440e-4f);
}

// log(1 + z) for z >= 0, accurate for small z: log(q) z / (q - 1) with q = 1 + z
// corrects the rounding of q (Goldberg); from q = 2 on that rounding does not
// matter. +inf and NaN pass through.
template <class V> inline V vlog1p_nonnegative(V z) {
    using T = std::remove_reference_t<decltype(z[0])>;
    const V q = z + T(1);
    const V lq = vlog(q);
    V out = q > T(2) ? lq : lq * (z * vrecip(q - T(1)));
    out = q == T(1) ? z : out;
    return q < std::numeric_limits<T>::infinity() ? out : q;
}

}  // namespace emfast
