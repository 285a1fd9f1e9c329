// pybind11 bindings: check every array at the boundary, release the GIL, call
// the kernels of the instruction set chosen at import (emfast._native) through
// their table (csrc/kernels.hpp). Built once, as emfast._core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>


#include "../constants.hpp"
#include "../core.hpp"
#include "common.hpp"
#include "memory.hpp"

#ifndef EMFAST_COMPILER
#define EMFAST_COMPILER "unknown"
#endif

namespace py = pybind11;
using emfast::Cov;
using emfast_py::fail;
using emfast_py::kernels;
using emfast_py::python_exec;
using emfast_py::without_gil;
using emfast_py::Call;
using emfast_py::check_call;
using emfast_py::checked_add;
using emfast_py::checked_mul;
using Array = py::array;
using F64 = py::array_t<double, py::array::c_style>;
void register_bp(py::module_& m);      // csrc/bindings/bp.cpp
void register_memory(py::module_& m);  // csrc/bindings/memory.cpp

namespace {

const emfast::KernelTable* g_kernels = nullptr;

void use_kernels(const py::capsule& table) {
    auto* t = static_cast<const emfast::KernelTable*>(table.get_pointer());
    if (!t || t->abi != emfast::kKernelAbi || t->sizeof_stats != sizeof(emfast::Stats) ||
        t->sizeof_exec != sizeof(emfast::Exec))
        throw py::import_error("emfast: the kernel module does not match emfast._core (rebuild emfast)");
    g_kernels = t;
}

// 4 for native float32, 8 for native float64, 0 otherwise (dtype objects are
// not unique, so compare their properties rather than their identity).
int float_size(const py::dtype& dt) {
    const char order = dt.byteorder();
    const bool native = order == '=' || order == '|' ||
                        (order == '<') == (py::module_::import("sys").attr("byteorder").cast<std::string>() == "little");
    if (dt.kind() != 'f' || !native) return 0;
    return dt.itemsize() == 4 || dt.itemsize() == 8 ? int(dt.itemsize()) : 0;
}

int64_t item_of(const emfast::Data& d) { return d.is_float ? 4 : 8; }

// An F64 whose doubles may be read as such: NumPy's C-contiguous float64 may
// start at any address (a view into a byte buffer), where a double load is
// undefined; such an array is copied.
F64 aligned(const F64& a) {
    if (reinterpret_cast<uintptr_t>(a.data()) % alignof(double) == 0) return a;
    F64 copy(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
    std::memcpy(copy.mutable_data(), a.data(), size_t(a.nbytes()));
    return copy;
}

// ---------------------------------------------------------------- values

bool all_finite(const double* p, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(p[i])) return false;
    return true;
}

void check_finite(const F64& a, const char* name) {
    if (!all_finite(a.data(), a.size())) fail(std::string(name) + " contains NaN or infinity");
}

// Numerical failures of the kernels (a covariance that cannot be made positive
// definite, a non-finite variance) come from the values given: ValueError.
template <class F> auto numerical(const char* what, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const std::runtime_error& e) {
        throw std::invalid_argument(std::string(what) + ": " + e.what() +
                                    " (the data's values may be too large or too small to be represented; "
                                    "rescale X)");
    }
}

// X: a 2-D float32/float64 array, strides whole numbers of elements, at any address.
emfast::Data as_data(const Array& X) {
    if (X.ndim() != 2) fail("X must be a 2-D array");
    emfast::Data d;
    const int size = float_size(X.dtype());
    if (size == 0) fail("X must be float32 or float64");
    d.is_float = size == 4;
    const int64_t item = d.is_float ? 4 : 8;
    d.n = X.shape(0);
    d.d = X.shape(1);
    if (d.n < 1 || d.d < 1) fail("X must have at least one row and one column");
    checked_mul(d.n, d.d, "X");
    // the stride of a dimension of length 1 is never used (NumPy may leave it arbitrary)
    const int64_t rs = d.n == 1 ? 0 : X.strides(0), cs = d.d == 1 ? 0 : X.strides(1);
    if (rs % item || cs % item) fail("X strides must be multiples of its item size");
    // any address: the kernels read misaligned rows byte-wise (csrc/chunk.hpp gather)
    d.row_stride = rs / item;
    d.col_stride = cs / item;
    d.ptr = X.data();
    return d;
}

// Sample weights: None, or n finite non-negative numbers (converted to float64).
const double* as_weights(const py::object& o, int64_t n, F64& keep) {
    if (o.is_none()) return nullptr;
    keep = F64::ensure(o);
    if (!keep || keep.ndim() != 1 || keep.shape(0) != n)
        fail("sample_weight must be a float64 array of shape (" + std::to_string(n) + ",)");
    const double* w = keep.data();
    for (int64_t i = 0; i < n; ++i)
        if (!(w[i] >= 0.0) || !std::isfinite(w[i])) fail("sample_weight must be finite and non-negative");
    return w;
}

void check_shape(const F64& a, std::initializer_list<int64_t> shape, const char* name) {
    bool ok = a.ndim() == int64_t(shape.size());
    int i = 0;
    for (int64_t s : shape) ok = ok && a.shape(i++) == s;
    if (!ok) fail(std::string(name) + " has the wrong shape");
}

struct ParamArrays {
    F64 log_weights, means, prec_chol;
    emfast::Params p;
    F64 dofs;
};

ParamArrays as_params(const F64& log_weights, const F64& means, const F64& prec_chol, const std::string& cov,
                      int64_t D) {
    ParamArrays a{log_weights, means, prec_chol, {}};
    a.p.cov = emfast::parse_cov(cov);
    if (means.ndim() != 2 || means.shape(1) != D) fail("means must have shape (n_components, n_features)");
    const int64_t K = means.shape(0);
    if (K < 1) fail("n_components must be at least 1");
    check_shape(log_weights, {K}, "log_weights");
    switch (a.p.cov) {
        case Cov::Full: check_shape(prec_chol, {K, D, D}, "precisions_cholesky"); break;
        case Cov::Tied: check_shape(prec_chol, {D, D}, "precisions_cholesky"); break;
        case Cov::Diag: check_shape(prec_chol, {K, D}, "precisions_cholesky"); break;
        case Cov::Spherical: check_shape(prec_chol, {K}, "precisions_cholesky"); break;
    }
    // log weights may be -inf (a component of weight 0), never NaN or +inf;
    // means and precision factors finite, the factors' diagonals positive
    for (int64_t k = 0; k < K; ++k)
        if (std::isnan(log_weights.data()[k]) || log_weights.data()[k] == std::numeric_limits<double>::infinity())
            fail("log_weights must be < +inf and not NaN");
    check_finite(means, "means");
    check_finite(prec_chol, "precisions_cholesky");
    const double* pc = prec_chol.data();
    bool positive = true;
    switch (a.p.cov) {
        case Cov::Full:
            for (int64_t k = 0; k < K; ++k)
                for (int64_t i = 0; i < D; ++i) positive = positive && pc[(k * D + i) * D + i] > 0.0;
            break;
        case Cov::Tied:
            for (int64_t i = 0; i < D; ++i) positive = positive && pc[i * D + i] > 0.0;
            break;
        default:
            for (int64_t i = 0; i < prec_chol.size(); ++i) positive = positive && pc[i] > 0.0;
    }
    if (!positive) fail("precisions_cholesky must have a positive diagonal");
    a.p.K = K;
    a.p.D = D;
    a.p.log_weights = log_weights.data();
    a.p.means = means.data();
    a.p.prec_chol = prec_chol.data();
    return a;
}

// Student-t degrees of freedom: None (Gaussian components) or K finite positive numbers.
void set_dofs(ParamArrays& a, const py::object& dofs) {
    if (dofs.is_none()) return;
    a.dofs = F64::ensure(dofs);
    if (!a.dofs || a.dofs.ndim() != 1 || a.dofs.shape(0) != a.p.K)
        fail("dofs must be a float64 array of shape (n_components,)");
    for (int64_t k = 0; k < a.p.K; ++k)
        if (!(a.dofs.data()[k] > 0.0) || !std::isfinite(a.dofs.data()[k])) fail("dofs must be finite and positive");
    a.p.dofs = a.dofs.data();
}

// emfast._stats.nearest_zero's reduction: the shift of a pass, per column the entry
// of smallest magnitude (one pass over the rows; NumPy's needs four over small
// arrays), over the n rows of d values at p whose `use` is true (all, if use is null).
std::vector<double> nearest_zero_of(const double* p, int64_t n, int64_t d, const std::vector<bool>* use = nullptr) {
    std::vector<double> best(size_t(d), std::numeric_limits<double>::infinity());
    std::vector<char> positive(size_t(d), 0), nan(size_t(d), 0);
    for (int64_t i = 0; i < n; ++i) {
        if (use && !(*use)[size_t(i)]) continue;
        const double* row = p + i * d;
        for (int64_t j = 0; j < d; ++j) {
            const double x = row[j], a = std::fabs(x);
            if (std::isnan(x)) {
                nan[size_t(j)] = 1;
            } else if (a < best[size_t(j)]) {
                best[size_t(j)] = a;
                positive[size_t(j)] = x == a;
            } else if (a == best[size_t(j)] && x == a) {
                positive[size_t(j)] = 1;
            }
        }
    }
    for (int64_t j = 0; j < d; ++j)
        best[size_t(j)] = nan[size_t(j)] ? std::numeric_limits<double>::quiet_NaN()
                          : positive[size_t(j)] ? best[size_t(j)] : -best[size_t(j)];
    return best;
}

F64 nearest_zero(const F64& given) {
    if (given.ndim() != 2 || given.shape(0) < 1) fail("nearest_zero: points must be 2-D with at least one row");
    const F64 points = aligned(given);
    const std::vector<double> best = nearest_zero_of(points.data(), points.shape(0), points.shape(1));
    F64 out(points.shape(1));
    std::copy(best.begin(), best.end(), out.mutable_data());
    return out;
}

// NumPy's legacy RandomState.choice(n, p=w / total) for scikit-learn's first
// k-means++ seed (emfast._kmeans.first_seed), in O(1) memory: p_i = w_i / total
// in the data's dtype (w: ones if None), then float64. Without u, the Kahan sum
// of p that choice checks; with u, the index choice returns: cdf = cumsum(p)
// (sequential), cdf /= cdf[-1], cdf.searchsorted(u, side="right").
template <class T> double choice_p(const double* w, int64_t i, T total) {
    return double((w ? T(w[i]) : T(1)) / total);
}

template <class T> py::object choice_sweep(const double* w, int64_t n, T total, const py::object& u_obj) {
    if (u_obj.is_none()) {  // numpy.random's kahan_sum
        double sum = choice_p(w, 0, total), c = 0.0;
        for (int64_t i = 1; i < n; ++i) {
            const double y = choice_p(w, i, total) - c, t = sum + y;
            c = (t - sum) - y;
            sum = t;
        }
        return py::float_(sum);
    }
    const double u = u_obj.cast<double>();
    if (!(u >= 0.0 && u < 1.0)) fail("choice_sweep: u must be in [0, 1)");
    double last = 0.0;
    for (int64_t i = 0; i < n; ++i) last += choice_p(w, i, total);
    double cdf = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        cdf += choice_p(w, i, total);
        if (cdf / last > u) return py::int_(i);
    }
    return py::int_(n - 1);  // not reached: the last is cdf[-1] / cdf[-1] = 1 > u
}

py::object choice_sweep_checked(const py::object& sample_weight, int64_t n, double total, bool float32,
                                const py::object& u) {
    if (n < 1) fail("choice_sweep: n must be positive");
    F64 keep;
    const double* w = nullptr;
    if (!sample_weight.is_none()) {
        keep = F64::ensure(sample_weight);
        if (!keep || keep.ndim() != 1 || keep.shape(0) != n) fail("choice_sweep: sample_weight must have shape (n,)");
        w = keep.data();
        for (int64_t i = 0; i < n; ++i)  // (and a float32 cast of each is defined)
            if (!(w[i] >= 0.0) || w[i] > (float32 ? double(std::numeric_limits<float>::max()) : HUGE_VAL))
                fail("choice_sweep: sample_weight must be non-negative and within the dtype's range");
    }
    if (!(total > 0.0) || !std::isfinite(total)) fail("choice_sweep: total must be finite and positive");
    if (float32) {
        if (float(total) != total) fail("choice_sweep: a float32 total must be a float32 value");
        return choice_sweep<float>(w, n, float(total), u);
    }
    return choice_sweep<double>(w, n, total, u);
}

// The mean over the columns of a 2-D float64 array of their variances (two
// passes: the column means, then the squared deviations from them): the unit of
// the jitter (emfast._data.ArrayData.scale), NaN for no rows.
double mean_column_variance(const F64& given) {
    if (given.ndim() != 2 || given.shape(1) < 1) fail("mean_column_variance: rows must be 2-D with a column");
    const F64 rows = aligned(given);
    const py::ssize_t n = rows.shape(0), d = rows.shape(1);
    if (n == 0) return std::numeric_limits<double>::quiet_NaN();
    std::vector<double> mean(d, 0.0), var(d, 0.0);
    const double* x = rows.data();
    for (py::ssize_t i = 0; i < n; ++i)
        for (py::ssize_t j = 0; j < d; ++j) mean[j] += x[i * d + j];
    for (py::ssize_t j = 0; j < d; ++j) mean[j] /= double(n);
    for (py::ssize_t i = 0; i < n; ++i)
        for (py::ssize_t j = 0; j < d; ++j) {
            const double dev = x[i * d + j] - mean[j];
            var[j] += dev * dev;
        }
    double total = 0.0;
    for (py::ssize_t j = 0; j < d; ++j) total += var[j] / double(n);
    return total / double(d);
}

// How many different values an int32 array of labels in [0, n_labels) holds.
int64_t count_distinct(const py::array_t<int32_t, py::array::c_style>& labels, int64_t n_labels) {
    if (labels.ndim() != 1) fail("count_distinct: labels must be 1-D");
    if (n_labels < 0) fail("count_distinct: n_labels must be non-negative");
    std::vector<char> seen(size_t(n_labels), 0);
    const int32_t* l = labels.data();
    int64_t distinct = 0;
    for (py::ssize_t i = 0; i < labels.shape(0); ++i) {
        if (l[i] < 0 || l[i] >= n_labels) fail("count_distinct: a label is outside [0, n_labels)");
        distinct += !seen[size_t(l[i])];
        seen[size_t(l[i])] = 1;
    }
    return distinct;
}

// Whether every value of every array is finite (one call for a model's arrays).
bool all_finite_arrays(const std::vector<F64>& arrays) {
    for (const F64& a : arrays)
        if (!all_finite(a.data(), a.size())) return false;
    return true;
}

py::array_t<double> to_numpy(const std::vector<double>& v, std::vector<py::ssize_t> shape) {
    py::array_t<double> a(shape);
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

std::vector<py::ssize_t> cov_shape(Cov cov, int64_t K, int64_t D) {
    switch (cov) {
        case Cov::Full: return {K, D, D};
        case Cov::Tied: return {D, D};
        case Cov::Diag: return {K, D};
        default: return {K};
    }
}

// What emfast._stats.Stats.is_finite tests, without a NumPy call per array.
// Whether a pass's statistics are finite, centres included (a float32 pass
// rounds a far centre, a means_init of 1e200, to inf), as Stats.is_finite.
bool stats_finite(const emfast::Stats& s) {
    bool finite = std::isfinite(s.loglik) && std::isfinite(s.weight);
    for (const auto* v : {&s.s0, &s.s1, &s.s2, &s.centers, &s.resp, &s.log_scale})
        finite = finite && all_finite(v->data(), int64_t(v->size()));
    return finite;
}

py::dict stats_to_dict(const emfast::Stats& s) {
    py::dict d;
    d["s0"] = to_numpy(s.s0, {s.K});
    d["s1"] = to_numpy(s.s1, {s.K, s.D});
    d["s2"] = to_numpy(s.s2, cov_shape(s.cov, s.K, s.D));
    d["centers"] = to_numpy(s.centers, {s.K, s.D});
    d["loglik"] = s.loglik;
    d["weight"] = s.weight;
    d["worst_value"] = to_numpy(s.worst_value, {py::ssize_t(s.worst_value.size())});
    py::array_t<int64_t> rows(py::ssize_t(s.worst_row.size()));
    std::copy(s.worst_row.begin(), s.worst_row.end(), rows.mutable_data());
    d["worst_row"] = rows;
    if (!s.resp.empty()) {
        d["resp"] = to_numpy(s.resp, {s.K});
        d["log_scale"] = to_numpy(s.log_scale, {s.K});
    }
    d["finite"] = stats_finite(s);
    return d;
}

using I32 = py::array_t<int32_t, py::array::c_style>;
using I64 = py::array_t<int64_t, py::array::c_style>;

// groups (N, int32, -1 or a group) and group_begin (n_groups + 1, int64,
// strictly increasing within [0, K]), both or neither (see emfast::Groups).
emfast::Groups as_groups(const py::object& groups, const py::object& group_begin, int64_t N, int64_t K,
                         I32& gkeep, I64& bkeep) {
    emfast::Groups g;
    if (groups.is_none() != group_begin.is_none()) fail("give both groups and group_begin, or neither");
    if (groups.is_none()) return g;
    if (!py::isinstance<I32>(groups) || !py::isinstance<I64>(group_begin))
        fail("groups must be an int32 array and group_begin an int64 array");
    gkeep = I32::ensure(groups);
    bkeep = I64::ensure(group_begin);
    if (!gkeep || gkeep.ndim() != 1 || gkeep.shape(0) != N) fail("groups must have shape (n_samples,)");
    if (!bkeep || bkeep.ndim() != 1 || bkeep.shape(0) < 2) fail("group_begin must have shape (n_groups + 1,)");
    const int64_t n_groups = bkeep.shape(0) - 1;
    const int64_t* b = bkeep.data();
    if (b[0] < 0 || b[n_groups] > K) fail("group_begin must lie within [0, n_components]");
    for (int64_t i = 0; i < n_groups; ++i)
        if (b[i] >= b[i + 1]) fail("group_begin must be strictly increasing (no empty group)");
    const int32_t* r = gkeep.data();
    for (int64_t i = 0; i < N; ++i)
        if (r[i] < -1 || r[i] >= n_groups) fail("groups out of range");
    g.group = r;
    g.begin = b;
    return g;
}

py::dict em_pass(const Array& X, const py::object& sample_weight, const F64& log_weights, const F64& means,
                 const F64& prec_chol, const std::string& cov, const F64& shift, int n_threads, int n_worst,
                 bool hard, const py::object& dofs, const py::object& groups, const py::object& group_begin) {
    const emfast::Data data = as_data(X);
    F64 wkeep;
    const double* w = as_weights(sample_weight, data.n, wkeep);
    ParamArrays pa = as_params(log_weights, means, prec_chol, cov, data.d);
    set_dofs(pa, dofs);
    if (hard && pa.p.dofs) fail("hard assignments are for Gaussian components only (dofs must be None)");
    check_shape(shift, {data.d}, "shift");
    check_finite(shift, "shift");
    if (n_worst < 0 || n_worst > 1 << 20) fail("n_worst out of range");
    I32 gkeep;
    I64 bkeep;
    const emfast::Groups g = as_groups(groups, group_begin, data.n, pa.p.K, gkeep, bkeep);
    check_call(pa.p.dofs ? Call::StudentStatistics : Call::Statistics, data.n, data.d, pa.p.K, pa.p.cov,
               item_of(data), n_threads);
    emfast::Stats st;
    const emfast::Exec ex = python_exec(n_threads);
    without_gil([&] { kernels().em_pass(data, w, pa.p, shift.data(), ex, n_worst, hard, g, st); });
    return stats_to_dict(st);
}

// The log of each weight, log 0 = -inf: the one logarithm that every model
// passed to the kernels takes (emfast._stats.Params.native and em_run).
std::vector<double> log_of(const double* w, int64_t n) {
    std::vector<double> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = std::log(w[i]);
    return out;
}

// The M-step of a pass's statistics, as emfast._em.m_step makes it.
emfast::MStepResult m_step_of(const emfast::Stats& st, double reg_covar, double scale, int64_t n_samples,
                              const emfast::Exec& ex) {
    const double empty_threshold = 1e-8 * st.weight / double(std::max<int64_t>(n_samples, 1));
    return numerical("m_step",
                     [&] { return kernels().m_step(st, st.centers.data(), reg_covar, empty_threshold, scale, ex); });
}

// emfast._em.fit_em's iterations of GaussianEM (no re-seeding) on an array, in
// one call: with the same passes, M-steps and arithmetic, the same results as
// the Python loop, without its cost per iteration (small fits). With
// float32_bound (a float32 model's lower bound), the bound is rounded to
// float32 and compared in float32, as NumPy does with float32 scalars. Stops
// at the first pass whose statistics are not finite ("finite": False).
py::dict em_run(const Array& X, const py::object& sample_weight, const F64& log_weights, const F64& means,
                const F64& prec_chol, const std::string& cov, const F64& shift, double reg_covar, double scale,
                int64_t n_samples, int64_t max_iter, double tol, double lower_bound, bool float32_bound,
                int n_threads) {
    const emfast::Data data = as_data(X);
    F64 wkeep;
    const double* w = as_weights(sample_weight, data.n, wkeep);
    const ParamArrays pa = as_params(log_weights, means, prec_chol, cov, data.d);
    check_shape(shift, {data.d}, "shift");
    check_finite(shift, "shift");
    if (max_iter < 1) fail("max_iter must be at least 1");
    if (!(reg_covar >= 0.0) || !(scale > 0.0) || !std::isfinite(scale)) fail("bad reg_covar or scale");
    check_call(Call::Statistics, data.n, data.d, pa.p.K, pa.p.cov, item_of(data), n_threads);
    emfast::Params p = pa.p;
    std::vector<double> logw;
    emfast::MStepResult r;
    std::vector<double> bounds;
    double jitter = 0.0;
    bool converged = false, finite = true;
    // float32's tol as NumPy rounds it (without the undefined conversion of a value beyond float's range)
    const float tol32 = tol < double(std::numeric_limits<float>::max()) ? float(tol) : INFINITY;
    const emfast::Exec ex = python_exec(n_threads);
    without_gil([&] {
        while (int64_t(bounds.size()) < max_iter && !converged) {
            emfast::Stats st;
            kernels().em_pass(data, w, p, shift.data(), ex, 0, false, emfast::Groups{}, st);
            if (!(finite = stats_finite(st))) return;
            r = m_step_of(st, reg_covar, scale, n_samples, ex);
            for (double j : r.jitter) jitter = std::max(jitter, j);
            double bound = st.loglik / st.weight;
            if (float32_bound) {
                bound = double(float(bound));
                converged = std::abs(float(bound) - float(lower_bound)) < tol32;
            } else {
                converged = std::abs(bound - lower_bound) < tol;
            }
            bounds.push_back(lower_bound = bound);
            logw = log_of(r.weights.data(), p.K);
            p.log_weights = logw.data(), p.means = r.means.data(), p.prec_chol = r.prec_chol.data();
        }
    });
    py::dict d;
    d["finite"] = finite;
    if (!finite) return d;
    d["weights"] = to_numpy(r.weights, {p.K});
    d["means"] = to_numpy(r.means, {p.K, p.D});
    d["covariances"] = to_numpy(r.covariances, cov_shape(p.cov, p.K, p.D));
    d["precisions_cholesky"] = to_numpy(r.prec_chol, cov_shape(p.cov, p.K, p.D));
    d["lower_bounds"] = to_numpy(bounds, {py::ssize_t(bounds.size())});
    d["converged"] = converged;
    d["jitter"] = jitter;
    return d;
}

py::dict fixed_pass(const Array& X, const py::object& sample_weight, const py::object& labels,
                    const py::object& resp, const F64& centers, const std::string& cov, const F64& shift,
                    int n_threads) {
    const emfast::Data data = as_data(X);
    F64 wkeep;
    const double* w = as_weights(sample_weight, data.n, wkeep);
    if (centers.ndim() != 2 || centers.shape(1) != data.d) fail("centers must have shape (n_components, n_features)");
    const int64_t K = centers.shape(0);
    if (K < 1) fail("n_components must be at least 1");
    check_shape(shift, {data.d}, "shift");
    check_finite(centers, "centers");
    check_finite(shift, "shift");
    const Cov c = emfast::parse_cov(cov);
    check_call(Call::Statistics, data.n, data.d, K, c, item_of(data), n_threads);
    emfast::Resp r;
    py::array_t<int32_t, py::array::c_style> lab;
    Array rsp;
    if (labels.is_none() == resp.is_none()) fail("give exactly one of labels and resp");
    if (!labels.is_none()) {
        if (!py::isinstance<py::array_t<int32_t>>(labels)) fail("labels must be an int32 array");
        lab = py::array_t<int32_t, py::array::c_style>::ensure(labels);
        if (!lab || lab.ndim() != 1 || lab.shape(0) != data.n) fail("labels must be int32 of shape (n_samples,)");
        const int32_t* l = lab.data();
        for (int64_t i = 0; i < data.n; ++i)
            if (l[i] < -1 || l[i] >= K) fail("labels out of range");
        r.labels = l;
    } else {
        rsp = resp.cast<Array>();
        const int64_t item = data.is_float ? 4 : 8;
        if (rsp.ndim() != 2 || rsp.shape(0) != data.n || rsp.shape(1) != K) fail("resp must have shape (n, K)");
        if (float_size(rsp.dtype()) != item) fail("resp must have the dtype of X");
        if (rsp.strides(0) % item || rsp.strides(1) % item) fail("resp strides must be multiples of its item size");
        if (reinterpret_cast<uintptr_t>(rsp.data()) % uintptr_t(item)) fail("resp must be aligned");
        r.resp = rsp.data();
        r.row_stride = rsp.strides(0) / item;
        r.col_stride = rsp.strides(1) / item;
    }
    emfast::Stats st;
    const emfast::Exec ex = python_exec(n_threads);
    without_gil([&] { kernels().fixed_pass(data, w, r, c, K, centers.data(), shift.data(), ex, st); });
    return stats_to_dict(st);
}

Array score(const Array& X, const F64& log_weights, const F64& means, const F64& prec_chol, const std::string& cov,
            const F64& shift, const std::string& what, int n_threads, const py::object& dofs) {
    const emfast::Data data = as_data(X);
    ParamArrays pa = as_params(log_weights, means, prec_chol, cov, data.d);
    set_dofs(pa, dofs);
    check_shape(shift, {data.d}, "shift");
    emfast::Score s;
    if (what == "log_prob_norm") s = emfast::Score::LogProbNorm;
    else if (what == "proba") s = emfast::Score::Proba;
    else if (what == "log_resp") s = emfast::Score::LogResp;
    else if (what == "predict") s = emfast::Score::Predict;
    else if (what == "weighted_log_prob") s = emfast::Score::WeightedLogProb;
    else if (what == "mahalanobis") s = emfast::Score::Mahalanobis;
    else fail("unknown score '" + what + "'");
    check_finite(shift, "shift");
    const int64_t K = pa.p.K;
    const int64_t out_elems =
        s == emfast::Score::Predict || s == emfast::Score::LogProbNorm ? data.n : checked_mul(data.n, K, "output");
    check_call(Call::Score, data.n, data.d, K, pa.p.cov, item_of(data), n_threads,
               checked_mul(out_elems, s == emfast::Score::Predict ? 8 : item_of(data), "output"));
    Array out;
    if (s == emfast::Score::Predict)
        out = py::array_t<int64_t>(data.n);
    else if (s == emfast::Score::LogProbNorm)
        out = data.is_float ? Array(py::array_t<float>(data.n)) : Array(py::array_t<double>(data.n));
    else
        out = data.is_float ? Array(py::array_t<float>({data.n, K})) : Array(py::array_t<double>({data.n, K}));
    void* o = out.mutable_data();
    const emfast::Exec ex = python_exec(n_threads);
    without_gil([&] { kernels().score_pass(data, pa.p, shift.data(), s, o, ex); });
    return out;
}

py::array_t<int64_t> kmeans_plusplus(const Array& X, const py::object& sample_weight, const F64& shift,
                                     int64_t n_clusters, int64_t first, const F64& draws, int n_threads) {
    const emfast::Data data = as_data(X);
    F64 wkeep;
    const double* w = as_weights(sample_weight, data.n, wkeep);
    check_shape(shift, {data.d}, "shift");
    check_finite(shift, "shift");
    if (n_clusters < 1 || n_clusters > data.n) fail("n_clusters must be in [1, n_samples]");
    if (first < 0 || first >= data.n) fail("first must be a row index");
    if (draws.ndim() != 2 || draws.shape(0) != n_clusters - 1 || draws.shape(1) < 1)
        fail("draws must have shape (n_clusters - 1, n_trials)");
    for (int64_t i = 0; i < draws.size(); ++i)
        if (!(draws.data()[i] >= 0.0 && draws.data()[i] < 1.0)) fail("draws must be in [0, 1)");
    check_call(Call::KmeansSeeds, data.n, data.d, draws.shape(1), Cov::Spherical, item_of(data), n_threads);
    py::array_t<int64_t> indices(n_clusters);
    int64_t* out = indices.mutable_data();
    const emfast::Exec ex = python_exec(n_threads);
    without_gil([&] {
        kernels().kmeans_plusplus(data, w, shift.data(), n_clusters, first, draws.shape(1), draws.data(), ex, out);
    });
    return indices;
}

py::array_t<double> kmeans_closest(const Array& X, const py::object& sample_weight, const F64& shift,
                                   const F64& cands, py::array closest, bool update, int n_threads) {
    const emfast::Data data = as_data(X);
    F64 wkeep;
    const double* w = as_weights(sample_weight, data.n, wkeep);
    check_shape(shift, {data.d}, "shift");
    check_finite(shift, "shift");
    if (cands.ndim() != 2 || cands.shape(1) != data.d || cands.shape(0) < 1 || cands.shape(0) > 16)
        fail("cands must have shape (n_candidates <= 16, n_features)");
    if (update && cands.shape(0) != 1) fail("update takes one candidate");
    check_finite(cands, "cands");
    const int64_t lanes = 64 / (data.is_float ? 4 : 8);
    if (float_size(closest.dtype()) != (data.is_float ? 4 : 8) || closest.ndim() != 1 ||
        closest.shape(0) < (data.n + lanes - 1) / lanes * lanes || !(closest.flags() & py::array::c_style) ||
        !closest.writeable())
        fail("closest must be a writable C-contiguous array of X's dtype, n_samples rounded up to 64 bytes long");
    check_call(Call::KmeansSeeds, data.n, data.d, cands.shape(0), Cov::Spherical, item_of(data), n_threads);
    py::array_t<double> out(update ? 1 : cands.shape(0));
    double* o = out.mutable_data();
    void* cl = closest.mutable_data();
    const emfast::Exec ex = python_exec(n_threads);
    without_gil([&] { kernels().kmeans_closest(data, w, shift.data(), cands.data(), cands.shape(0), cl, update, ex, o); });
    return out;
}

py::dict kmeans_lloyd(const Array& X, const py::object& sample_weight, const F64& shift, const F64& centers,
                      py::array labels, int64_t max_iter, double tol, int n_threads) {
    const emfast::Data data = as_data(X);
    F64 wkeep;
    const double* w = as_weights(sample_weight, data.n, wkeep);
    check_shape(shift, {data.d}, "shift");
    check_finite(shift, "shift");
    if (centers.ndim() != 2 || centers.shape(1) != data.d || centers.shape(0) < 1)
        fail("centers must have shape (n_clusters, n_features)");
    check_finite(centers, "centers");
    const int64_t K = centers.shape(0);
    if (!py::isinstance<py::array_t<int32_t>>(labels) || labels.ndim() != 1 || labels.shape(0) != data.n ||
        !(labels.flags() & py::array::c_style) || !labels.writeable())
        fail("labels must be a writable C-contiguous int32 array of shape (n_samples,)");
    if (max_iter < 0) fail("max_iter must be non-negative");
    if (!(tol >= 0.0) || !std::isfinite(tol)) fail("tol must be finite and non-negative");
    check_call(Call::KmeansLloyd, data.n, data.d, K, Cov::Spherical, item_of(data), n_threads);
    emfast::LloydState st;
    st.centers.assign(centers.data(), centers.data() + K * data.d);
    int32_t* lab = static_cast<int32_t*>(labels.mutable_data());
    const emfast::Exec ex = python_exec(n_threads);
    without_gil([&] { kernels().kmeans_lloyd(data, w, shift.data(), K, max_iter, tol, lab, ex, st); });
    py::dict d;
    d["centers"] = to_numpy(st.centers, {K, data.d});
    d["sums"] = to_numpy(st.sums, {py::ssize_t(st.sums.size()) / std::max<py::ssize_t>(data.d, 1), data.d});
    d["weights"] = to_numpy(st.weights, {py::ssize_t(st.weights.size())});
    d["n_iter"] = st.n_iter;
    d["changed"] = st.changed;
    d["strict"] = st.strict;
    d["empty"] = st.empty;
    d["final_labels"] = st.final_labels;
    return d;
}

py::dict m_step(const F64& s0, const F64& s1, const F64& s2, const F64& centers, const std::string& cov,
                double reg_covar, double empty_threshold, double scale, const py::object& resp) {
    emfast::Stats st;
    st.cov = emfast::parse_cov(cov);
    if (s1.ndim() != 2) fail("s1 must be 2-D");
    st.K = s1.shape(0);
    st.D = s1.shape(1);
    check_shape(s0, {st.K}, "s0");
    check_shape(centers, {st.K, st.D}, "centers");
    {
        auto shp = cov_shape(st.cov, st.K, st.D);
        bool ok = s2.ndim() == py::ssize_t(shp.size());
        for (size_t i = 0; ok && i < shp.size(); ++i) ok = s2.shape(py::ssize_t(i)) == shp[i];
        if (!ok) fail("s2 has the wrong shape");
    }
    if (st.K < 1 || st.D < 1) fail("s1 must have at least one row and one column");
    if (!(reg_covar >= 0.0) || !std::isfinite(reg_covar)) fail("reg_covar must be finite and non-negative");
    if (!std::isfinite(empty_threshold)) fail("empty_threshold must be finite");
    if (!(scale > 0.0) || !std::isfinite(scale)) fail("scale must be finite and positive");
    check_finite(s0, "s0");
    check_finite(s1, "s1");
    check_finite(s2, "s2");
    check_finite(centers, "centers");
    check_call(Call::MStep, 0, st.D, st.K, st.cov, 8, 1);
    st.s0.assign(s0.data(), s0.data() + st.K);
    st.s1.assign(s1.data(), s1.data() + st.K * st.D);
    st.s2.assign(s2.data(), s2.data() + s2.size());
    if (!resp.is_none()) {
        const F64 rs = F64::ensure(resp);
        if (!rs) fail("resp must be a float64 array");
        check_shape(rs, {st.K}, "resp");
        check_finite(rs, "resp");
        st.resp.assign(rs.data(), rs.data() + st.K);
    }
    const emfast::Exec ex = python_exec(0);  // threads for wide factorisations only (mstep.cpp)
    const emfast::MStepResult r = without_gil([&] {
        return numerical("m_step", [&] { return kernels().m_step(st, centers.data(), reg_covar, empty_threshold, scale, ex); });
    });
    py::dict d;
    d["weights"] = to_numpy(r.weights, {st.K});
    d["means"] = to_numpy(r.means, {st.K, st.D});
    d["covariances"] = to_numpy(r.covariances, cov_shape(st.cov, st.K, st.D));
    d["precisions_cholesky"] = to_numpy(r.prec_chol, cov_shape(st.cov, st.K, st.D));
    d["jitter"] = to_numpy(r.jitter, {py::ssize_t(r.jitter.size())});
    py::array_t<bool> empty(st.K);
    for (int64_t k = 0; k < st.K; ++k) empty.mutable_data()[k] = r.empty[size_t(k)] != 0;
    d["empty"] = empty;
    return d;
}

py::tuple precision_cholesky(const F64& covariances, const std::string& cov, double scale) {
    const Cov c = emfast::parse_cov(cov);
    int64_t K, D;
    switch (c) {
        case Cov::Full:
            if (covariances.ndim() != 3 || covariances.shape(1) != covariances.shape(2)) fail("bad covariances");
            K = covariances.shape(0), D = covariances.shape(1);
            break;
        case Cov::Tied:
            if (covariances.ndim() != 2 || covariances.shape(0) != covariances.shape(1)) fail("bad covariances");
            K = 1, D = covariances.shape(0);
            break;
        case Cov::Diag:
            if (covariances.ndim() != 2) fail("bad covariances");
            K = covariances.shape(0), D = covariances.shape(1);
            break;
        default:
            if (covariances.ndim() != 1) fail("bad covariances");
            K = covariances.shape(0), D = 1;
    }
    if (K < 1 || D < 1) fail("covariances must not be empty");
    if (!(scale > 0.0) || !std::isfinite(scale)) fail("scale must be finite and positive");
    check_finite(covariances, "covariances");
    check_call(Call::MStep, 0, D, K, c, 8, 1);
    std::vector<double> cv(covariances.data(), covariances.data() + covariances.size());
    std::vector<double> pc(cv.size()), jit(static_cast<size_t>(K));
    const emfast::Exec ex = python_exec(0);  // threads for wide factorisations only (mstep.cpp)
    without_gil([&] {
        numerical("precision_cholesky",
                  [&] { kernels().precision_cholesky(c, K, D, cv.data(), pc.data(), scale, jit.data(), ex); });
    });
    std::vector<py::ssize_t> shape(covariances.shape(), covariances.shape() + covariances.ndim());
    return py::make_tuple(to_numpy(cv, shape), to_numpy(pc, shape), to_numpy(jit, {K}));
}

// ---------------------------------------------------------------- variational mixtures
//
// emfast._variational's Prior and Posterior travel as tuples (Prior.native(),
// Posterior.native()), statistics as arrays; every array is checked here.

// A Python int or float (NumPy's float64 included): TypeError otherwise.
double as_number(const py::handle& o, const char* name) {
    if (!PyFloat_Check(o.ptr()) && !PyLong_Check(o.ptr())) throw py::type_error(std::string(name) + " must be a number");
    return o.cast<double>();
}

F64 as_array(const py::handle& o, const char* name) {
    F64 a = F64::ensure(o);
    if (!a) fail(std::string(name) + " must be a float64 array");
    return aligned(a);
}

void check_cov_shape(const F64& a, Cov cov, int64_t K, int64_t D, const char* name) {
    const std::vector<py::ssize_t> shape = cov_shape(cov, K, D);
    bool ok = a.ndim() == py::ssize_t(shape.size());
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(py::ssize_t(i)) == shape[i];
    if (!ok) fail(std::string(name) + " has the wrong shape");
}

bool as_prior_type(const std::string& kind) {
    if (kind == "dirichlet_process") return true;
    if (kind == "dirichlet_distribution") return false;
    fail("prior_type must be 'dirichlet_process' or 'dirichlet_distribution', got '" + kind + "'");
}

// (prior_type, weight_concentration, mean_precision, mean (D,), degrees_of_freedom,
// covariance (D x D for full and tied, D for diag, one number for spherical)).
struct PriorArgs {
    F64 mean, covariance;
    emfast::VariationalPrior p;
};

PriorArgs as_prior(const py::tuple& t, Cov cov, int64_t D) {
    if (t.size() != 6)
        fail("prior must be (prior_type, weight_concentration, mean_precision, mean, degrees_of_freedom, covariance)");
    PriorArgs a;
    if (!py::isinstance<py::str>(t[0])) throw py::type_error("the prior's type must be a string");
    a.p.process = as_prior_type(t[0].cast<std::string>());
    a.p.weight_concentration = as_number(t[1], "weight_concentration");
    a.p.mean_precision = as_number(t[2], "mean_precision");
    a.p.degrees_of_freedom = as_number(t[4], "degrees_of_freedom");
    if (!(a.p.weight_concentration > 0.0) || !std::isfinite(a.p.weight_concentration) ||
        !(a.p.mean_precision > 0.0) || !std::isfinite(a.p.mean_precision))
        fail("the prior's weight_concentration and mean_precision must be finite and positive");
    if (!(a.p.degrees_of_freedom > double(D) - 1.0) || !std::isfinite(a.p.degrees_of_freedom))
        fail("the prior's degrees_of_freedom must be finite and greater than n_features - 1");
    a.mean = as_array(t[3], "the prior's mean");
    check_shape(a.mean, {D}, "the prior's mean");
    a.covariance = as_array(t[5], "the prior's covariance");
    if (cov == Cov::Spherical) {
        if (a.covariance.ndim() > 1 || a.covariance.size() != 1) fail("the prior's covariance must be one number");
    } else if (cov == Cov::Diag) {
        check_shape(a.covariance, {D}, "the prior's covariance");
    } else {
        check_shape(a.covariance, {D, D}, "the prior's covariance");
    }
    check_finite(a.mean, "the prior's mean");
    check_finite(a.covariance, "the prior's covariance");
    a.p.mean = a.mean.data();
    a.p.covariance = a.covariance.data();
    return a;
}

// (weight_a, weight_b or None, mean_precision, means, degrees_of_freedom (one
// number for tied), precisions_cholesky) of a posterior with the prior's weight type.
struct PosteriorArgs {
    F64 weight_a, weight_b, mean_precision, means, dof, prec_chol;
    int64_t K = 0;
};

PosteriorArgs as_posterior(const py::tuple& t, bool process, int64_t D) {
    if (t.size() != 6)
        fail("posterior must be (weight_a, weight_b, mean_precision, means, degrees_of_freedom, "
             "precisions_cholesky)");
    PosteriorArgs a;
    a.means = as_array(t[3], "means");
    if (a.means.ndim() != 2 || a.means.shape(1) != D || a.means.shape(0) < 1)
        fail("means must have shape (n_components, n_features)");
    const int64_t K = a.K = a.means.shape(0);
    a.weight_a = as_array(t[0], "weight_a");
    check_shape(a.weight_a, {K}, "weight_a");
    if (process == t[1].is_none()) fail("weight_b is given for a Dirichlet process prior only");
    if (process) {
        a.weight_b = as_array(t[1], "weight_b");
        check_shape(a.weight_b, {K}, "weight_b");
    }
    a.mean_precision = as_array(t[2], "mean_precision");
    check_shape(a.mean_precision, {K}, "mean_precision");
    a.dof = as_array(t[4], "degrees_of_freedom");
    if (a.dof.ndim() != 0 && (a.dof.ndim() != 1 || a.dof.shape(0) != K))
        fail("degrees_of_freedom must have shape (n_components,), or be one number (tied)");
    a.prec_chol = as_array(t[5], "precisions_cholesky");
    for (const F64* v : {&a.weight_a, &a.weight_b, &a.mean_precision})
        for (py::ssize_t k = 0; k < v->size(); ++k)
            if (!(v->data()[k] > 0.0) || !std::isfinite(v->data()[k]))
                fail("weight_a, weight_b and mean_precision must be finite and positive");
    for (py::ssize_t k = 0; k < a.dof.size(); ++k)
        if (!(a.dof.data()[k] > double(D) - 1.0) || !std::isfinite(a.dof.data()[k]))
            fail("degrees_of_freedom must be finite and greater than n_features - 1");
    return a;
}

// The E-step's log-weights and the weights_ of a checked posterior (either may be null).
void e_step_of(const PosteriorArgs& a, bool process, int64_t D, double* log_weights, double* weights) {
    kernels().variational_e_step(process, a.K, D, a.weight_a.data(), process ? a.weight_b.data() : nullptr,
                                 a.mean_precision.data(), a.dof.data(), a.dof.size(), log_weights, weights);
}

// The weights_ of a posterior the M-step made.
F64 weights_of(const emfast::VariationalPosterior& p, bool process, int64_t K, int64_t D) {
    F64 weights(K);
    kernels().variational_e_step(process, K, D, p.weight_a.data(), process ? p.weight_b.data() : nullptr,
                                 p.mean_precision.data(), p.dof.data(), int64_t(p.dof.size()), nullptr,
                                 weights.mutable_data());
    return weights;
}

// precisions_ from precisions_cholesky_: P P^T (full, tied), P^2 (diag, spherical).
std::vector<double> precisions_of(Cov cov, int64_t K, int64_t D, const std::vector<double>& pc) {
    std::vector<double> out(pc.size());
    if (cov == Cov::Diag || cov == Cov::Spherical) {
        for (size_t at = 0; at < pc.size(); ++at) out[at] = pc[at] * pc[at];
        return out;
    }
    for (int64_t k = 0; k < (cov == Cov::Full ? K : 1); ++k) {
        const double* p = pc.data() + k * D * D;  // upper triangular
        double* o = out.data() + k * D * D;
        for (int64_t i = 0; i < D; ++i)
            for (int64_t j = 0; j <= i; ++j) {
                double v = 0.0;
                for (int64_t l = i; l < D; ++l) v += p[i * D + l] * p[j * D + l];
                o[i * D + j] = o[j * D + i] = v;
            }
    }
    return out;
}

[[noreturn]] void non_finite_covariances() {
    fail("Fitting produced non-finite covariances: the data's values (or sample weights) are too large or too "
         "small to be represented in floating point. Rescale X (for example with "
         "sklearn.preprocessing.StandardScaler) or the sample weights.");
}

// A posterior into `d`: weight_a, weight_b (None for a Dirichlet), mean_precision,
// means, degrees_of_freedom (a float for tied), covariances, precisions_cholesky, jitter.
void posterior_to_dict(const emfast::VariationalPosterior& p, Cov cov, int64_t K, int64_t D, py::dict& d) {
    d["weight_a"] = to_numpy(p.weight_a, {K});
    d["weight_b"] = p.weight_b.empty() ? py::object(py::none()) : py::object(to_numpy(p.weight_b, {K}));
    d["mean_precision"] = to_numpy(p.mean_precision, {K});
    d["means"] = to_numpy(p.means, {K, D});
    d["degrees_of_freedom"] = cov == Cov::Tied ? py::object(py::float_(p.dof[0])) : py::object(to_numpy(p.dof, {K}));
    d["covariances"] = to_numpy(p.covariances, cov_shape(cov, K, D));
    d["precisions_cholesky"] = to_numpy(p.prec_chol, cov_shape(cov, K, D));
    d["jitter"] = p.jitter;
}

emfast::VariationalPosterior m_step_checked(const emfast::VariationalPrior& prior, const emfast::Stats& st,
                                            double reg_covar, double scale, double counts, const emfast::Exec& ex) {
    return numerical("precision_cholesky",
                     [&] { return kernels().variational_m_step(prior, st, reg_covar, scale, counts, ex); });
}

void check_m_step_numbers(double reg_covar, double scale, double counts) {
    if (!(reg_covar >= 0.0) || !std::isfinite(reg_covar)) fail("reg_covar must be finite and non-negative");
    if (!(scale > 0.0) || !std::isfinite(scale)) fail("scale must be finite and positive");
    if (!(counts > 0.0) || !std::isfinite(counts)) fail("counts must be finite and positive");
}

// scikit-learn's variational M-step (emfast._variational.posterior). The
// statistics may hold non-finite values (the data's are beyond float64): the
// arithmetic is IEEE's, and a posterior without finite covariances is the
// ValueError that says so.
py::dict variational_m_step(const py::object& s0_, const py::object& s1_, const py::object& s2_,
                            const py::object& centers_, const std::string& cov, const py::tuple& prior,
                            double reg_covar, double scale, double counts) {
    const F64 s0 = as_array(s0_, "s0"), s1 = as_array(s1_, "s1"), s2 = as_array(s2_, "s2"),
              centers = as_array(centers_, "centers");
    emfast::Stats st;
    st.cov = emfast::parse_cov(cov);
    if (s1.ndim() != 2 || s1.shape(0) < 1 || s1.shape(1) < 1) fail("s1 must have shape (n_components, n_features)");
    st.K = s1.shape(0);
    st.D = s1.shape(1);
    check_shape(s0, {st.K}, "s0");
    check_shape(centers, {st.K, st.D}, "centers");
    check_cov_shape(s2, st.cov, st.K, st.D, "s2");
    const PriorArgs pr = as_prior(prior, st.cov, st.D);
    check_m_step_numbers(reg_covar, scale, counts);
    check_call(Call::MStep, 0, st.D, st.K, st.cov, 8, 1);
    st.s0.assign(s0.data(), s0.data() + s0.size());
    st.s1.assign(s1.data(), s1.data() + s1.size());
    st.s2.assign(s2.data(), s2.data() + s2.size());
    st.centers.assign(centers.data(), centers.data() + centers.size());
    const emfast::Exec ex = python_exec(0);  // threads for wide factorisations only (mstep.cpp)
    const emfast::VariationalPosterior p =
        without_gil([&] { return m_step_checked(pr.p, st, reg_covar, scale, counts, ex); });
    if (!p.finite_covariances) non_finite_covariances();
    py::dict d;
    posterior_to_dict(p, st.cov, st.K, st.D, d);
    return d;
}

// The E-step's log-weights and the weights_ of a posterior (Posterior.native()).
// (precisions_cholesky is not read.) With log_weights false, (None, weights_).
py::tuple variational_e_step(const std::string& prior_type, const py::tuple& posterior, int64_t n_features,
                             bool log_weights) {
    if (n_features < 1) fail("n_features must be positive");
    const bool process = as_prior_type(prior_type);
    const PosteriorArgs a = as_posterior(posterior, process, n_features);
    F64 logs(log_weights ? a.K : 0), weights(a.K);
    e_step_of(a, process, n_features, log_weights ? logs.mutable_data() : nullptr, weights.mutable_data());
    return py::make_tuple(log_weights ? py::object(logs) : py::object(py::none()), weights);
}

// x rounded to float32's precision (as NumPy casts it: beyond float32's range,
// inf past the halfway point to 2^128, which C++'s cast leaves undefined).
double round_to_float32(double x) {
    const double top = double(std::numeric_limits<float>::max());
    const double halfway = top + std::ldexp(1.0, 103);  // (FLT_MAX + 2^128) / 2: ties go to 2^128, even
    if (std::fabs(x) <= top) return double(float(x));
    if (std::isnan(x)) return x;
    return std::fabs(x) < halfway ? std::copysign(top, x) : std::copysign(HUGE_VAL, x);
}

// One step of stochastic variational inference (MiniBatchBayesianGaussianMixture._step)
// in one call: the E-step pass over the mini-batch X under `posterior` (centred
// on a shift from the means of the components of positive weight, rounded to X's
// dtype), its statistics per unit of sample weight blended into the running ones
// (`running`: (s0, s1, s2, centers, loglik, weight), or None for the first step) with
// step size rho, and the M-step of the blend standing for `counts` samples' each
// (None: the weight seen so far, seen_weight + this mini-batch's times weight_scale).
// Returns {"finite": False} where the pass's statistics are not finite (nothing
// else is computed), else the new running statistics, posterior (as
// variational_m_step's), its weights_ and precisions_, the mini-batch's mean
// log-likelihood and the weight seen.
py::dict svi_step(const Array& X, const py::object& sample_weight, const std::string& cov, const py::tuple& prior,
                  const py::tuple& posterior, const py::object& running, double rho, const py::object& counts,
                  double seen_weight, double weight_scale, double reg_covar, double scale, int n_threads) {
    const emfast::Data data = as_data(X);
    const int64_t D = data.d;
    F64 wkeep;
    const double* w = as_weights(sample_weight, data.n, wkeep);
    const Cov c = emfast::parse_cov(cov);
    const PriorArgs pr = as_prior(prior, c, D);
    const PosteriorArgs post = as_posterior(posterior, pr.p.process, D);
    const int64_t K = post.K;
    if ((c == Cov::Tied) != (post.dof.ndim() == 0)) fail("degrees_of_freedom must be one number for tied only");
    if (!(rho >= 0.0 && rho <= 1.0)) fail("rho must be in [0, 1]");
    if (!(seen_weight >= 0.0) || !std::isfinite(seen_weight)) fail("seen_weight must be finite and non-negative");
    if (!(weight_scale > 0.0) || !std::isfinite(weight_scale)) fail("weight_scale must be finite and positive");
    const bool count_seen = counts.is_none();
    const double fixed_counts = count_seen ? 1.0 : as_number(counts, "counts");
    check_m_step_numbers(reg_covar, scale, fixed_counts);
    // the pass, and the running statistics' copy, their blend and the posterior (a
    // few times the M-step's memory)
    check_call(Call::Statistics, data.n, D, K, c, item_of(data), n_threads,
               checked_mul(3, emfast_py::call_bytes(Call::MStep, 0, D, K, c, 8, 1), "M-step"));
    emfast::Stats old(c, K, D);
    const bool blend = !running.is_none();
    if (blend) {
        if (!py::isinstance<py::tuple>(running)) throw py::type_error("running must be a tuple or None");
        const py::tuple r = running.cast<py::tuple>();
        if (r.size() != 6) fail("running must be (s0, s1, s2, centers, loglik, weight) or None");
        const F64 s0 = as_array(r[0], "s0"), s1 = as_array(r[1], "s1"), s2 = as_array(r[2], "s2"),
                  centers = as_array(r[3], "centers");
        check_shape(s0, {K}, "s0");
        check_shape(s1, {K, D}, "s1");
        check_cov_shape(s2, c, K, D, "s2");
        check_shape(centers, {K, D}, "centers");
        old.s0.assign(s0.data(), s0.data() + K);
        old.s1.assign(s1.data(), s1.data() + K * D);
        old.s2.assign(s2.data(), s2.data() + s2.size());
        old.centers.assign(centers.data(), centers.data() + K * D);
        old.loglik = as_number(r[4], "loglik");
        old.weight = as_number(r[5], "weight");
    }

    // the E-step's parameters, checked as em_pass checks them
    F64 log_weights(K);
    std::vector<double> weights(static_cast<size_t>(K));
    e_step_of(post, pr.p.process, D, log_weights.mutable_data(), weights.data());
    const ParamArrays pa = as_params(log_weights, post.means, post.prec_chol, cov, D);
    std::vector<bool> positive(static_cast<size_t>(K));
    bool any = false;
    for (int64_t k = 0; k < K; ++k) {
        positive[size_t(k)] = weights[size_t(k)] > 0.0;
        any = any || positive[size_t(k)];
    }
    F64 shift(D);
    {
        std::vector<double> s = nearest_zero_of(post.means.data(), K, D, any ? &positive : nullptr);
        if (data.is_float)
            for (double& v : s) v = round_to_float32(v);
        std::copy(s.begin(), s.end(), shift.mutable_data());
    }
    check_finite(shift, "shift");

    emfast::Stats st;
    emfast::VariationalPosterior p;
    bool finite = true;
    double mean_loglik = 0.0, used_counts = fixed_counts;
    const emfast::Exec ex = python_exec(n_threads);
    without_gil([&] {
        kernels().em_pass(data, w, pa.p, shift.data(), ex, 0, false, emfast::Groups{}, st);
        if (!(finite = stats_finite(st))) return;
        const double total = st.weight;  // per unit of sample weight
        for (auto* v : {&st.s0, &st.s1, &st.s2})
            for (double& x : *v) x /= total;
        mean_loglik = st.loglik /= total;
        st.weight /= total;
        seen_weight += total * weight_scale;
        if (count_seen) used_counts = seen_weight;
        if (blend) kernels().blend_stats(old, rho, st);
        p = m_step_checked(pr.p, st, reg_covar, scale, used_counts, ex);
    });
    py::dict d;
    d["finite"] = finite;
    if (!finite) return d;
    if (!p.finite_covariances) non_finite_covariances();
    d["s0"] = to_numpy(st.s0, {K});
    d["s1"] = to_numpy(st.s1, {K, D});
    d["s2"] = to_numpy(st.s2, cov_shape(c, K, D));
    d["centers"] = to_numpy(st.centers, {K, D});
    d["stats_loglik"] = st.loglik;
    d["stats_weight"] = st.weight;
    posterior_to_dict(p, c, K, D, d);
    d["weights"] = weights_of(p, pr.p.process, K, D);
    d["precisions"] = to_numpy(precisions_of(c, K, D, p.prec_chol), cov_shape(c, K, D));
    d["loglik"] = mean_loglik;
    d["seen_weight"] = seen_weight;
    return d;
}

// What a scoring or statistics pass over (n_samples, n_features) with
// n_components will allocate, in bytes, with an n_samples x out_columns output
// of itemsize bytes an element; MemoryError if that exceeds the memory this
// process may use, ValueError if a size overflows 64 bits.
int64_t plan_memory(int64_t n_samples, int64_t n_features, int64_t n_components, const std::string& cov,
                    int64_t out_columns, int64_t itemsize) {
    if (n_samples < 0 || n_features < 1 || n_components < 1 || out_columns < 0)
        fail("plan_memory: sizes must be positive");
    const Cov c = emfast::parse_cov(cov);
    const int64_t out = checked_mul(checked_mul(n_samples, out_columns, "output"), itemsize, "output");
    int64_t bytes = 0;
    for (Call call : {Call::Statistics, Call::Score})
        bytes = std::max(bytes, emfast_py::call_bytes(call, n_samples, n_features, n_components, c, itemsize, 0));
    bytes = checked_add(bytes, out, "output");
    emfast_py::check_memory(bytes, "n_samples=" + std::to_string(n_samples) + ", n_features=" +
                                       std::to_string(n_features) + ", n_components=" + std::to_string(n_components) +
                                       ", covariance_type='" + cov + "'");
    return bytes;
}

}  // namespace

py::object& emfast_py::progress_hook() {
    static py::object* hook = new py::object(py::none());  // never destroyed: outlives the interpreter
    return *hook;
}

const emfast::KernelTable& emfast_py::kernels() {
    if (!g_kernels) throw std::runtime_error("emfast._core: no kernel module loaded (import emfast)");
    return *g_kernels;
}

PYBIND11_MODULE(_core, m) {
    m.doc() = "emfast's bindings; the SIMD kernels come from emfast._kernels_<isa> (see emfast.show_config())";
    m.def("use_kernels", &use_kernels, py::arg("table"), "Call the kernels of this table (a _kernels_<isa> module's).");
    m.def("simd", [] { return std::string(kernels().simd); }, "The instruction set of the kernels in use.");
    m.def(
        "set_progress_hook", [](py::object hook) { emfast_py::progress_hook() = std::move(hook); }, py::arg("hook"),
        "hook(stage, done, total) receives the kernels' progress reports (None: none).");
    m.def("em_pass", &em_pass, py::arg("X"), py::arg("sample_weight"), py::arg("log_weights"), py::arg("means"),
          py::arg("precisions_cholesky"), py::arg("covariance_type"), py::arg("shift"), py::arg("n_threads") = 0,
          py::arg("n_worst") = 0, py::arg("hard") = false, py::arg("dofs") = py::none(),
          py::arg("groups") = py::none(), py::arg("group_begin") = py::none(),
          "Fused E-step + sufficient statistics over X (hard: each row to its most probable component; "
          "dofs: Student-t components with these degrees of freedom, and their ECM statistics; "
          "groups: rows restricted to their group's range of components).");
    m.def("em_run", &em_run, py::arg("X"), py::arg("sample_weight"), py::arg("log_weights"), py::arg("means"),
          py::arg("precisions_cholesky"), py::arg("covariance_type"), py::arg("shift"), py::arg("reg_covar"),
          py::arg("scale"), py::arg("n_samples"), py::arg("max_iter"), py::arg("tol"), py::arg("lower_bound"),
          py::arg("float32_bound"), py::arg("n_threads") = 0,
          "EM iterations (pass, M-step, lower bound, convergence test) until convergence or max_iter.");
    m.def(
        "log", [](const F64& x) { return to_numpy(log_of(x.data(), x.size()), {x.size()}); }, py::arg("x"),
        "The natural logarithm of each element of a 1-D float64 array (log 0 = -inf), as em_run takes it.");
    m.def("nearest_zero", &nearest_zero, py::arg("points"),
          "Per column of a 2-D float64 array, the entry of smallest magnitude (+ if the column holds "
          "it, else -; NaN if the column has one).");
    m.def("choice_sweep", &choice_sweep_checked,
          py::arg("sample_weight"), py::arg("n"), py::arg("total"), py::arg("float32"), py::arg("u") = py::none(),
          "NumPy's RandomState.choice(n, p=w / total) in O(1) memory: the Kahan sum of p it checks "
          "(u None), or the index it draws for its uniform number u.");
    m.def("mean_column_variance", &mean_column_variance, py::arg("rows"),
          "The mean of a 2-D float64 array's column variances (NaN for no rows).");
    m.def("count_distinct", &count_distinct, py::arg("labels"), py::arg("n_labels"),
          "How many different values an int32 array of labels in [0, n_labels) holds.");
    m.def("all_finite", &all_finite_arrays, py::arg("arrays"),
          "Whether every value of every float64 array is finite.");
    m.def("fixed_pass", &fixed_pass, py::arg("X"), py::arg("sample_weight"), py::arg("labels"), py::arg("resp"),
          py::arg("centers"), py::arg("covariance_type"), py::arg("shift"), py::arg("n_threads") = 0,
          "Sufficient statistics of X under fixed responsibilities.");
    m.def("score", &score, py::arg("X"), py::arg("log_weights"), py::arg("means"), py::arg("precisions_cholesky"),
          py::arg("covariance_type"), py::arg("shift"), py::arg("what"), py::arg("n_threads") = 0,
          py::arg("dofs") = py::none(),
          "Read-only pass: log p(x), responsibilities, labels or Mahalanobis distances (dofs: Student-t).");
    m.def("kmeans_plusplus", &kmeans_plusplus, py::arg("X"), py::arg("sample_weight"), py::arg("shift"),
          py::arg("n_clusters"), py::arg("first"), py::arg("draws"), py::arg("n_threads") = 0,
          "scikit-learn's k-means++ seeding from its random draws; the seeds' row indices.");
    m.def("kmeans_closest", &kmeans_closest, py::arg("X"), py::arg("sample_weight"), py::arg("shift"),
          py::arg("cands"), py::arg("closest"), py::arg("update"), py::arg("n_threads") = 0,
          "A k-means++ step on part of the data (see csrc/core.hpp).");
    m.def("kmeans_lloyd", &kmeans_lloyd, py::arg("X"), py::arg("sample_weight"), py::arg("shift"),
          py::arg("centers"), py::arg("labels"), py::arg("max_iter"), py::arg("tol"), py::arg("n_threads") = 0,
          "Lloyd iterations to scikit-learn's KMeans stopping rule (see csrc/core.hpp).");
    m.def("m_step", &m_step, py::arg("s0"), py::arg("s1"), py::arg("s2"), py::arg("centers"),
          py::arg("covariance_type"), py::arg("reg_covar"), py::arg("empty_threshold"), py::arg("scale"),
          py::arg("resp") = py::none(),
          "Parameters from sufficient statistics (resp: the responsibilities' sums of Student-t statistics).");
    m.def("precision_cholesky", &precision_cholesky, py::arg("covariances"), py::arg("covariance_type"),
          py::arg("scale"), "Precision Cholesky factors (with jitter where needed).");
    m.def("variational_m_step", &variational_m_step, py::arg("s0"), py::arg("s1"), py::arg("s2"),
          py::arg("centers"), py::arg("covariance_type"), py::arg("prior"), py::arg("reg_covar"), py::arg("scale"),
          py::arg("counts"),
          "scikit-learn's variational M-step (BayesianGaussianMixture) from statistics standing for counts "
          "samples' each; prior: emfast._variational.Prior.native().");
    m.def("variational_e_step", &variational_e_step, py::arg("prior_type"), py::arg("posterior"),
          py::arg("n_features"), py::arg("log_weights") = true,
          "(log_weights, weights) of a variational posterior (emfast._variational.Posterior.native()): the "
          "E-step's log-weights (None unless log_weights) and weights_.");
    m.def("svi_step", &svi_step, py::arg("X"), py::arg("sample_weight"), py::arg("covariance_type"), py::arg("prior"),
          py::arg("posterior"), py::arg("running"), py::arg("rho"), py::arg("counts"), py::arg("seen_weight"),
          py::arg("weight_scale"), py::arg("reg_covar"), py::arg("scale"), py::arg("n_threads") = 0,
          "One step of stochastic variational inference: the E-step pass over a mini-batch, the blend of its "
          "statistics into the running ones and the variational M-step.");
    m.def("plan_memory", &plan_memory, py::arg("n_samples"), py::arg("n_features"), py::arg("n_components"),
          py::arg("covariance_type"), py::arg("out_columns") = 0, py::arg("itemsize") = 8,
          "Bytes a pass will allocate; MemoryError beyond the machine's memory, ValueError on 64-bit overflow.");
    m.def("max_threads", &emfast::max_threads);
    m.def(
        "_vector_math",
        [](const std::string& fn, F64 x) {
            if (fn != "exp" && fn != "log" && fn != "digamma") fail("_vector_math: fn must be 'exp', 'log' or 'digamma'");
            if (x.ndim() != 1) fail("_vector_math: x must be 1-D");
            F64 out(x.shape(0));
            kernels().vector_math(fn == "exp" ? 0 : fn == "log" ? 1 : 2, x.data(), x.shape(0), out.mutable_data());
            return out;
        },
        py::arg("fn"), py::arg("x"),
        "The kernels' vectorised exp or log (log: positive normal x only), or their digamma, for tests.");
    m.def(
        "cpu_supports",
        [](const std::string& feature) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_cpu_init();
            if (feature == "avx2") return bool(__builtin_cpu_supports("avx2"));
            if (feature == "fma") return bool(__builtin_cpu_supports("fma"));
            if (feature == "avx512f") return bool(__builtin_cpu_supports("avx512f"));
            if (feature == "avx512dq") return bool(__builtin_cpu_supports("avx512dq"));
            if (feature == "avx512bw") return bool(__builtin_cpu_supports("avx512bw"));
            if (feature == "avx512vl") return bool(__builtin_cpu_supports("avx512vl"));
#endif
            (void)feature;
            return false;
        },
        py::arg("feature"), "Whether the CPU and the OS support an x86 instruction-set extension.");
    m.attr("openmp") = emfast::have_openmp();
    m.attr("HALF_LOG_2PI") = emfast::kHalfLog2Pi;
    m.attr("WEIGHT_EPS") = emfast::kWeightEps;
    m.attr("compiler") = EMFAST_COMPILER;
    register_bp(m);
    register_memory(m);
}
