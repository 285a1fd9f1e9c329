// The extension module emfast._kernels_<isa>: a capsule holding this
// instruction set's kernel table, which emfast._core calls through. Plain
// Python C API: nothing here needs pybind11.
#include <Python.h>
#include <pthread.h>

#include "../kernels.hpp"

#ifndef EMFAST_KERNELS_INIT
#error "EMFAST_KERNELS_INIT must name the module's init function"
#endif

namespace {

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, nullptr, "emfast SIMD kernels for one instruction set (see emfast.show_config())", -1,
    nullptr, nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

extern "C" PyMODINIT_FUNC EMFAST_KERNELS_INIT() {
    // in a forked child the kernels run on one thread (see parallel.hpp)
    pthread_atfork(nullptr, nullptr, emfast::mark_forked_child);
    module_def.m_name = EMFAST_KERNELS_NAME;
    PyObject* m = PyModule_Create(&module_def);
    if (!m) return nullptr;
    PyObject* capsule =
        PyCapsule_New(const_cast<emfast::KernelTable*>(emfast::kernel_table()), "emfast.KernelTable", nullptr);
    if (!capsule || PyModule_AddObject(m, "table", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return nullptr;
    }
    if (PyModule_AddStringConstant(m, "simd", emfast::kernel_table()->simd) < 0) {
        Py_DECREF(m);
        return nullptr;
    }
    return m;
}
