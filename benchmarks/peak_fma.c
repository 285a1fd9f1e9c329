/* Peak double-precision multiply-add rate of this machine, all cores.
 * Built by compare.py with -O2 -march=native -fopenmp (GCC or Clang); prints
 * multiply-adds per second. */
#include <omp.h>
#include <stdio.h>

#if defined(__AVX512F__)
#define BYTES 64
#elif defined(__AVX__)
#define BYTES 32
#else
#define BYTES 16
#endif
typedef double vec __attribute__((vector_size(BYTES)));
#define LANES (BYTES / 8)
#define CHAINS 12 /* independent accumulators: enough to hide the FMA latency */

int main(void) {
    const long iters = 100000000;
    double total = 0.0;
    double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : total)
    {
        vec a0 = {0}, a1 = a0 + 1e-9, a2 = a0 + 2e-9, a3 = a0 + 3e-9, a4 = a0 + 4e-9, a5 = a0 + 5e-9;
        vec a6 = a0 + 6e-9, a7 = a0 + 7e-9, a8 = a0 + 8e-9, a9 = a0 + 9e-9, a10 = a0 + 1e-8, a11 = a0 + 2e-8;
        const vec b = a0 + 0.999999, d = a0 + 1e-9;
        for (long it = 0; it < iters / CHAINS; ++it) {
            a0 = a0 * b + d, a1 = a1 * b + d, a2 = a2 * b + d, a3 = a3 * b + d;
            a4 = a4 * b + d, a5 = a5 * b + d, a6 = a6 * b + d, a7 = a7 * b + d;
            a8 = a8 * b + d, a9 = a9 * b + d, a10 = a10 * b + d, a11 = a11 * b + d;
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
        }
        vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
        for (int l = 0; l < LANES; ++l) total += s[l];
    }
    double seconds = omp_get_wtime() - t0;
    double fmas = (double)omp_get_max_threads() * (iters / CHAINS) * CHAINS * LANES;
    printf("%.6g %g\n", fmas / seconds, total);
    return 0;
}
