// densegrad._core: pybind11 glue over the C++ core, nothing more. Every function does the same
// four steps: check the NumPy operands (type, dtype, shape, contiguity, writeability, overlap),
// allocate outputs, release the GIL around the kernel call, return. No maths here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <tuple>

#include "densegrad/densegrad.hpp"

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

DType dtype_of(const py::array& a, const char* name) {
  // equal() also rejects non-native byte order ('>f4'), which the kernels cannot read.
  if (a.dtype().equal(py::dtype::of<float>())) return DType::F32;
  if (a.dtype().equal(py::dtype::of<double>())) return DType::F64;
  throw py::type_error(std::string(name) + ": expected float32 or float64, got " + dtype_name(a));
}

template <typename T>
const char* dtype_label() { return std::is_same<T, float>::value ? "float32" : "float64"; }

// A C-contiguous array of T with the given number of dimensions (-1: any).
template <typename T>
void check_operand(const py::array& a, const char* name, int ndim, bool writeable = false) {
  if (!a.dtype().equal(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + ": expected " + dtype_label<T>() +
                         " like the other operands, got " + dtype_name(a));
  if (ndim >= 0 && a.ndim() != ndim)
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) +
                          "-D, got shape " + shape_of(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous (numpy.ascontiguousarray)");
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
    py::array_t<T> c({m, n});
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
    py::array_t<T> y({batch, out});
    std::optional<py::array> z;
    if (keep_preactivation) z = py::array_t<T>({batch, out});
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
                            " with a non-positive slope needs the pre-activation z");
    }
    py::object dx = py::none(), dw = py::none(), db = py::none();
    T *dxp = nullptr, *dwp = nullptr, *dbp = nullptr, *dzp = nullptr;
    if (need_dx) { auto a = py::array_t<T>({batch, in}); dxp = a.mutable_data(); dx = a; }
    if (need_dw) { auto a = py::array_t<T>({out, in}); dwp = a.mutable_data(); dw = a; }
    if (need_db) { auto a = py::array_t<T>(out); dbp = a.mutable_data(); db = a; }
    py::array_t<T> dz;
    if (act != Activation::Identity) { dz = py::array_t<T>({batch, out}); dzp = dz.mutable_data(); }
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
    py::array_t<T> y(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
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
                            " with a non-positive slope needs the pre-activation z");
    }
    py::array_t<T> dz(std::vector<py::ssize_t>(dy.shape(), dy.shape() + dy.ndim()));
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
    py::array_t<T> out = reduction == Reduction::None
        ? py::array_t<T>(std::vector<py::ssize_t>(input.shape(), input.shape() + input.ndim()))
        : py::array_t<T>(std::vector<py::ssize_t>{});
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
    py::array_t<T> din(std::vector<py::ssize_t>(input.shape(), input.shape() + input.ndim()));
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

void sgd_step(const py::object& p_obj, const py::object& g_obj, const py::object& buf_obj,
              double lr, double momentum, double dampening, double weight_decay, bool nesterov,
              bool maximize, bool first_step) {
  py::array param = as_array(p_obj, "param"), grad = as_array(g_obj, "grad");
  std::optional<py::array> buf = opt_array(buf_obj, "momentum_buffer");
  const densegrad::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize};
  densegrad::check_sgd_options(o);
  dispatch(param, "param", [&](auto tag) {
    using T = decltype(tag);
    check_operand<T>(param, "param", -1, true);
    check_operand<T>(grad, "grad", -1);
    check_same_shape(param, "param", grad, "grad");
    check_no_overlap(param, "param", grad, "grad");
    if (buf) {
      check_operand<T>(*buf, "momentum_buffer", -1, true);
      check_same_shape(param, "param", *buf, "momentum_buffer");
      check_no_overlap(param, "param", *buf, "momentum_buffer");
      check_no_overlap(grad, "grad", *buf, "momentum_buffer");
    } else if (momentum != 0.0) {
      throw py::value_error("sgd_step: momentum != 0 needs a momentum_buffer");
    }
    T *pp = mptr<T>(param), *bp = mptr<T>(buf);
    const T* gp = cptr<T>(grad);
    const Index n = param.size();
    py::gil_scoped_release nogil;
    densegrad::sgd_step<T>(pp, bp, gp, n, o, first_step);
    return 0;
  });
}

void adam_step(const py::object& p_obj, const py::object& g_obj, const py::object& m_obj,
               const py::object& v_obj, const py::object& vmax_obj, Index step, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
               bool maximize) {
  py::array param = as_array(p_obj, "param"), grad = as_array(g_obj, "grad");
  py::array m = as_array(m_obj, "exp_avg"), v = as_array(v_obj, "exp_avg_sq");
  std::optional<py::array> vmax = opt_array(vmax_obj, "max_exp_avg_sq");
  const densegrad::AdamOptions o{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize};
  densegrad::check_adam_options(o);
  if (step < 1) throw py::value_error("adam_step: step counts from 1, got " + std::to_string(step));
  dispatch(param, "param", [&](auto tag) {
    using T = decltype(tag);
    check_operand<T>(param, "param", -1, true);
    check_operand<T>(grad, "grad", -1);
    check_operand<T>(m, "exp_avg", -1, true);
    check_operand<T>(v, "exp_avg_sq", -1, true);
    check_same_shape(param, "param", grad, "grad");
    check_same_shape(param, "param", m, "exp_avg");
    check_same_shape(param, "param", v, "exp_avg_sq");
    std::vector<std::pair<py::array*, const char*>> bufs{
        {&param, "param"}, {&grad, "grad"}, {&m, "exp_avg"}, {&v, "exp_avg_sq"}};
    if (vmax) {
      check_operand<T>(*vmax, "max_exp_avg_sq", -1, true);
      check_same_shape(param, "param", *vmax, "max_exp_avg_sq");
      bufs.push_back({&*vmax, "max_exp_avg_sq"});
    } else if (amsgrad) {
      throw py::value_error("adam_step: amsgrad needs a max_exp_avg_sq buffer");
    }
    for (std::size_t i = 0; i < bufs.size(); ++i)
      for (std::size_t j = i + 1; j < bufs.size(); ++j)
        check_no_overlap(*bufs[i].first, bufs[i].second, *bufs[j].first, bufs[j].second);
    T *pp = mptr<T>(param), *mp = mptr<T>(m), *vp = mptr<T>(v), *xp = mptr<T>(vmax);
    const T* gp = cptr<T>(grad);
    const Index n = param.size();
    py::gil_scoped_release nogil;
    densegrad::adam_step<T>(pp, mp, vp, xp, gp, n, step, o);
    return 0;
  });
}

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
        py::arg("momentum_buffer") = py::none(), py::kw_only(), py::arg("lr"),
        py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false, py::arg("maximize") = false, py::arg("first_step") = false,
        "torch.optim.SGD's update of one parameter array, in place.");
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("grad"), py::arg("exp_avg"),
        py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq") = py::none(), py::kw_only(),
        py::arg("step"), py::arg("lr") = 1e-3, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999,
        py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("amsgrad") = false,
        py::arg("maximize") = false, "torch.optim.Adam's update of one parameter array, in place.");
}
