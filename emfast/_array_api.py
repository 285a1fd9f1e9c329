"""Array API inputs, as scikit-learn accepts them with ``array_api_dispatch=True``.

With ``sklearn.set_config(array_api_dispatch=True)``, arrays of another
namespace (torch CPU tensors, array-api-strict arrays, ...) are read through
DLPack, without a copy where their dtype and layout allow, fitted and scored by
the kernels on the CPU, and the outputs and fitted attributes are returned in
the caller's namespace and on its device, as scikit-learn's GaussianMixture
does. Arrays on a device the CPU cannot read (a GPU, torch's 'meta') are a
ValueError naming the device. With dispatch off (the default), such arrays are
converted to NumPy as scikit-learn converts them, and outputs are NumPy arrays.
"""

import contextvars
import functools
import numbers

import numpy as np
from sklearn import config_context, get_config

# DLPack's device type of host memory
_DLPACK_CPU = 1

# what a fit stores, as scikit-learn stores them under array API dispatch
FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def namespace(*arrays):
    """(xp, device) of the arrays that are not NumPy's, when scikit-learn's array
    API dispatch is on; None otherwise (NumPy in, NumPy out)."""
    if not get_config().get("array_api_dispatch", False):
        return None
    foreign = [a for a in arrays if _is_foreign(a)]
    if not foreign:
        return None
    from sklearn.utils._array_api import get_namespace_and_device

    xp, _, device = get_namespace_and_device(*foreign)
    return xp, device


def namespace_of(a):
    """(xp, device) of one array of another namespace, dispatch on or off."""
    from sklearn.utils._array_api import get_namespace_and_device

    with config_context(array_api_dispatch=True):
        xp, _, device = get_namespace_and_device(a)
    return xp, device


def _is_foreign(a):
    return (
        a is not None
        and not isinstance(a, (np.ndarray, np.generic, numbers.Number, list, tuple, str))
        and (hasattr(a, "__array_namespace__") or hasattr(a, "__dlpack__"))  # torch has the latter only
    )


def device_name(a):
    device = getattr(a, "device", None)
    return str(device) if device is not None else "unknown"


def to_numpy(a, name="X"):
    """A NumPy array with a's values: a view through DLPack where possible.

    ValueError for an array on a device other than the CPU's memory; TypeError
    for one that NumPy cannot hold (after converting its dtype to float64 in its
    own namespace, as scikit-learn's validation would).
    """
    if not _is_foreign(a):
        return a
    try:
        device_type = int(a.__dlpack_device__()[0])
    except Exception as exc:  # torch's 'meta' tensors have no memory at all
        raise ValueError(
            f"{name} is a {type(a).__name__} on device '{device_name(a)}', which emfast cannot "
            "read: emfast computes on the CPU. Move it to the CPU first (torch: X.cpu())."
        ) from exc
    if device_type != _DLPACK_CPU:
        raise ValueError(
            f"{name} is a {type(a).__name__} on device '{device_name(a)}': emfast computes on the "
            "CPU and reads arrays in its memory only. Move it to the CPU first (torch: X.cpu())."
        )
    try:
        return np.from_dlpack(a)
    except (BufferError, RuntimeError, TypeError, ValueError) as first:
        try:  # a dtype DLPack cannot hand to NumPy (bfloat16, ...): float64, as validation would
            xp, _ = namespace_of(a)
            return np.from_dlpack(xp.astype(a, xp.float64))
        except Exception:
            raise TypeError(
                f"{name} ({type(a).__name__} of dtype {a.dtype}) cannot be read as an array of "
                f"numbers: {first}"
            ) from first


def from_numpy(out, xp, device):
    """out (an array, a NumPy scalar, or a tuple of them) in namespace xp on device."""
    if isinstance(out, tuple):
        return tuple(from_numpy(o, xp, device) for o in out)
    if isinstance(out, (np.ndarray, np.generic)):
        return xp.asarray(out, device=device)
    return out


def store_in_namespace(estimator, xp, device):
    """The fitted attributes as scikit-learn keeps them under dispatch: arrays of
    xp on device (lower_bound_ a 0-d one, lower_bounds_ a list of them)."""
    for name in FITTED_ARRAYS:
        setattr(estimator, name, xp.asarray(getattr(estimator, name), device=device))
    dtype = estimator.means_.dtype
    if hasattr(estimator, "lower_bound_"):
        estimator.lower_bound_ = xp.asarray(estimator.lower_bound_, dtype=dtype, device=device)
    if hasattr(estimator, "lower_bounds_"):
        estimator.lower_bounds_ = [xp.asarray(b, dtype=dtype, device=device) for b in estimator.lower_bounds_]


def restore_numpy(estimator):
    """The fitted attributes back in NumPy (a refit, a warm start, runs on them).
    NumPy attributes (all of them, but after a fit under dispatch) are left as
    they are: every partial_fit step comes through here."""
    state = vars(estimator)
    for name in FITTED_ARRAYS:
        if _is_foreign(state.get(name)):
            setattr(estimator, name, numpy_attribute(state[name]))
    if _is_foreign(state.get("lower_bound_")):
        estimator.lower_bound_ = to_numpy(estimator.lower_bound_)[()]
        estimator.lower_bounds_ = [to_numpy(b)[()] for b in getattr(estimator, "lower_bounds_", [])]


def _numpy_args(args, kwargs):
    args = tuple(to_numpy(a, "an argument") for a in args)
    kwargs = {k: to_numpy(v, k) for k, v in kwargs.items()}
    return args, kwargs


# set while a decorated method runs in this thread: the calls it makes on the
# NumPy arrays it converted are not checked or converted again
_outermost = contextvars.ContextVar("emfast_array_api_outermost", default=True)


def _dispatching():
    """Dispatch is on and no decorated method is running in this thread."""
    return _outermost.get() and get_config().get("array_api_dispatch", False)


def _on_numpy(method, estimator, X, args, kwargs):
    """method on NumPy views of X and of the other arguments."""
    args, kwargs = _numpy_args(args, kwargs)
    token = _outermost.set(False)
    try:
        return method(estimator, to_numpy(X), *args, **kwargs)
    finally:
        _outermost.reset(token)


def check_same_namespace_as_fit(estimator, X, method):
    """scikit-learn's ValueError (>= 1.9) for X of another namespace or device than
    the fitted attributes, under dispatch."""
    try:
        from sklearn.utils._array_api import check_same_namespace
    except ImportError:  # scikit-learn < 1.9 does not check
        return
    if hasattr(estimator, "means_"):
        check_same_namespace(X, estimator, attribute="means_", method=method)


def array_api_method(method):
    """Decorate a method taking X: with dispatch on, array API arrays are read as
    NumPy arrays (after scikit-learn's check that X's namespace and device are the
    fitted attributes'), and array outputs go back to X's namespace and device."""

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if not _dispatching():
            return method(self, X, *args, **kwargs)
        check_same_namespace_as_fit(self, X, method.__name__)
        where = namespace(X)
        out = _on_numpy(method, self, X, args, kwargs)
        return out if where is None else from_numpy(out, *where)

    return wrapper


def array_api_fit(method):
    """Decorate a fit method: with dispatch on, array API inputs are fitted as
    NumPy arrays, and the fitted attributes (and the returned labels, if any) are
    kept in X's namespace and on its device."""

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        restore_numpy(self)
        if not _dispatching():
            return method(self, X, *args, **kwargs)
        where = namespace(X)
        out = _on_numpy(method, self, X, args, kwargs)
        if where is None:
            return out
        store_in_namespace(self, *where)
        return self if out is self else from_numpy(out, *where)

    return wrapper


def numpy_attribute(a):
    """A fitted attribute as a NumPy array (those fitted on array API inputs are
    arrays of the caller's namespace)."""
    return to_numpy(a, "a fitted attribute") if _is_foreign(a) else a
