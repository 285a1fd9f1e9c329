// The shape of a pass, and what it allocates: the geometry of its chunks and
// blocks, the layouts of a chunk's rows, and the sizes of its per-thread
// scratch and per-block statistics. No SIMD here: the bindings include it to
// plan a pass's memory from the same numbers the kernels allocate by.
#pragma once

#include <algorithm>
#include <cstdint>

#include "constants.hpp"
#include "core.hpp"

namespace emfast {

inline int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

// ---------------------------------------------------------------- geometry

// Fixed by (N, D, K, covariance type) only: never by the thread count or the
// instruction set, so that results are the same whatever runs them.
// Chunks are grouped into contiguous blocks; a block's statistics are summed
// in chunk order by whichever thread takes it, and the blocks are added in
// block order at the end. Threads never wait on each other inside a pass (a
// thread the OS parks only delays the block it holds).
struct Geometry {
    int64_t n = 0, B = 0, n_chunks = 0, n_blocks = 0;
    double work = 0.0;  // rough count of floating-point operations in a pass
    int64_t chunk_begin(int64_t c) const { return c * B; }
    int64_t chunk_rows(int64_t c) const { return std::min(B, n - c * B); }
    int64_t block_begin(int64_t b) const { return b * n_chunks / n_blocks; }  // first chunk of block b
};

inline Geometry make_geometry(int64_t n, int64_t D, int64_t K, Cov cov) {
    Geometry g;
    g.n = n;
    // keep the chunk's working set (two layouts of x, a centred copy, K
    // log-densities) within about 256 KiB, i.e. in L2
    int64_t B = kMaxChunkRows;
    while (B > kMinChunkRows && B * (3 * D + K) * 8 > (256 << 10)) B /= 2;
    while (B > kRowQuantum && B * 3 * D * 8 > kWideChunkBytes) B /= 2;
    // and no more rows than X has, in whole vectors: a few wide rows (10 of a
    // million features) are not padded to 64 (the padding rows are zeros that
    // add nothing, so results are the same)
    g.B = std::min(B, round_up(std::max<int64_t>(n, 1), kRowQuantum));
    g.n_chunks = (n + g.B - 1) / g.B;
    // blocks of at least 4 chunks, up to 64 of them (enough for 64 threads to
    // balance), fewer when their statistics would take more than 16 MiB in all
    const int64_t stats_bytes = 8 * (K * (D + 1) + s2_size(cov, K, round_up(D, 16))) + 1;
    const int64_t by_memory = std::max<int64_t>(8, (16 << 20) / stats_bytes);
    g.n_blocks = std::max<int64_t>(1, std::min({(g.n_chunks + 3) / 4, int64_t(64), by_memory}));
    // multiply-adds per row, roughly: what decides whether threads pay off
    const double per_row = cov == Cov::Full ? double(K) * D * (D + 1)
                           : cov == Cov::Tied ? double(K) * D * (D + 1) / 2 + double(D) * D
                                              : 4.0 * K * D;
    g.work = double(n) * (per_row + 30.0 * K);
    return g;
}

// ---------------------------------------------------------------- layouts

// Feature counts of a chunk's two layouts, for SIMD vectors of W elements.
struct Layout {
    Cov cov = Cov::Full;
    int64_t D = 0;
    int64_t Ds = 0;  // feature-major rows: D rounded up to 4 (the SoA tiles)
    int64_t Da = 0;  // row-major row length: D rounded up to a whole vector
    int64_t Dm = 0;  // padding of centres: max(Ds, Da)
    bool row_major = false;  // whether chunks also get the row-major copy xa
    bool scale_weights = false;  // whether chunks need the Student-t scale weights (Workspace::U)
    Layout(int64_t d, Cov c, int64_t W) : cov(c), D(d), Ds(round_up(d, 4)), Da(round_up(d, W)) {
        Dm = std::max(Ds, Da);
        // Full and tied statistics use rows when few rows carry a component
        // (FullKernel::accumulate decides per component); diag and spherical
        // only with several vectors per row and little padding (with one vector,
        // the columns of xt do as well even when every row is summed).
        if (cov == Cov::Full || cov == Cov::Tied)
            row_major = d > 4;
        else
            row_major = 2 * Da <= 3 * D && Da >= 2 * W;
    }
    // Whether chunks need the D x B scratch of full and tied statistics (the
    // scoring passes turn row_major off: they accumulate nothing).
    bool matrix_scratch() const { return (cov == Cov::Full || cov == Cov::Tied) && (row_major || D <= 4); }
};

// Elements of one thread's scratch (Workspace<T>): sized to the layout and to
// what the covariance type's kernels use.
struct WorkspaceSize {
    int64_t xt, xa, L, w, tot, d, rd, s1, U, rows, dbuf;
    int64_t bytes(int64_t item) const {
        return (xt + xa + L + w + tot + d + rd + s1 + U) * item + rows * 4 + dbuf * 8;
    }
};

inline WorkspaceSize workspace_size(const Layout& dm, int64_t K, int64_t B) {
    const int64_t scratch = dm.matrix_scratch() ? dm.Dm * B : 0;
    return WorkspaceSize{dm.Ds * B, dm.row_major ? B * dm.Da : 0, K * B, B, B, scratch,
                         std::max(scratch, B),  // rd is also the E-step's B maxima
                         2 * dm.Dm, dm.scale_weights ? 2 * K * B : 0, B, dm.Dm};
}

// Doubles of one block's statistics (Acc): S0, S1 and S2 with padded rows,
// and the Student-t sums (resp, log_scale).
inline int64_t acc_size(Cov cov, int64_t K, int64_t Da) { return 3 * K + K * Da + s2_size(cov, K, Da); }

// Bytes of the model in the working type (Model<T>, item bytes an element).
inline int64_t model_bytes(const Layout& dm, int64_t K, int64_t item) {
    const int64_t D = dm.D;
    int64_t P = 0;
    switch (dm.cov) {
        case Cov::Full: P = K * D * D; break;
        case Cov::Tied: P = D * D; break;
        case Cov::Diag: P = 2 * K * dm.Dm; break;  // and m P
        case Cov::Spherical: P = K; break;
    }
    return (K * dm.Dm + P + K + dm.Dm + D) * item + K * D * 8;
}

}  // namespace emfast
