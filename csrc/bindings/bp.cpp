// pybind11 bindings of the belief-propagation kernels (csrc/bp.hpp): check
// every array at the boundary, release the GIL, call the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "common.hpp"
#include "memory.hpp"

namespace py = pybind11;
using emfast_py::fail;
using emfast_py::kernels;

namespace {

namespace bp = emfast::bp;

// A 1-D C-contiguous array of exactly type T (no silent conversion), of length n (-1: any).
template <class T> py::array_t<T> vector_arg(const py::array& a, const char* name, int64_t n, const char* type) {
    if (a.ndim() != 1 || !py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style))
        fail(std::string(name) + " must be a 1-D C-contiguous " + type + " array");
    if (n >= 0 && a.shape(0) != n)
        fail(std::string(name) + " must have length " + std::to_string(n) + ", got " + std::to_string(a.shape(0)));
    return py::reinterpret_borrow<py::array_t<T>>(a);
}

struct BagArrays {
    py::array_t<int64_t> offsets, members;
    py::array_t<double> counts;
    bp::Bags bags;
};

BagArrays as_bags(const py::array& offsets, const py::array& members, const py::array& counts, int64_t n) {
    BagArrays a;
    a.offsets = vector_arg<int64_t>(offsets, "bag_offsets", -1, "int64");
    if (a.offsets.shape(0) < 1) fail("bag_offsets must have at least one entry");
    const int64_t nb = a.offsets.shape(0) - 1;
    a.members = vector_arg<int64_t>(members, "bag_members", n, "int64");
    a.counts = vector_arg<double>(counts, "bag_counts", nb, "float64");
    a.bags.n_bags = nb;
    a.bags.offsets = a.offsets.data();
    a.bags.members = a.members.data();
    a.bags.counts = a.counts.data();
    return a;
}

bp::BagFactor parse_factor(const std::string& s) {
    if (s == "exact") return bp::BagFactor::Exact;
    if (s == "pairwise") return bp::BagFactor::Pairwise;
    fail("bag_factor must be 'exact' or 'pairwise', got '" + s + "'");
}

// MemoryError before run() allocates more than this process may use.
void check_bp_memory(int64_t n, int64_t nnz, const bp::Bags& bags, bp::BagFactor factor) {
    const double bytes = bp::working_bytes(n, nnz, bags, factor);
    const int64_t limit = emfast_py::memory_limit();
    if (limit > 0 && bytes > double(limit)) {
        const std::string msg =
            "belief propagation would need at least " + emfast_py::gib(int64_t(std::min(bytes, 9e18))) +
            (factor == bp::BagFactor::Pairwise ? " (bag_factor='pairwise' stores |bag|^2 messages per bag)" : "") +
            ", more than the " + emfast_py::gib(limit) +
            " this process may use: use bag_factor='exact', fewer neighbours or fewer rows";
        PyErr_SetString(PyExc_MemoryError, msg.c_str());
        throw py::error_already_set();
    }
}

py::dict bp_run(const py::array& indptr, const py::array& indices, const py::array& sim, const py::array& bag_offsets,
                const py::array& bag_members, const py::array& bag_counts, double similarity_weight,
                double bag_weight, const std::string& bag_factor, int64_t max_iter, double damping, double tol,
                int n_threads, const py::object& field) {
    auto ip = vector_arg<int64_t>(indptr, "indptr", -1, "int64");
    if (ip.shape(0) < 1) fail("indptr must have at least one entry");
    const int64_t n = ip.shape(0) - 1;
    const int64_t nnz = ip.data()[n];
    if (nnz < 0) fail("indptr[-1] must be non-negative");
    auto ix = vector_arg<int64_t>(indices, "indices", nnz, "int64");
    auto sv = vector_arg<double>(sim, "similarities", nnz, "float64");
    BagArrays ba = as_bags(bag_offsets, bag_members, bag_counts, n);
    py::array_t<double> fd;
    bp::Graph g;
    g.n = n;
    g.indptr = ip.data();
    g.indices = ix.data();
    g.sim = sv.data();
    if (!field.is_none()) {
        fd = vector_arg<double>(field.cast<py::array>(), "field", n, "float64");
        g.field = fd.data();
    }
    bp::Options opt;
    opt.similarity_weight = similarity_weight;
    opt.bag_weight = bag_weight;
    opt.bag_factor = parse_factor(bag_factor);
    opt.max_iter = max_iter;
    opt.damping = damping;
    opt.tol = tol;
    check_bp_memory(n, nnz, ba.bags, opt.bag_factor);
    const emfast::Exec ex = emfast_py::python_exec(n_threads);
    const bp::Result r = emfast_py::without_gil([&] { return kernels().bp_run(g, ba.bags, opt, ex); });
    py::array_t<double> marg(n);
    std::copy(r.marginals.begin(), r.marginals.end(), marg.mutable_data());
    py::dict d;
    d["marginals"] = marg;
    d["n_iter"] = r.n_iter;
    d["converged"] = r.converged;
    d["delta"] = r.delta;
    return d;
}

py::array_t<double> bp_exact_bag_messages(const py::array& cavity, const py::array& bag_offsets,
                                          const py::array& bag_members, const py::array& bag_counts,
                                          double bag_weight, int n_threads, const py::object& log_partition) {
    auto cav = vector_arg<double>(cavity, "cavity", -1, "float64");
    const int64_t n = cav.shape(0);
    BagArrays ba = as_bags(bag_offsets, bag_members, bag_counts, n);
    double* lz = nullptr;
    py::array_t<double> lz_arr;
    if (!log_partition.is_none()) {
        lz_arr = vector_arg<double>(log_partition.cast<py::array>(), "log_partition", ba.bags.n_bags, "float64");
        if (!lz_arr.writeable()) fail("log_partition must be writeable");
        lz = lz_arr.mutable_data();
    }
    py::array_t<double> out(n);
    double* o = out.mutable_data();
    const double* c = cav.data();
    const emfast::Exec ex = emfast_py::python_exec(n_threads);
    emfast_py::without_gil([&] { kernels().bp_exact_bag_messages(ba.bags, n, bag_weight, c, o, lz, ex); });
    return out;
}

}  // namespace

void register_bp(py::module_& m) {
    m.def("bp_run", &bp_run, py::arg("indptr"), py::arg("indices"), py::arg("similarities"), py::arg("bag_offsets"),
          py::arg("bag_members"), py::arg("bag_counts"), py::arg("similarity_weight"), py::arg("bag_weight"),
          py::arg("bag_factor"), py::arg("max_iter"), py::arg("damping"), py::arg("tol"), py::arg("n_threads") = 0,
          py::arg("field") = py::none(),
          "Loopy belief propagation for learning from label proportions; returns the marginals P(y_i = 1).");
    m.def("bp_exact_bag_messages", &bp_exact_bag_messages, py::arg("cavity"), py::arg("bag_offsets"),
          py::arg("bag_members"), py::arg("bag_counts"), py::arg("bag_weight"), py::arg("n_threads") = 0,
          py::arg("log_partition") = py::none(),
          "Messages (log-odds) of the exact bag factors given every row's cavity log-odds; log_partition "
          "(float64, one per bag), when given, receives each bag's log sum_c psi(c) P(count = c).");
    // the limits of the kernels, for the estimators' parameter checks
    m.attr("BP_INF_LOG_ODDS") = bp::kInfLogOdds;
    m.attr("BP_MAX_WEIGHT") = bp::kMaxWeight;
    m.attr("BP_MAX_COUPLING") = bp::kMaxCoupling;
    m.attr("BP_MAX_PAIRWISE_BAG") = bp::kMaxPairwiseBag;
    m.attr("BP_MAX_ITER") = bp::kMaxIter;
}
