// What the binding files of emfast._core share: the kernel table in use, and
// running a kernel with the GIL released and Ctrl-C honoured.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "../kernels.hpp"

namespace emfast_py {

namespace py = pybind11;

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }

[[noreturn]] inline void fail_memory(const std::string& msg) {
    PyErr_SetString(PyExc_MemoryError, msg.c_str());
    throw py::error_already_set();
}

// Physical memory in bytes (0 if unknown: only overflow is checked then).
inline int64_t physical_memory() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && int64_t(pages) <= std::numeric_limits<int64_t>::max() / int64_t(page))
        return int64_t(pages) * int64_t(page);
#endif
    return 0;
}

inline std::string gib(int64_t bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g GiB", double(bytes) / double(int64_t(1) << 30));
    return buf;
}

// The kernel table chosen at import (emfast._native); ImportError-like before.
const emfast::KernelTable& kernels();

// The Python callable progress reports go to (emfast._progress.notify), or None.
py::object& progress_hook();

// An Exec whose poll checks for a pending signal (Ctrl-C) with the GIL held
// (Python runs the handler, which usually raises KeyboardInterrupt), and whose
// progress reports go to the progress hook; an exception there stops the call
// and is raised once the GIL is held again.
inline emfast::Exec python_exec(int n_threads) {
    emfast::Exec ex;
    ex.n_threads = n_threads;
    ex.poll = [] {
        py::gil_scoped_acquire gil;
        return PyErr_CheckSignals() != 0;
    };
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
