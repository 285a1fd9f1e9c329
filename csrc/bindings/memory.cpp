// Memory plans (see memory.hpp) and their Python functions.
#include "memory.hpp"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "../geometry.hpp"
#include "common.hpp"

namespace py = pybind11;
using emfast::Cov;

namespace emfast_py {

namespace {

// The row-major padding of the kernels in use: their SIMD vector's bytes.
int64_t vector_bytes() {
    try {
        const std::string simd = kernels().simd;
        if (simd.rfind("avx512", 0) == 0) return 64;
        if (simd.rfind("avx2", 0) == 0) return 32;
        return 16;
    } catch (const std::exception&) {
        return 64;  // no kernels yet: the widest
    }
}

int64_t mul(int64_t a, int64_t b) { return checked_mul(a, b, "the memory plan"); }
int64_t add(int64_t a, int64_t b) { return checked_add(a, b, "the memory plan"); }

// Bytes of one thread's rows in a k-means pass with L candidates (csrc/kmeans.cpp ChunkRows).
int64_t kmeans_rows_bytes(int64_t D, int64_t B, int64_t L, int64_t item) {
    // a chunk's copy: feature-major (D rounded up to 4) or row-major (to a whole vector)
    return add(mul(add(mul(emfast::round_up(D, 16), B), mul(L + 1, B)), item), mul(4, B));
}

int64_t threads(int n_threads, int64_t items, double work) {
    emfast::Exec ex;
    ex.n_threads = n_threads;
    return emfast::thread_count(ex, items, work);
}

// What each thread of a pass costs besides its scratch: the pages of its stack
// and of its malloc arena that it touches (measured: about 50 KiB).
constexpr int64_t kThreadBytes = 64 << 10;

// emfast::cov_size in checked arithmetic.
int64_t cov_elems(Cov cov, int64_t K, int64_t D) {
    switch (cov) {
        case Cov::Full: return mul(mul(K, D), D);
        case Cov::Tied: return mul(D, D);
        case Cov::Diag: return mul(K, D);
        default: return K;
    }
}

// The statistics a pass returns (emfast::Stats: S0, S1, S2, centres) in bytes.
int64_t stats_bytes(Cov cov, int64_t K, int64_t D) { return mul(add(add(K, mul(mul(2, K), D)), cov_elems(cov, K, D)), 8); }

}  // namespace

int64_t call_bytes(Call call, int64_t N, int64_t D, int64_t K, Cov cov, int64_t item, int n_threads) {
    if (N < 0 || D < 1 || K < 1) fail("sizes must be positive");
    if (item != 4 && item != 8) fail("itemsize must be 4 or 8");
    if (n_threads < 0 || n_threads > 1024) fail("n_threads must be in [0, 1024] (0: OpenMP's default)");
    // sizes checked against 64 bits before the geometry and the layouts are
    // computed from them (in plain arithmetic)
    const int64_t D16 = add(add(D, 15), 16);
    mul(8, add(mul(K, D16), cov_elems(cov, K, D16)));
    mul(mul(emfast::kMaxChunkRows, add(mul(3, D), K)), 8);
    const emfast::Layout dm(D, cov, vector_bytes() / item);
    const int64_t stats = stats_bytes(cov, K, D);
    const int64_t acc = mul(add(add(3 * K, mul(K, dm.Da)), cov_elems(cov, K, dm.Da)), 8);
    if (call == Call::MStep)  // a copy of the statistics, the result and its NumPy copy
        return add(stats, mul(2, add(mul(add(K, mul(K, D)), 8), mul(2 * 8, cov_elems(cov, K, D)))));
    if (call == Call::KmeansSeeds || call == Call::KmeansLloyd) {
        const emfast::Geometry g = emfast::make_geometry(N, D, K, Cov::Spherical);
        const int64_t nt = threads(n_threads, g.n_blocks, g.work);
        const int64_t L = call == Call::KmeansSeeds ? K : 0;
        const int64_t rows = mul(nt, add(kmeans_rows_bytes(D, g.B, L, item), kThreadBytes));
        if (call == Call::KmeansSeeds)  // the distances to the closest seed, each row's seed and
                                        // candidates (where rows are pruned: 16 bits for up to 7
                                        // candidates), block and chunk sums, candidates
            return add(add(rows, mul(emfast::round_up(N, emfast::kRowQuantum), item + (D * item >= emfast::kPruneSeedingRowBytes ? (K <= 7 ? 2 : 4) : 0))),
                       mul(8, add(add(mul(g.n_blocks, K), g.n_chunks), mul(K, D))));
        // per block 4 interleaved copies of the K x (D + 2) sums, and their total; the rows' gaps
        const int64_t width = add(mul(4, mul(K, D + 2)), 1);
        return add(add(add(rows, mul(8, mul(g.n_blocks + 1, width))), mul(add(mul(K, D), K), 8 + item)),
                   K * D >= emfast::kPruneLloydWork ? mul(4, N) : 0);
    }
    const emfast::Geometry g = emfast::make_geometry(N, D, K, cov);
    emfast::Layout pass = dm;
    if (call == Call::Score) pass.row_major = false;  // as score_pass: no statistics
    pass.scale_weights = call == Call::StudentStatistics;
    const int64_t nt = threads(n_threads, call == Call::Score ? g.n_chunks : g.n_blocks, g.work);
    const int64_t scratch = add(emfast::workspace_size(pass, K, g.B).bytes(item), kThreadBytes);
    const int64_t base = add(emfast::model_bytes(pass, K, item), mul(nt, scratch));
    if (call == Call::Score) return base;
    // each block's statistics and their total; then the total, the Stats made
    // of it, and that Stats' NumPy copy
    const int64_t during = add(base, mul(g.n_blocks + 1, acc));
    return std::max({during, add(add(emfast::model_bytes(dm, K, item), acc), stats), mul(2, stats)});
}

namespace {

int64_t physical_memory() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && int64_t(pages) <= std::numeric_limits<int64_t>::max() / int64_t(page))
        return int64_t(pages) * int64_t(page);
#endif
    return 0;
}

// A limit read from a cgroup file: a number of bytes, or 0 ("max", absent,
// or the huge number cgroup v1 means "unlimited" by).
int64_t read_limit(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    if (!(f >> s) || s == "max") return 0;
    try {
        const long double v = std::stold(s);
        return v > 0 && v < 4e18L ? int64_t(v) : 0;
    } catch (const std::exception&) {
        return 0;
    }
}

// The tightest memory limit of the cgroups (v2: memory.max; v1:
// memory.limit_in_bytes) on the path from this process's cgroup (as
// /proc/self/cgroup gives it, `cgroup_file`) up to the root `root`; 0 if none.
int64_t cgroup_limit(const std::string& cgroup_file, const std::string& root) {
    std::ifstream f(cgroup_file);
    std::string line;
    int64_t best = 0;
    auto take = [&](int64_t v) { best = v > 0 && (best == 0 || v < best) ? v : best; };
    while (std::getline(f, line)) {
        // "hierarchy-ID:controllers:path"; v2 has ID 0 and no controllers
        const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1);
        std::string path = line.substr(b + 1), dir, file;
        if (controllers.empty()) {
            dir = root, file = "memory.max";
        } else {
            std::stringstream list(controllers);
            std::string c;
            bool memory = false;
            while (std::getline(list, c, ',')) memory = memory || c == "memory";
            if (!memory) continue;
            dir = root + "/memory", file = "memory.limit_in_bytes";
        }
        while (true) {  // this cgroup and its ancestors
            take(read_limit(dir + path + (path.empty() || path.back() == '/' ? "" : "/") + file));
            if (path.empty() || path == "/") break;
            path = path.substr(0, path.find_last_of('/'));
        }
    }
    return best;
}

// RLIMIT_AS less the address space in use (0: no limit).
int64_t address_space_left() {
#if defined(__unix__) || defined(__APPLE__)
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    int64_t used = 0;
    std::ifstream statm("/proc/self/statm");
    long pages = 0;
    if (statm >> pages) used = int64_t(pages) * int64_t(sysconf(_SC_PAGESIZE));
    const int64_t left = int64_t(rl.rlim_cur) - used;
    return std::max<int64_t>(left, 1);
#else
    return 0;
#endif
}

}  // namespace

std::string gib(int64_t bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g GiB", double(bytes) / double(int64_t(1) << 30));
    return buf;
}

int64_t memory_limit() {
    int64_t best = 0;
    for (int64_t v : {physical_memory(), cgroup_limit("/proc/self/cgroup", "/sys/fs/cgroup"), address_space_left()})
        if (v > 0 && (best == 0 || v < best)) best = v;
    return best;
}

void check_memory(int64_t bytes, const std::string& what) {
    // Reading the limits takes a dozen system calls: more than a small pass
    // (a mini-batch's) costs. A request this small is not what the check is for.
    constexpr int64_t kSmallRequest = int64_t(16) << 20;
    if (bytes <= kSmallRequest) return;
    const int64_t limit = memory_limit();
    if (limit > 0 && bytes > limit) {
        PyErr_SetString(PyExc_MemoryError,
                        ("emfast would need at least " + gib(bytes) + " for " + what + ", more than the " + gib(limit) +
                         " this process may use: reduce n_components, n_features or n_samples")
                            .c_str());
        throw py::error_already_set();
    }
}

void check_call(Call call, int64_t N, int64_t D, int64_t K, Cov cov, int64_t item, int n_threads, int64_t extra) {
    const int64_t bytes = add(call_bytes(call, N, D, K, cov, item, n_threads), extra);
    check_memory(bytes, "n_samples=" + std::to_string(N) + ", n_features=" + std::to_string(D) +
                            ", n_components=" + std::to_string(K) + ", covariance_type='" + emfast::cov_name(cov) +
                            "'");
}

}  // namespace emfast_py

void register_memory(py::module_& m) {
    using namespace emfast_py;
    m.def(
        "call_memory",
        [](const std::string& call, int64_t n_samples, int64_t n_features, int64_t n_components,
           const std::string& covariance_type, int64_t itemsize, int n_threads) {
            static const std::pair<const char*, Call> names[] = {
                {"statistics", Call::Statistics}, {"score", Call::Score}, {"kmeans_seeds", Call::KmeansSeeds},
                {"kmeans_lloyd", Call::KmeansLloyd}, {"m_step", Call::MStep}};
            for (const auto& [name, c] : names)
                if (call == name)
                    return call_bytes(c, n_samples, n_features, n_components, emfast::parse_cov(covariance_type),
                                      itemsize, n_threads);
            fail("unknown call '" + call + "'");
        },
        py::arg("call"), py::arg("n_samples"), py::arg("n_features"), py::arg("n_components"),
        py::arg("covariance_type"), py::arg("itemsize") = 8, py::arg("n_threads") = 0,
        "Bytes one kernel call ('statistics', 'score', 'kmeans_seeds', 'kmeans_lloyd', 'm_step') allocates "
        "at its peak; ValueError if a size overflows 64 bits.");
    m.def(
        "check_memory", [](int64_t bytes, const std::string& what) { check_memory(bytes, what); }, py::arg("bytes"),
        py::arg("what"), "MemoryError if bytes exceed memory_limit().");
    m.def("memory_limit", &memory_limit,
          "The bytes this process may use: the tightest of physical memory, its cgroup's memory limit (v1 or v2) "
          "and RLIMIT_AS less the address space in use (0: unknown).");
    m.def("_cgroup_limit", &cgroup_limit, py::arg("cgroup_file"), py::arg("root"),
          "The tightest cgroup memory limit for the cgroups listed in cgroup_file under root (0: none); for tests.");
}
