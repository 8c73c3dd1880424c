// densegrad._core: pybind11 glue over the C++ core, nothing more. Every function does the same
// four steps: check the NumPy operands (type, dtype, shape, contiguity, writeability, overlap),
// allocate outputs, release the GIL around the kernel call, return. No maths here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "densegrad/densegrad.hpp"
#include "densegrad/mlp.hpp"
#include "densegrad/threads.hpp"

namespace py = pybind11;
using densegrad::Activation;
using densegrad::Index;
using densegrad::Reduction;
using densegrad::Trans;

namespace {

// ---- operand checks -----------------------------------------------------------------------------

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// The operand as a NumPy array; anything else (lists, torch tensors, ...) is a TypeError.
py::array as_array(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy.ndarray, got " +
                         py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  return py::reinterpret_borrow<py::array>(obj);
}

enum class DType { F32, F64 };

// NumPy's descriptor of T (a borrowed reference to its built-in singleton, looked up once).
template <typename T>
PyObject* descr_of() {
  static PyObject* const d = py::dtype::of<T>().release().ptr();  // kept for the process's life
  return d;
}

// Whether a holds native-order T. Most arrays carry the built-in descriptor itself, which an
// identity test settles; any other goes through equal(), which also rejects non-native byte
// order ('>f4'), which the kernels cannot read. (A step checks ~40 operands: equal() alone,
// with its descriptor look-up, cost ~1.2k instructions per seed autograd step, callgrind.)
template <typename T>
bool has_dtype(const py::array& a) {
  PyObject* d = reinterpret_cast<PyObject*>(py::detail::array_proxy(a.ptr())->descr);
  return d == descr_of<T>() || a.dtype().equal(py::reinterpret_borrow<py::dtype>(descr_of<T>()));
}

DType dtype_of(const py::array& a, const char* name) {
  if (has_dtype<float>(a)) return DType::F32;
  if (has_dtype<double>(a)) return DType::F64;
  throw py::type_error(std::string(name) + ": expected float32 or float64, got " + dtype_name(a));
}

template <typename T>
const char* dtype_label() { return std::is_same<T, float>::value ? "float32" : "float64"; }

// A C-contiguous array of T with the given number of dimensions (-1: any).
template <typename T>
void check_operand(const py::array& a, const char* name, int ndim, bool writeable = false) {
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(name) + ": expected " + dtype_label<T>() +
                         " like the other operands, got " + dtype_name(a));
  if (ndim >= 0 && a.ndim() != ndim)
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) +
                          "-D, got shape " + shape_of(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous (numpy.ascontiguousarray)");
  // A C-contiguous array can still start at an odd address (np.frombuffer with an offset); the
  // kernels' scalar loads of T from it would be undefined behaviour (UBSan: misaligned load).
  if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error(std::string(name) + " is not aligned to its dtype (copy it: numpy.require(a, requirements='CA'))");
  if (writeable && !a.writeable())
    throw py::value_error(std::string(name) + " is read-only but is updated in place");
}

void check_same_shape(const py::array& a, const char* an, const py::array& b, const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  if (!same)
    throw py::value_error(std::string(an) + " and " + bn + " must have the same shape, got " +
                          shape_of(a) + " and " + shape_of(b));
}

void check_no_overlap(const py::array& a, const char* an, const py::array& b, const char* bn) {
  const auto* a0 = static_cast<const char*>(a.data());
  const auto* b0 = static_cast<const char*>(b.data());
  if (a.nbytes() > 0 && b.nbytes() > 0 && a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes())
    throw py::value_error(std::string(an) + " and " + bn + " overlap in memory");
}

// The output size must be addressable before anything is allocated.
template <typename T>
void check_alloc(const char* name, Index rows, Index cols) {
  densegrad::detail::require_shape(name, rows, cols, sizeof(T));
}

template <typename T>
const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <typename T>
T* mptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <typename T>
T* mptr(std::optional<py::array>& a) { return a ? static_cast<T*>(a->mutable_data()) : nullptr; }

// Calls f.template operator()<float>() or <double>() by the dtype of `a`.
template <typename F>
auto dispatch(const py::array& a, const char* name, F&& f) {
  return dtype_of(a, name) == DType::F32 ? f(float{}) : f(double{});
}

// A field of a layer tuple as T; a wrong type is a TypeError naming the field (pybind11's own
// cast_error would surface as a RuntimeError without the field's name).
template <typename T>
T field(const py::handle& obj, std::size_t layer, const char* name) {
  try {
    return obj.cast<T>();
  } catch (const py::builtin_exception&) {  // cast_error, or reference_cast_error for None
    throw py::type_error("layer " + std::to_string(layer) + ": " + name + " has the wrong type (" +
                         py::str(py::type::of(obj).attr("__name__")).cast<std::string>() + ")");
  }
}

// A new, uninitialised C-contiguous array of T: NumPy's constructor called directly. pybind11's
// array_t(shape) builds std::vectors for the shape and the strides on every call (switching cut
// the seed network's autograd step from 229.5k to 224.4k instructions, callgrind).
template <typename T>
py::array_t<T> new_array(int ndim, const py::ssize_t* shape) {
  constexpr int kMaxDims = 64;  // NumPy 2's limit (NumPy 1: 32, which NumPy itself enforces)
  if (ndim > kMaxDims) throw py::value_error("too many dimensions: " + std::to_string(ndim));
  Py_intptr_t dims[kMaxDims];
  for (int i = 0; i < ndim; ++i) dims[i] = static_cast<Py_intptr_t>(shape[i]);
  auto& api = py::detail::npy_api::get();
  // PyArray_NewFromDescr steals the reference to the descriptor, also when it fails.
  PyObject* descr = descr_of<T>();
  Py_INCREF(descr);
  PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, ndim, dims,
                                          nullptr, nullptr, 0, nullptr);
  if (a == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array_t<T>>(a);
}
template <typename T>
py::array_t<T> new_array(Index rows, Index cols) {
  const py::ssize_t shape[2] = {rows, cols};
  return new_array<T>(2, shape);
}
template <typename T>
py::array_t<T> new_array(Index n) {
  const py::ssize_t shape[1] = {n};
  return new_array<T>(1, shape);
}
template <typename T>
py::array_t<T> new_array_like(const py::array& a) { return new_array<T>(int(a.ndim()), a.shape()); }

std::optional<py::array> opt_array(const py::object& obj, const char* name) {
  if (obj.is_none()) return std::nullopt;
  return as_array(obj, name);
}

// ---- GEMM -------------------------------------------------------------------------------------

py::array gemm(const py::object& a_obj, const py::object& b_obj, bool trans_a, bool trans_b,
               bool reference) {
  py::array a = as_array(a_obj, "a"), b = as_array(b_obj, "b");
  return dispatch(a, "a", [&](auto tag) -> py::array {
    using T = decltype(tag);
    check_operand<T>(a, "a", 2);
    check_operand<T>(b, "b", 2);
    const Index m = trans_a ? a.shape(1) : a.shape(0), k = trans_a ? a.shape(0) : a.shape(1);
    const Index kb = trans_b ? b.shape(1) : b.shape(0), n = trans_b ? b.shape(0) : b.shape(1);
    if (k != kb)
      throw py::value_error("mat1 and mat2 shapes cannot be multiplied (" + std::to_string(m) +
                            "x" + std::to_string(k) + " and " + std::to_string(kb) + "x" +
                            std::to_string(n) + ")");
    check_alloc<T>("gemm output", m, n);
    py::array_t<T> c = new_array<T>(m, n);
    const T *ap = cptr<T>(a), *bp = cptr<T>(b);
    T* cp = c.mutable_data();
    const Trans ta = trans_a ? Trans::Yes : Trans::No, tb = trans_b ? Trans::Yes : Trans::No;
    const Index lda = a.shape(1), ldb = b.shape(1);
    {
      py::gil_scoped_release nogil;
      if (reference)
        densegrad::gemm_reference<T>(ta, tb, m, n, k, T(1), ap, lda, bp, ldb, T(0), cp, n);
      else
        densegrad::gemm<T>(ta, tb, m, n, k, T(1), ap, lda, bp, ldb, T(0), cp, n);
    }
    return c;
  });
}

// ---- dense layer ------------------------------------------------------------------------------

py::tuple dense_forward(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                        Activation act, double slope, bool keep_preactivation) {
  py::array x = as_array(x_obj, "x"), w = as_array(w_obj, "w");
  std::optional<py::array> b = opt_array(b_obj, "b");
  return dispatch(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_operand<T>(x, "x", 2);
    check_operand<T>(w, "w", 2);
    const Index batch = x.shape(0), in = x.shape(1), out = w.shape(0);
    if (w.shape(1) != in)
      throw py::value_error("mat1 and mat2 shapes cannot be multiplied (" + std::to_string(batch) +
                            "x" + std::to_string(in) + " and " + std::to_string(w.shape(1)) +
                            "x" + std::to_string(out) + ")");
    if (b) {
      check_operand<T>(*b, "b", 1);
      if (b->shape(0) != out)
        throw py::value_error("b must have shape (" + std::to_string(out) + ",) to match w " +
                              shape_of(w) + ", got " + shape_of(*b));
    }
    check_alloc<T>("dense output", batch, out);
    py::array_t<T> y = new_array<T>(batch, out);
    std::optional<py::array> z;
    if (keep_preactivation) z = new_array<T>(batch, out);
    const T *xp = cptr<T>(x), *wp = cptr<T>(w), *bp = b ? cptr<T>(*b) : nullptr;
    T *yp = y.mutable_data(), *zp = mptr<T>(z);
    {
      py::gil_scoped_release nogil;
      densegrad::dense_forward<T>(yp, zp, xp, wp, bp, batch, in, out, act, T(slope));
    }
    return py::make_tuple(y, z ? py::object(*z) : py::object(py::none()));
  });
}

py::tuple dense_backward(const py::object& dy_obj, const py::object& x_obj, const py::object& w_obj,
                         const py::object& y_obj, const py::object& z_obj, Activation act,
                         double slope, bool need_dx, bool need_dw, bool need_db) {
  py::array dy = as_array(dy_obj, "dy"), x = as_array(x_obj, "x"), w = as_array(w_obj, "w");
  py::array y = as_array(y_obj, "y");
  std::optional<py::array> z = opt_array(z_obj, "z");
  return dispatch(dy, "dy", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_operand<T>(dy, "dy", 2);
    check_operand<T>(x, "x", 2);
    check_operand<T>(w, "w", 2);
    check_operand<T>(y, "y", 2);
    const Index batch = x.shape(0), in = x.shape(1), out = w.shape(0);
    if (w.shape(1) != in)
      throw py::value_error("w " + shape_of(w) + " does not match x " + shape_of(x));
    if (dy.shape(0) != batch || dy.shape(1) != out)
      throw py::value_error("dy must have shape (" + std::to_string(batch) + ", " +
                            std::to_string(out) + "), got " + shape_of(dy));
    check_same_shape(dy, "dy", y, "y");
    if (z) {
      check_operand<T>(*z, "z", 2);
      check_same_shape(dy, "dy", *z, "z");
    } else if (densegrad::activation_needs_preactivation(act, slope)) {
      throw py::value_error(densegrad::activation_name(act) +
                            " with a slope <= 0 (in float32) needs the pre-activation z");
    }
    py::object dx = py::none(), dw = py::none(), db = py::none();
    T *dxp = nullptr, *dwp = nullptr, *dbp = nullptr, *dzp = nullptr;
    if (need_dx) { auto a = new_array<T>(batch, in); dxp = a.mutable_data(); dx = a; }
    if (need_dw) { auto a = new_array<T>(out, in); dwp = a.mutable_data(); dw = a; }
    if (need_db) { auto a = new_array<T>(out); dbp = a.mutable_data(); db = a; }
    py::array_t<T> dz;
    if (act != Activation::Identity) { dz = new_array<T>(batch, out); dzp = dz.mutable_data(); }
    const T *dyp = cptr<T>(dy), *xp = cptr<T>(x), *wp = cptr<T>(w), *yp = cptr<T>(y);
    const T* zp = z ? cptr<T>(*z) : nullptr;
    {
      py::gil_scoped_release nogil;
      densegrad::dense_backward<T>(dxp, dwp, dbp, dzp, dyp, xp, wp, yp, zp, batch, in, out, act,
                                   T(slope), false);
    }
    return py::make_tuple(dx, dw, db);
  });
}

// ---- elementwise activations ------------------------------------------------------------------

py::array activation_forward(const py::object& z_obj, Activation act, double slope) {
  py::array z = as_array(z_obj, "z");
  return dispatch(z, "z", [&](auto tag) -> py::array {
    using T = decltype(tag);
    check_operand<T>(z, "z", -1);
    py::array_t<T> y = new_array_like<T>(z);
    const T* zp = cptr<T>(z);
    T* yp = y.mutable_data();
    const Index n = z.size();
    {
      py::gil_scoped_release nogil;
      densegrad::activation_forward<T>(yp, zp, n, act, T(slope));
    }
    return y;
  });
}

py::array activation_backward(const py::object& dy_obj, const py::object& y_obj,
                              const py::object& z_obj, Activation act, double slope) {
  py::array dy = as_array(dy_obj, "dy"), y = as_array(y_obj, "y");
  std::optional<py::array> z = opt_array(z_obj, "z");
  return dispatch(dy, "dy", [&](auto tag) -> py::array {
    using T = decltype(tag);
    check_operand<T>(dy, "dy", -1);
    check_operand<T>(y, "y", -1);
    check_same_shape(dy, "dy", y, "y");
    if (z) {
      check_operand<T>(*z, "z", -1);
      check_same_shape(dy, "dy", *z, "z");
    } else if (densegrad::activation_needs_preactivation(act, slope)) {
      throw py::value_error(densegrad::activation_name(act) +
                            " with a slope <= 0 (in float32) needs the pre-activation z");
    }
    py::array_t<T> dz = new_array_like<T>(dy);
    const T *dyp = cptr<T>(dy), *yp = cptr<T>(y), *zp = z ? cptr<T>(*z) : nullptr;
    T* dzp = dz.mutable_data();
    const Index n = dy.size();
    {
      py::gil_scoped_release nogil;
      densegrad::activation_backward<T>(dzp, dyp, yp, zp, n, act, T(slope));
    }
    return dz;
  });
}

// ---- MSE --------------------------------------------------------------------------------------

py::array mse_forward(const py::object& in_obj, const py::object& t_obj, Reduction reduction) {
  py::array input = as_array(in_obj, "input"), target = as_array(t_obj, "target");
  return dispatch(input, "input", [&](auto tag) -> py::array {
    using T = decltype(tag);
    check_operand<T>(input, "input", -1);
    check_operand<T>(target, "target", -1);
    check_same_shape(input, "input", target, "target");
    py::array_t<T> out = reduction == Reduction::None ? new_array_like<T>(input) : new_array<T>(0, nullptr);
    const T *ip = cptr<T>(input), *tp = cptr<T>(target);
    T* op = out.mutable_data();
    const Index n = input.size();
    {
      py::gil_scoped_release nogil;
      densegrad::mse_forward<T>(op, ip, tp, n, reduction);
    }
    return out;
  });
}

py::array mse_backward(const py::object& dout_obj, const py::object& in_obj,
                       const py::object& t_obj, Reduction reduction) {
  py::array dout = as_array(dout_obj, "dout"), input = as_array(in_obj, "input");
  py::array target = as_array(t_obj, "target");
  return dispatch(input, "input", [&](auto tag) -> py::array {
    using T = decltype(tag);
    check_operand<T>(input, "input", -1);
    check_operand<T>(target, "target", -1);
    check_operand<T>(dout, "dout", -1);
    check_same_shape(input, "input", target, "target");
    if (reduction == Reduction::None)
      check_same_shape(input, "input", dout, "dout");
    else if (dout.size() != 1)
      throw py::value_error("dout of a reduced loss must have one element, got shape " + shape_of(dout));
    py::array_t<T> din = new_array_like<T>(input);
    const T *dp = cptr<T>(dout), *ip = cptr<T>(input), *tp = cptr<T>(target);
    T* gp = din.mutable_data();
    const Index n = input.size();
    {
      py::gil_scoped_release nogil;
      densegrad::mse_backward<T>(gp, dp, ip, tp, n, reduction);
    }
    return din;
  });
}

// ---- optimizers (in place) --------------------------------------------------------------------

// One parameter's operands for an optimizer update, checked (dtype T, C-contiguous, aligned,
// same shape, writeable where updated, no two overlapping) and held while the GIL is released.
template <typename T>
struct OptimOperands {
  std::vector<py::array> held;  // param, grad, then the state buffers given
  T* param = nullptr;
  const T* grad = nullptr;
  T* state[3] = {nullptr, nullptr, nullptr};
  Index size = 0;
};

template <typename T>
OptimOperands<T> optim_operands(const py::handle& p_obj, const py::handle& g_obj,
                                std::initializer_list<std::pair<py::handle, const char*>> states) {
  OptimOperands<T> r;
  py::array param = as_array(p_obj, "param"), grad = as_array(g_obj, "grad");
  check_operand<T>(param, "param", -1, true);
  check_operand<T>(grad, "grad", -1);
  check_same_shape(param, "param", grad, "grad");
  r.held = {param, grad};
  std::vector<const char*> names{"param", "grad"};
  int k = 0;
  for (const auto& [obj, name] : states) {
    if (!obj.is_none()) {
      py::array s = as_array(obj, name);
      check_operand<T>(s, name, -1, true);
      check_same_shape(param, "param", s, name);
      r.state[k] = mptr<T>(s);
      r.held.push_back(s);
      names.push_back(name);
    }
    ++k;
  }
  for (std::size_t i = 0; i < r.held.size(); ++i)
    for (std::size_t j = i + 1; j < r.held.size(); ++j)
      check_no_overlap(r.held[i], names[i], r.held[j], names[j]);
  r.param = mptr<T>(r.held[0]);
  r.grad = cptr<T>(r.held[1]);
  r.size = static_cast<Index>(param.size());
  return r;
}

// A list argument of n entries, or n Nones when the argument is None. The entries are owned
// references: converting another argument (a first_steps entry's __bool__) can run Python code
// that drops the list's own reference to a buffer.
std::vector<py::object> list_or_nones(const py::object& obj, std::size_t n, const char* what) {
  if (obj.is_none()) return std::vector<py::object>(n, py::none());
  py::list l = obj.cast<py::list>();
  if (l.size() != n) throw py::value_error(std::string(what) + " needs one entry per param");
  std::vector<py::object> items;
  items.reserve(n);
  for (const py::handle item : l) items.push_back(py::reinterpret_borrow<py::object>(item));
  return items;
}

void sgd_step(const py::object& p_obj, const py::object& g_obj, const py::object& buf_obj,
              double lr, double momentum, double dampening, double weight_decay, bool nesterov,
              bool maximize, bool first_step) {
  const densegrad::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize};
  densegrad::check_sgd_options(o);
  if (momentum != 0.0 && buf_obj.is_none())
    throw py::value_error("sgd_step: momentum != 0 needs a momentum_buffer");
  dispatch(as_array(p_obj, "param"), "param", [&](auto tag) {
    using T = decltype(tag);
    auto ops = optim_operands<T>(p_obj, g_obj, {{buf_obj, "momentum_buffer"}});
    py::gil_scoped_release nogil;
    densegrad::sgd_step<T>(ops.param, ops.state[0], ops.grad, ops.size, o, first_step);
    return 0;
  });
}

// Checked operands of a group's parameters with a per-parameter extra (first step, step count),
// split by dtype: each parameter's own dtype picks its kernel, so a group may mix them.
template <typename X>
struct Group {
  std::vector<std::pair<OptimOperands<float>, X>> f;
  std::vector<std::pair<OptimOperands<double>, X>> d;

  template <typename Make>
  void add(const py::handle& param, X extra, Make&& make) {
    dispatch(as_array(param, "param"), "param", [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same<T, float>::value)
        f.emplace_back(make(tag), extra);
      else
        d.emplace_back(make(tag), extra);
      return 0;
    });
  }
};

// The same update for a list of parameters in one call (what optim.SGD.step runs): one Python
// call instead of one per parameter. Every operand is checked before any parameter changes.
void sgd_step_many(const py::list& params, const py::list& grads, const py::object& bufs_obj,
                   const py::object& firsts_obj, double lr, double momentum, double dampening,
                   double weight_decay, bool nesterov, bool maximize) {
  const std::size_t n = params.size();
  if (grads.size() != n) throw py::value_error("sgd_step_many: params and grads differ in length");
  const auto bufs = list_or_nones(bufs_obj, n, "sgd_step_many: momentum_buffers");
  const auto firsts = list_or_nones(firsts_obj, n, "sgd_step_many: first_steps");
  const densegrad::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize};
  densegrad::check_sgd_options(o);
  Group<bool> group;
  for (std::size_t i = 0; i < n; ++i) {
    if (momentum != 0.0 && bufs[i].is_none())
      throw py::value_error("sgd_step_many: momentum != 0 needs a momentum_buffer for param " + std::to_string(i));
    const bool first = !firsts[i].is_none() && firsts[i].cast<bool>();
    group.add(params[i], first, [&](auto tag) {
      return optim_operands<decltype(tag)>(params[i], grads[i], {{bufs[i], "momentum_buffer"}});
    });
  }
  py::gil_scoped_release nogil;
  for (const auto& [it, first] : group.f) densegrad::sgd_step<float>(it.param, it.state[0], it.grad, it.size, o, first);
  for (const auto& [it, first] : group.d) densegrad::sgd_step<double>(it.param, it.state[0], it.grad, it.size, o, first);
}

void adam_step(const py::object& p_obj, const py::object& g_obj, const py::object& m_obj,
               const py::object& v_obj, const py::object& vmax_obj, Index step, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
               bool maximize) {
  const densegrad::AdamOptions o{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize};
  densegrad::check_adam_options(o);
  if (step < 1) throw py::value_error("adam_step: step counts from 1, got " + std::to_string(step));
  as_array(m_obj, "exp_avg"), as_array(v_obj, "exp_avg_sq");  // required: TypeError for None
  if (amsgrad && vmax_obj.is_none()) throw py::value_error("adam_step: amsgrad needs a max_exp_avg_sq buffer");
  dispatch(as_array(p_obj, "param"), "param", [&](auto tag) {
    using T = decltype(tag);
    auto ops = optim_operands<T>(p_obj, g_obj,
                                 {{m_obj, "exp_avg"}, {v_obj, "exp_avg_sq"}, {vmax_obj, "max_exp_avg_sq"}});
    py::gil_scoped_release nogil;
    densegrad::adam_step<T>(ops.param, ops.state[0], ops.state[1], ops.state[2], ops.grad, ops.size, step, o);
    return 0;
  });
}

// adam_step for lists (what optim.Adam.step runs), each parameter with its own step count.
// Every operand is checked before any parameter changes.
void adam_step_many(const py::list& params, const py::list& grads, const py::list& exp_avgs,
                    const py::list& exp_avg_sqs, const py::object& max_obj, const std::vector<Index>& steps,
                    double lr, double beta1, double beta2, double eps, double weight_decay,
                    bool amsgrad, bool maximize) {
  const std::size_t n = params.size();
  if (grads.size() != n || exp_avgs.size() != n || exp_avg_sqs.size() != n || steps.size() != n)
    throw py::value_error("adam_step_many: params, grads, exp_avgs, exp_avg_sqs and steps differ in length");
  const auto maxs = list_or_nones(max_obj, n, "adam_step_many: max_exp_avg_sqs");
  const densegrad::AdamOptions o{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize};
  densegrad::check_adam_options(o);
  Group<Index> group;
  for (std::size_t i = 0; i < n; ++i) {
    if (steps[i] < 1) throw py::value_error("adam_step_many: step counts from 1, got " + std::to_string(steps[i]));
    as_array(exp_avgs[i], "exp_avg"), as_array(exp_avg_sqs[i], "exp_avg_sq");  // required
    if (amsgrad && maxs[i].is_none())
      throw py::value_error("adam_step_many: amsgrad needs a max_exp_avg_sq buffer for param " + std::to_string(i));
    group.add(params[i], steps[i], [&](auto tag) {
      return optim_operands<decltype(tag)>(
          params[i], grads[i],
          {{exp_avgs[i], "exp_avg"}, {exp_avg_sqs[i], "exp_avg_sq"}, {maxs[i], "max_exp_avg_sq"}});
    });
  }
  py::gil_scoped_release nogil;
  for (const auto& [it, step] : group.f)
    densegrad::adam_step<float>(it.param, it.state[0], it.state[1], it.state[2], it.grad, it.size, step, o);
  for (const auto& [it, step] : group.d)
    densegrad::adam_step<double>(it.param, it.state[0], it.state[1], it.state[2], it.grad, it.size, step, o);
}

// ---- a stack of dense layers as one autograd op ------------------------------------------------

// layers: list of (w, b or None, activation, negative_slope); checked to chain from x's width.
// Every w and b is kept in `held` until the kernel is done: the refs' raw pointers must not
// outlive the arrays when a later field's conversion (a slope's __float__) or another thread
// while the GIL is released drops the list's references.
template <typename T>
std::vector<densegrad::DenseLayerRef<T>> stack_refs(const py::list& layers, Index in0, std::vector<py::array>& held) {
  if (layers.size() == 0) throw py::value_error("a dense stack needs at least one layer");
  std::vector<densegrad::DenseLayerRef<T>> refs(layers.size());
  Index in = in0;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    py::tuple t = layers[l].cast<py::tuple>();
    if (t.size() != 4) throw py::value_error("each layer is (w, b, activation, negative_slope)");
    py::array w = as_array(t[0], "w");
    check_operand<T>(w, "w", 2);
    if (w.shape(1) != in)
      throw py::value_error("layer " + std::to_string(l) + ": w " + shape_of(w) + " does not take " +
                            std::to_string(in) + " inputs");
    densegrad::DenseLayerRef<T>& r = refs[l];
    r.spec.in = in;
    r.spec.out = w.shape(0);
    r.spec.act = field<Activation>(t[2], l, "activation");
    r.spec.slope = field<double>(t[3], l, "negative_slope");
    r.spec.bias = !t[1].is_none();
    r.w = const_cast<T*>(cptr<T>(w));  // read only: forward and backward never write w
    held.push_back(w);
    if (r.spec.bias) {
      py::array b = as_array(t[1], "b");
      check_operand<T>(b, "b", 1);
      if (b.shape(0) != r.spec.out)
        throw py::value_error("layer " + std::to_string(l) + ": b " + shape_of(b) + " does not match w " + shape_of(w));
      r.b = const_cast<T*>(cptr<T>(b));
      held.push_back(b);
    }
    in = r.spec.out;
  }
  return refs;
}

// (acts, pres): every layer's output, and its pre-activation where backward needs it (else None).
py::tuple mlp_forward(const py::object& x_obj, const py::list& layers) {
  py::array x = as_array(x_obj, "x");
  return dispatch(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_operand<T>(x, "x", 2);
    const Index batch = x.shape(0);
    std::vector<py::array> held;
    held.reserve(2 * layers.size());  // one allocation: w and b of each layer
    auto refs = stack_refs<T>(layers, x.shape(1), held);
    const std::size_t L = refs.size();
    py::list acts(L), pres(L);  // every item set below (py::list(n) starts with NULL items)
    std::vector<T*> act_p(L), pre_p(L, nullptr);
    for (std::size_t l = 0; l < L; ++l) {
      const auto& r = refs[l];
      check_alloc<T>("layer output", batch, r.spec.out);
      py::array_t<T> a = new_array<T>(batch, r.spec.out);
      act_p[l] = a.mutable_data();
      acts[l] = std::move(a);
      if (densegrad::activation_needs_preactivation(r.spec.act, r.spec.slope)) {
        py::array_t<T> z = new_array<T>(batch, r.spec.out);
        pre_p[l] = z.mutable_data();
        pres[l] = std::move(z);
      } else {
        pres[l] = py::none();
      }
    }
    const T* xp = cptr<T>(x);
    {
      py::gil_scoped_release nogil;
      densegrad::mlp_forward_keep<T>(act_p.data(), pre_p.data(), refs, xp, batch);
    }
    return py::make_tuple(acts, pres);
  });
}

// (dx or None, None, dw_1, db_1 or None, ..., dw_L, db_L or None) from dy and the forward's
// (acts, pres): the gradients in the order of DenseStack's inputs (x, layers, w_1, b_1, ...), so
// its backward returns the tuple as it is.
py::tuple mlp_backward(const py::object& dy_obj, const py::object& x_obj, const py::list& layers,
                       const py::list& acts, const py::list& pres, bool need_dx) {
  py::array dy = as_array(dy_obj, "dy"), x = as_array(x_obj, "x");
  return dispatch(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_operand<T>(x, "x", 2);
    check_operand<T>(dy, "dy", 2);
    const Index batch = x.shape(0);
    std::vector<py::array> held;  // the layers' arrays, then acts and pres
    held.reserve(4 * layers.size());
    auto refs = stack_refs<T>(layers, x.shape(1), held);
    if (acts.size() != refs.size() || pres.size() != refs.size())
      throw py::value_error("acts and pres need one entry per layer");
    const std::size_t L = refs.size();
    std::vector<const T*> act_p(L), pre_p(L, nullptr);
    // The result's items, made into a tuple only once all exist: a tuple created before the
    // kernel would sit half-empty (NULL items) while the GIL is released, and other threads can
    // reach it through gc.get_objects() (tested).
    std::vector<py::object> grads(2 + 2 * L);
    grads[1] = py::none();
    for (std::size_t l = 0; l < L; ++l) {
      auto& r = refs[l];
      py::array a = as_array(acts[l], "act");
      check_operand<T>(a, "act", 2);
      if (a.shape(0) != batch || a.shape(1) != r.spec.out)
        throw py::value_error("act " + std::to_string(l) + " has shape " + shape_of(a));
      act_p[l] = cptr<T>(a);
      held.push_back(a);
      if (pres[l].is_none()) {
        if (densegrad::activation_needs_preactivation(r.spec.act, r.spec.slope))
          throw py::value_error("layer " + std::to_string(l) + " needs its pre-activation");
      } else {
        py::array z = as_array(pres[l], "pre");
        check_operand<T>(z, "pre", 2);
        check_same_shape(a, "act", z, "pre");
        pre_p[l] = cptr<T>(z);
        held.push_back(z);
      }
      py::array_t<T> dw = new_array<T>(r.spec.out, r.spec.in);
      r.dw = dw.mutable_data();
      grads[2 + 2 * l] = std::move(dw);
      if (r.spec.bias) {
        py::array_t<T> db = new_array<T>(r.spec.out);
        r.db = db.mutable_data();
        grads[3 + 2 * l] = std::move(db);
      } else {
        grads[3 + 2 * l] = py::none();
      }
    }
    if (dy.shape(0) != batch || dy.shape(1) != refs.back().spec.out)
      throw py::value_error("dy has shape " + shape_of(dy) + ", expected (" + std::to_string(batch) + ", " +
                            std::to_string(refs.back().spec.out) + ")");
    py::object dx = py::none();
    T* dxp = nullptr;
    if (need_dx) {
      py::array_t<T> d = new_array<T>(batch, x.shape(1));
      dxp = d.mutable_data();
      dx = d;
    }
    const T *xp = cptr<T>(x), *dyp = cptr<T>(dy);
    {
      py::gil_scoped_release nogil;
      densegrad::MlpWorkspace<T> ws;
      densegrad::mlp_backward<T>(dxp, refs, act_p.data(), pre_p.data(), xp, dyp, batch, ws);
    }
    grads[0] = std::move(dx);
    py::tuple out(grads.size());
    for (std::size_t i = 0; i < grads.size(); ++i)
      PyTuple_SET_ITEM(out.ptr(), py::ssize_t(i), grads[i].release().ptr());  // steals
    return out;
  });
}

// ---- fused MLP training step ------------------------------------------------------------------

// Holds the NumPy arrays of a network (parameters, gradients, optimizer state) and the C++
// workspace; step() runs forward, loss, backward and update in one call without the GIL.
class FusedMlp {
 public:
  // layers: one tuple per layer: (in, out, activation, negative_slope, w, b or None, dw, db or
  // None, [w state arrays], [b state arrays]).
  FusedMlp(const py::list& layers, const std::string& optimizer, Reduction reduction)
      : reduction_(reduction) {
    if (layers.size() == 0) throw py::value_error("FusedMlp needs at least one layer");
    if (optimizer == "sgd")
      opt_.kind = densegrad::OptimizerSpec::Kind::Sgd;
    else if (optimizer == "adam")
      opt_.kind = densegrad::OptimizerSpec::Kind::Adam;
    else
      throw py::value_error("optimizer must be 'sgd' or 'adam', got '" + optimizer + "'");
    if (reduction == Reduction::None) throw py::value_error("the fused step needs reduction 'mean' or 'sum'");
    const py::tuple t0 = layers[0].cast<py::tuple>();
    if (t0.size() != 10) throw py::value_error("each layer is a 10-tuple");
    py::array first = as_array(t0[4], "w");
    is_f32_ = dtype_of(first, "w") == DType::F32;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      py::tuple t = layers[l].cast<py::tuple>();
      if (t.size() != 10) throw py::value_error("each layer is a 10-tuple");
      densegrad::LayerSpec spec;
      spec.in = field<Index>(t[0], l, "in_features");
      spec.out = field<Index>(t[1], l, "out_features");
      spec.act = field<Activation>(t[2], l, "activation");
      spec.slope = field<double>(t[3], l, "negative_slope");
      spec.bias = !t[5].is_none();
      specs_.push_back(spec);
      add(t[4], "w", {spec.out, spec.in});
      add(t[5], "b", {spec.out});
      add(t[6], "dw", {spec.out, spec.in});
      add(t[7], "db", {spec.out});
      for (int side = 0; side < 2; ++side) {
        py::list states = t[8 + side].cast<py::list>();
        if (states.size() > 3) throw py::value_error("at most 3 optimizer state arrays per parameter");
        for (std::size_t k = 0; k < 3; ++k) {
          if (k < states.size()) add(states[k], side ? "b state" : "w state", side ? std::vector<Index>{spec.out} : std::vector<Index>{spec.out, spec.in});
          else add(py::none(), "state", {});
        }
      }
    }
    densegrad::check_layers(specs_);
    // Every buffer is written by a step: none may overlap another.
    for (std::size_t i = 0; i < arrays_.size(); ++i)
      for (std::size_t j = i + 1; j < arrays_.size(); ++j)
        if (arrays_[i] && arrays_[j]) check_no_overlap(*arrays_[i], "a network buffer", *arrays_[j], "another one");
    if (is_f32_) refs_f_ = refs<float>(); else refs_d_ = refs<double>();
    rebuild_spans();
  }

  // One call at a time: the workspace is shared, and a second thread running a step with the GIL
  // released would corrupt it. The flag is set while holding the GIL, so the check is race-free.
  struct Busy {
    explicit Busy(bool& flag) : f(flag) {
      if (f) throw std::runtime_error("this network is already running a step in another thread");
      f = true;
    }
    ~Busy() { f = false; }
    bool& f;
  };

  // The options are read by a running step (without the GIL): changing them then is refused too.
  void set_sgd(double lr, double momentum, double dampening, double weight_decay, bool nesterov, bool maximize) {
    Busy busy(busy_);
    const densegrad::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize};
    densegrad::check_sgd_options(o);
    opt_.sgd = o;
  }

  void set_adam(double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool maximize) {
    Busy busy(busy_);
    const densegrad::AdamOptions o{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize};
    densegrad::check_adam_options(o);
    opt_.adam = o;
  }

  // Point layer `layer`'s weight (bias=False) or bias gradient at a new array, checked like the
  // constructor's: the Trainer's way to follow zero_grad() (which sets .grad to None) without
  // building the network again.
  void set_grad(Index layer, bool bias, const py::object& obj) {
    Busy busy(busy_);
    if (layer < 0 || layer >= Index(specs_.size()))
      throw py::index_error("layer " + std::to_string(layer) + " out of range for " + std::to_string(specs_.size()) +
                            " layers");
    const densegrad::LayerSpec& spec = specs_[std::size_t(layer)];
    if (bias && !spec.bias) throw py::value_error("layer " + std::to_string(layer) + " has no bias");
    const char* name = bias ? "db" : "dw";
    py::array a = checked(obj, name, bias ? std::vector<Index>{spec.out} : std::vector<Index>{spec.out, spec.in});
    const std::size_t idx = std::size_t(layer) * 10 + (bias ? 3 : 2);
    for (std::size_t i = 0; i < arrays_.size(); ++i)
      if (i != idx && arrays_[i]) check_no_overlap(a, name, *arrays_[i], "another network buffer");
    arrays_[idx] = a;
    rebuild_spans();
    if (is_f32_) set_grad_ptr(refs_f_[std::size_t(layer)], bias, static_cast<float*>(a.mutable_data()));
    else set_grad_ptr(refs_d_[std::size_t(layer)], bias, static_cast<double*>(a.mutable_data()));
  }

  double step(const py::object& x_obj, const py::object& y_obj, Index step, bool first_step) {
    Busy busy(busy_);
    py::array x = as_array(x_obj, "x"), y = as_array(y_obj, "y");
    const Index batch = check_io(x, "x", specs_.front().in);
    if (check_io(y, "target", specs_.back().out) != batch)
      throw py::value_error("x has " + std::to_string(batch) + " rows but target has " + std::to_string(y.shape(0)));
    if (step < 1) throw py::value_error("step counts from 1, got " + std::to_string(step));
    // The step writes every network buffer while it still reads x and the target (a later
    // layer's dw is written before the first layer's backward reads x).
    check_outside_buffers(x, "x");
    check_outside_buffers(y, "target");
    double loss;
    if (is_f32_) {
      const float *xp = cptr<float>(x), *yp = cptr<float>(y);
      py::gil_scoped_release nogil;
      loss = densegrad::mlp_train_step<float>(refs_f_, xp, yp, batch, reduction_, opt_, step, first_step, ws_f_);
    } else {
      const double *xp = cptr<double>(x), *yp = cptr<double>(y);
      py::gil_scoped_release nogil;
      loss = densegrad::mlp_train_step<double>(refs_d_, xp, yp, batch, reduction_, opt_, step, first_step, ws_d_);
    }
    return loss;
  }

  py::array forward(const py::object& x_obj) {
    Busy busy(busy_);
    py::array x = as_array(x_obj, "x");
    const Index batch = check_io(x, "x", specs_.front().in);
    const Index out = specs_.back().out;
    if (is_f32_) return run_forward<float>(x, batch, out, refs_f_, ws_f_);
    return run_forward<double>(x, batch, out, refs_d_, ws_d_);
  }

 private:
  // The byte ranges of the network's buffers (rebuild_spans): a step checks its inputs against
  // them without going through the arrays (about 30 comparisons for a 3-layer network).
  void check_outside_buffers(const py::array& a, const char* name) const {
    // a is a checked 2-D C-contiguous array of the network's dtype: its bytes are rows * cols *
    // the element size (py::array::nbytes() goes through the dtype object: ~1k instructions a
    // step for the two inputs, callgrind)
    const auto lo = reinterpret_cast<std::uintptr_t>(a.data());
    const auto hi = lo + std::uintptr_t(a.shape(0)) * std::uintptr_t(a.shape(1)) * (is_f32_ ? 4u : 8u);
    if (lo == hi) return;
    for (const auto& [blo, bhi] : spans_)
      if (lo < bhi && blo < hi)
        throw py::value_error(std::string(name) +
                              " and a network buffer (parameter, gradient or optimizer state) overlap in memory");
  }

  void add(const py::handle& obj, const char* name, std::vector<Index> shape) {
    if (obj.is_none()) {
      arrays_.push_back(std::nullopt);
      return;
    }
    arrays_.push_back(checked(obj, name, shape));
  }

  // obj as a writeable, C-contiguous, aligned array of the network's dtype and this shape.
  py::array checked(const py::handle& obj, const char* name, const std::vector<Index>& shape) {
    py::array a = as_array(obj, name);
    if (is_f32_) check_operand<float>(a, name, static_cast<int>(shape.size()), true);
    else check_operand<double>(a, name, static_cast<int>(shape.size()), true);
    for (std::size_t i = 0; i < shape.size(); ++i)
      if (a.shape(i) != shape[i])
        throw py::value_error(std::string(name) + " has shape " + shape_of(a) + ", expected " +
                              (shape.size() > 1 ? densegrad::detail::shape_str(shape[0], shape[1])
                                                : "(" + std::to_string(shape[0]) + ",)"));
    return a;
  }

  template <typename T>
  T* ptr(std::size_t i) { return arrays_[i] ? static_cast<T*>(arrays_[i]->mutable_data()) : nullptr; }

  // 10 arrays per layer: w, b, dw, db, w states x3, b states x3.
  void rebuild_spans() {
    spans_.clear();
    for (const auto& buf : arrays_)
      if (buf && buf->nbytes() > 0) {
        const auto lo = reinterpret_cast<std::uintptr_t>(buf->data());
        spans_.emplace_back(lo, lo + std::uintptr_t(buf->nbytes()));
      }
  }

  template <typename T>
  std::vector<densegrad::DenseLayerRef<T>> refs() {
    std::vector<densegrad::DenseLayerRef<T>> r(specs_.size());
    for (std::size_t l = 0; l < specs_.size(); ++l) {
      const std::size_t o = l * 10;
      r[l].spec = specs_[l];
      r[l].w = ptr<T>(o);
      r[l].b = ptr<T>(o + 1);
      r[l].dw = ptr<T>(o + 2);
      r[l].db = ptr<T>(o + 3);
      for (int k = 0; k < 3; ++k) {
        r[l].w_state[k] = ptr<T>(o + 4 + k);
        r[l].b_state[k] = ptr<T>(o + 7 + k);
      }
    }
    densegrad::check_layers(r, nullptr);
    return r;
  }

  template <typename T>
  static void set_grad_ptr(densegrad::DenseLayerRef<T>& r, bool bias, T* p) {
    if (bias) r.db = p;
    else r.dw = p;
  }

  Index check_io(const py::array& a, const char* name, Index cols) {
    if (is_f32_) check_operand<float>(a, name, 2);
    else check_operand<double>(a, name, 2);
    if (a.shape(1) != cols)
      throw py::value_error(std::string(name) + " must have " + std::to_string(cols) + " columns, got shape " + shape_of(a));
    return a.shape(0);
  }

  template <typename T>
  py::array run_forward(const py::array& x, Index batch, Index out, std::vector<densegrad::DenseLayerRef<T>>& refs,
                        densegrad::MlpWorkspace<T>& ws) {
    check_alloc<T>("output", batch, out);
    py::array_t<T> y = new_array<T>(batch, out);
    const T* xp = cptr<T>(x);
    T* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    densegrad::mlp_forward<T>(yp, refs, xp, batch, ws);
    return y;
  }

  Reduction reduction_;
  bool busy_ = false;
  densegrad::OptimizerSpec opt_;
  bool is_f32_ = true;
  std::vector<densegrad::LayerSpec> specs_;
  std::vector<std::optional<py::array>> arrays_;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> spans_;  // [lo, hi) of each non-empty buffer
  std::vector<densegrad::DenseLayerRef<float>> refs_f_;
  std::vector<densegrad::DenseLayerRef<double>> refs_d_;
  densegrad::MlpWorkspace<float> ws_f_;
  densegrad::MlpWorkspace<double> ws_d_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "densegrad's C++ kernels (private; use the densegrad package).";

  py::enum_<Activation>(m, "Activation")
      .value("identity", Activation::Identity)
      .value("relu", Activation::Relu)
      .value("leaky_relu", Activation::LeakyRelu)
      .value("sigmoid", Activation::Sigmoid)
      .value("tanh", Activation::Tanh);
  py::enum_<Reduction>(m, "Reduction")
      .value("none", Reduction::None)
      .value("mean", Reduction::Mean)
      .value("sum", Reduction::Sum);

  m.def("set_num_threads", &densegrad::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &densegrad::get_num_threads);
  m.def("gemm_kernel", &densegrad::gemm_kernel,
        "The GEMM micro-kernel in use: 'avx512', 'avx2-fma' or 'generic'.");
  m.def("set_gemm_kernel", &densegrad::set_gemm_kernel, py::arg("name"),
        "Select 'generic', 'avx2-fma', 'avx512' or 'auto'; False if that kernel cannot run on this CPU.");
  m.def("parallel_min_work", &densegrad::detail::parallel_min_work);
  m.def("set_parallel_min_work", &densegrad::detail::set_parallel_min_work, py::arg("work"),
        "Set the m*n*k from which GEMMs use threads (for measuring the threshold).");
  m.def("parallel_regions", &densegrad::detail::parallel_regions,
        "How many kernel calls have split their work over more than one thread since the start (for tests).");
  m.def("optim_parallel_min", &densegrad::detail::optim_parallel_min);
  m.def("set_optim_parallel_min", &densegrad::detail::set_optim_parallel_min, py::arg("n"),
        "Set the parameter count from which optimizer updates use threads (-1: the measured defaults; "
        "for measuring the threshold).");
  m.def("small_max_work", &densegrad::detail::small_max_work);
  m.def("set_small_max_work", &densegrad::detail::set_small_max_work, py::arg("work"),
        "Set the m*n*k up to which GEMMs run unpacked (avx2-fma and avx512 kernels; products with n <= 16 "
        "on one thread, and the forward of 1-4 rows into more than 16 outputs, run unpacked too; 0: every "
        "product packed).");
  m.def("fma_loop", [](bool f32, Index iters) {
        double flops = 0, value;
        {
          py::gil_scoped_release nogil;
          value = densegrad::fma_loop(f32, iters, &flops);
        }
        return py::make_tuple(value, flops);
      }, py::arg("f32"), py::arg("iters"),
      "Run the FMA throughput loop; returns (value, flops). Time it to get the machine's peak.");

  m.def("mlp_forward", &mlp_forward, py::arg("x"), py::arg("layers"),
        "A stack of dense layers [(w, b, activation, slope)] applied to x: (outputs, pre-activations).");
  m.def("mlp_backward", &mlp_backward, py::arg("dy"), py::arg("x"), py::arg("layers"), py::arg("acts"),
        py::arg("pres"), py::arg("need_dx"),
        "Backward of mlp_forward: (dx or None, None, dw_1, db_1 or None, ..., dw_L, db_L or None).");

  py::class_<FusedMlp>(m, "FusedMlp")
      .def(py::init<const py::list&, const std::string&, Reduction>(), py::arg("layers"),
           py::arg("optimizer"), py::arg("reduction"))
      .def("set_sgd", &FusedMlp::set_sgd, py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
           py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"))
      .def("set_adam", &FusedMlp::set_adam, py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
           py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"))
      .def("step", &FusedMlp::step, py::arg("x"), py::arg("target"), py::arg("step"), py::arg("first_step"),
           "One fused training step; returns the loss.")
      .def("set_grad", &FusedMlp::set_grad, py::arg("layer"), py::arg("bias"), py::arg("grad"),
           "Write layer's weight (bias=False) or bias gradient into a new array from the next step on.")
      .def("forward", &FusedMlp::forward, py::arg("x"));

  m.def("gemm", &gemm, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("reference") = false,
        "C = op(a) @ op(b) for 2-D float32/float64 arrays; reference=True runs the naive oracle.");
  m.def("activation_needs_preactivation",
        [](Activation act, double slope) { return densegrad::activation_needs_preactivation(act, slope); },
        py::arg("activation"), py::arg("negative_slope"));
  m.def("dense_forward", &dense_forward, py::arg("x"), py::arg("w"), py::arg("b") = py::none(),
        py::arg("activation") = Activation::Identity, py::arg("negative_slope") = 0.01,
        py::arg("keep_preactivation") = false,
        "(y, z) with y = act(x @ w.T + b); z is the pre-activation if kept, else None.");
  m.def("dense_backward", &dense_backward, py::arg("dy"), py::arg("x"), py::arg("w"),
        py::arg("y"), py::arg("z") = py::none(), py::arg("activation") = Activation::Identity,
        py::arg("negative_slope") = 0.01, py::arg("need_dx") = true, py::arg("need_dw") = true,
        py::arg("need_db") = true, "(dx, dw, db), each None unless asked for.");
  m.def("activation_forward", &activation_forward, py::arg("z"), py::arg("activation"),
        py::arg("negative_slope") = 0.01);
  m.def("activation_backward", &activation_backward, py::arg("dy"), py::arg("y"),
        py::arg("z") = py::none(), py::arg("activation") = Activation::Identity,
        py::arg("negative_slope") = 0.01);
  m.def("mse_forward", &mse_forward, py::arg("input"), py::arg("target"),
        py::arg("reduction") = Reduction::Mean);
  m.def("mse_backward", &mse_backward, py::arg("dout"), py::arg("input"), py::arg("target"),
        py::arg("reduction") = Reduction::Mean);
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("grad"),
        py::arg("momentum_buffer") = py::none(), py::arg("lr"),
        py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false, py::arg("maximize") = false, py::arg("first_step") = false,
        "torch.optim.SGD's update of one parameter array, in place.");
  m.def("sgd_step_many", &sgd_step_many, py::arg("params"), py::arg("grads"),
        py::arg("momentum_buffers"), py::arg("first_steps"), py::arg("lr"), py::arg("momentum"),
        py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
        "sgd_step for lists of parameters, gradients and momentum buffers (None: no momentum) in "
        "one call; first_steps: one bool per parameter, or None (all False). Every operand is "
        "checked before any is updated.");
  m.def("adam_step_many", &adam_step_many, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("amsgrad"), py::arg("maximize"),
        "adam_step for lists of parameters, gradients and state (max_exp_avg_sqs None without "
        "amsgrad), one step count per parameter, in one call. Every operand is checked before "
        "any is updated.");
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("grad"), py::arg("exp_avg"),
        py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq") = py::none(),
        py::arg("step"), py::arg("lr") = 1e-3, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999,
        py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("amsgrad") = false,
        py::arg("maximize") = false, "torch.optim.Adam's update of one parameter array, in place.");
}
