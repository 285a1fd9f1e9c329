// Numbers the kernels and the Python layer share, defined once here; the
// bindings export them (emfast._core.HALF_LOG_2PI, ...).
#pragma once

#include <cstdint>
#include <limits>

namespace emfast {

// log(2 pi) / 2: the Gaussian log-density's constant per dimension.
constexpr double kHalfLog2Pi = 0.91893853320467274178;

// scikit-learn adds 10 eps to every component's weight (n_k) so that no
// division is by zero; so do the M-step and the initialisation.
constexpr double kWeightEps = 10.0 * std::numeric_limits<double>::epsilon();

// Rows per chunk of a pass: at most this many (fewer for wide rows or many
// components, so that a chunk's working set stays in L2), at least kMinChunkRows
// (a pass reads the model once a chunk), except for rows so wide that the
// chunk's copies of that many rows would take more than kWideChunkBytes: those
// copies are fresh pages every pass, and for a few rows (100 x 16 384) they
// would be larger than X itself.
constexpr int64_t kMaxChunkRows = 256;
constexpr int64_t kMinChunkRows = 64;
constexpr int64_t kWideChunkBytes = int64_t(4) << 20;
// Chunks of fewer rows (X has fewer) are whole multiples of this: the widest
// SIMD vector (16 floats), which every loop over a chunk's rows steps by.
constexpr int64_t kRowQuantum = 16;

// k-means skips rows the triangle inequality proves unchanged (csrc/kmeans.cpp)
// where reading or labelling a row costs more than the bookkeeping: seeding for
// rows of at least this many bytes, Lloyd for K * D at least this.
constexpr int64_t kPruneSeedingRowBytes = 128;
constexpr int64_t kPruneLloydWork = 128;
// k-means++ seeding reads rows of at least this many bytes in place, row-major
// (no transposed copy: where X is larger than the caches, the passes are bound
// by memory traffic); shorter rows through the feature-major copy.
constexpr int64_t kRowMajorSeedingBytes = 256;

// The smallest variance (Cholesky pivot) a model keeps: its precision (1e301)
// and sums of up to 10^7 such products stay finite in float64. Below it, jitter.
constexpr double kMinVariance = 1e-301;

}  // namespace emfast
