// What the binding files of emfast._core share: the kernel table in use, and
// running a kernel with the GIL released and Ctrl-C honoured.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "../kernels.hpp"

namespace emfast_py {

namespace py = pybind11;

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Sizes in checked 64-bit arithmetic: ValueError rather than a wrapped size.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
    if (a < 0 || b < 0 || (a > 0 && b > std::numeric_limits<int64_t>::max() / a))
        fail(std::string("size overflow in ") + what + " (more than 2^63 elements)");
    return a * b;
}
inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
    if (a < 0 || b < 0 || b > std::numeric_limits<int64_t>::max() - a)
        fail(std::string("size overflow in ") + what + " (more than 2^63 elements)");
    return a + b;
}

// The kernel table chosen at import (emfast._native); ImportError-like before.
const emfast::KernelTable& kernels();

// The Python callable progress reports go to (emfast._progress.notify), or None.
py::object& progress_hook();

// An Exec whose poll checks for a pending signal (Ctrl-C) with the GIL held
// (Python runs the handler, which usually raises KeyboardInterrupt), and whose
// progress reports go to the progress hook, if one is set (called with the GIL
// held); an exception there stops the call and is raised once the GIL is held again.
inline emfast::Exec python_exec(int n_threads) {
    emfast::Exec ex;
    ex.n_threads = n_threads;
    ex.poll = [] {
        py::gil_scoped_acquire gil;
        return PyErr_CheckSignals() != 0;
    };
    if (progress_hook().is_none()) return ex;  // nobody listens: no report costs a GIL round trip
    ex.progress = [](const char* stage, int64_t done, int64_t total) {
        py::gil_scoped_acquire gil;
        if (progress_hook().is_none()) return false;
        try {
            progress_hook()(stage, done, total);
            return false;
        } catch (py::error_already_set& e) {
            e.restore();
            return true;
        }
    };
    return ex;
}

// Runs f() with the GIL released; an interruption becomes the pending Python
// exception (KeyboardInterrupt), raised once the GIL is held again.
template <class F> auto without_gil(F&& f) -> decltype(f()) {
    {
        py::gil_scoped_release nogil;
        try {
            return f();
        } catch (const emfast::Interrupted&) {
        }
    }
    // poll stopped the kernel because PyErr_CheckSignals set an exception
    if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
}

}  // namespace emfast_py
