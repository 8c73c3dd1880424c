// densegrad::Mlp and its model files (docs/model-format.md). The reader trusts nothing in the
// file: every size, offset and name is checked before a byte is copied.
#include "densegrad/model.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <type_traits>

#include "json.hpp"

namespace densegrad {

namespace {

// A double as T, rounded to nearest as the hardware does, without the undefined behaviour the
// standard gives a finite double beyond float's range: +-FLT_MAX up to the halfway point above
// it (2^128 - 2^103), +-inf from there (the tie rounds to even, which is infinity), as in NumPy.
template <typename T>
T narrow(double v) {
  if constexpr (std::is_same<T, float>::value) {
    const double a = std::fabs(v);
    if (a > double(std::numeric_limits<float>::max())) {  // false for NaN
      const float big = a >= 0x1.ffffffp127 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::max();
      return v < 0 ? -big : big;
    }
  }
  return static_cast<T>(v);
}

const char* const kFormat = "densegrad.mlp";
const char* const kVersion = "0.1.0";
// The largest header a reader accepts (the safetensors library's own limit; Python's reader too).
const std::uint64_t kMaxHeader = 100000000;

std::string act_module(Activation a) {
  switch (a) {
    case Activation::Relu: return "ReLU";
    case Activation::LeakyRelu: return "LeakyReLU";
    case Activation::Sigmoid: return "Sigmoid";
    case Activation::Tanh: return "Tanh";
    case Activation::Identity: return "Identity";
  }
  return "Identity";
}

bool parse_act(const std::string& type, Activation* a) {
  if (type == "ReLU") *a = Activation::Relu;
  else if (type == "LeakyReLU") *a = Activation::LeakyRelu;
  else if (type == "Sigmoid") *a = Activation::Sigmoid;
  else if (type == "Tanh") *a = Activation::Tanh;
  else if (type == "Identity") *a = Activation::Identity;
  else return false;
  return true;
}

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("densegrad: model file: " + what); }

json::Value num(double v) {
  json::Value j;
  j.kind = json::Value::Kind::Number;
  j.number = v;
  return j;
}
json::Value str(const std::string& s) {
  json::Value j;
  j.kind = json::Value::Kind::String;
  j.string = s;
  return j;
}
json::Value boolean(bool b) {
  json::Value j;
  j.kind = json::Value::Kind::Bool;
  j.boolean = b;
  return j;
}
json::Value object() {
  json::Value j;
  j.kind = json::Value::Kind::Object;
  return j;
}
json::Value array_of(const std::vector<double>& v) {
  json::Value j;
  j.kind = json::Value::Kind::Array;
  for (double x : v) j.array.push_back(num(x));
  return j;
}

// A non-negative integer that fits an Index, from a JSON number written as an integer: 2.0 and
// 2e0 are refused, as the Python reader (json.loads makes them floats) refuses them.
Index integer(const json::Value* v, const std::string& what) {
  if (v == nullptr || !v->is(json::Value::Kind::Number)) bad(what + " must be a number");
  if (!v->integer) bad(what + " must be an integer, without fraction or exponent");
  const double d = v->number;
  if (!(d >= 0 && d <= 9.007199254740992e15 && d == std::floor(d))) bad(what + " must be a non-negative integer");
  return Index(d);
}

// A Linear's width: a positive integer (the Python reader's rule; zero-width layers are refused).
Index positive(const json::Value* v, const std::string& what) {
  const Index n = integer(v, what);
  if (n < 1) bad(what + " must be a positive integer, got 0");
  return n;
}

// A list of JSON numbers (sizes and values are checked by check_normalization).
std::vector<double> numbers(const json::Value* v, const std::string& what) {
  if (v == nullptr || !v->is(json::Value::Kind::Array)) bad("normalization." + what + " must be a list");
  std::vector<double> out;
  for (const auto& e : v->array) {
    if (!e.is(json::Value::Kind::Number)) bad("normalization." + what + " must be a list of numbers");
    out.push_back(e.number);
  }
  return out;
}

// What a model file's normalization may hold (see Normalization in model.hpp): the one rule for
// predict, save and load, so that save never writes what load refuses. (An empty Normalization
// means none; its callers skip this for it, except the reader: a file's lists must be complete.)
void check_normalization(const Normalization& n, Index in, Index out) {
  const struct {
    const char* name;
    const std::vector<double>& values;
    Index size;
    const char* size_name;
    bool is_std;
  } parts[] = {{"x_mean", n.x_mean, in, "in_features", false},
               {"x_std", n.x_std, in, "in_features", true},
               {"y_mean", n.y_mean, out, "out_features", false},
               {"y_std", n.y_std, out, "out_features", true}};
  for (const auto& p : parts) {
    DENSEGRAD_CHECK(p.values.size() == std::size_t(p.size),
                    std::string("normalization.") + p.name + " has " + std::to_string(p.values.size()) +
                        " values, expected " + std::to_string(p.size) + " (the model's " + p.size_name + ")");
    for (double v : p.values) {
      DENSEGRAD_CHECK(std::isfinite(v), std::string("normalization.") + p.name + " holds a non-finite value");
      DENSEGRAD_CHECK(!p.is_std || v > 0, std::string("normalization.") + p.name + " holds a standard deviation <= 0");
    }
  }
}

// The reason of a DENSEGRAD_CHECK failure without its "densegrad: " prefix (to re-throw as a
// model-file error).
std::string reason(const std::invalid_argument& e) {
  const std::string what = e.what(), prefix = "densegrad: ";
  return what.compare(0, prefix.size(), prefix) == 0 ? what.substr(prefix.size()) : what;
}

// A JSON part of the file, its syntax errors reported as the file's ("model file: header: invalid
// JSON at byte 3: ...").
json::Value parse_part(const char* part, const char* text, std::size_t size) {
  try {
    return json::parse(text, size);
  } catch (const std::invalid_argument& e) {
    bad(std::string(part) + ": " + reason(e));
  }
}

// The `columns` metadata (the CSV column names a model was trained on), checked as the Python
// reader checks it, so both readers accept the same files.
Columns check_columns(const std::string& text, Index in, Index out) {
  json::Value c;
  try {
    c = json::parse(text);
  } catch (const std::invalid_argument& e) {
    bad("columns: " + reason(e));
  }
  const json::Value* lists[2] = {c.find("features"), c.find("target")};
  if (!c.is(json::Value::Kind::Object) || c.object.size() != 2 || lists[0] == nullptr || lists[1] == nullptr)
    bad("columns: columns must be an object with 'features' and 'target' lists");
  const char* names[2] = {"features", "target"};
  std::set<std::string> seen[2];
  for (int k = 0; k < 2; ++k) {
    if (!lists[k]->is(json::Value::Kind::Array)) bad(std::string("columns: columns['") + names[k] + "'] must be a list of strings");
    for (const auto& e : lists[k]->array) {
      if (!e.is(json::Value::Kind::String)) bad(std::string("columns: columns['") + names[k] + "'] must be a list of strings");
      if (!seen[k].insert(e.string).second) bad(std::string("columns: columns['") + names[k] + "'] names '" + e.string + "' twice");
    }
  }
  for (const auto& e : lists[0]->array)
    if (seen[1].count(e.string) != 0) bad("columns: columns['features'] and columns['target'] both name '" + e.string + "'");
  if (Index(seen[0].size()) != in || Index(seen[1].size()) != out)
    bad("columns name " + std::to_string(seen[0].size()) + " features and " + std::to_string(seen[1].size()) +
        " targets; the model has " + std::to_string(in) + " inputs and " + std::to_string(out) + " outputs");
  Columns out_names;
  for (const auto& e : lists[0]->array) out_names.features.push_back(e.string);
  for (const auto& e : lists[1]->array) out_names.target.push_back(e.string);
  return out_names;
}

// Mlp::columns as the metadata's JSON text (the same checks as check_columns: one reader's rules).
std::string columns_text(const Columns& c, Index in, Index out) {
  json::Value o;
  o.kind = json::Value::Kind::Object;
  for (const auto* list : {&c.features, &c.target}) {
    json::Value a;
    a.kind = json::Value::Kind::Array;
    for (const auto& name : *list) {
      json::Value v;
      v.kind = json::Value::Kind::String;
      v.string = name;
      a.array.push_back(v);
    }
    o.object.emplace_back(list == &c.features ? "features" : "target", a);
  }
  const std::string text = json::dump(o);
  try {
    check_columns(text, in, out);
  } catch (const std::invalid_argument& e) {  // "model file: columns: ..." -> "save: columns: ..."
    const std::string what = e.what(), prefix = "densegrad: model file: ";
    throw std::invalid_argument("densegrad: save: " + (what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what));
  }
  return text;
}

std::uint64_t read_le64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

bool little_endian() {
  const std::uint16_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

struct TensorEntry {
  std::string dtype;
  std::vector<Index> shape;
  std::uint64_t begin, end;
};

}  // namespace

template <typename T>
Mlp<T>::Mlp(std::vector<LayerSpec> layers, std::uint64_t seed) : specs_(std::move(layers)) {
  check_layers(specs_);
  for (const auto& s : specs_)
    DENSEGRAD_CHECK(s.act != Activation::LeakyRelu || std::isfinite(s.slope), "leaky_relu slope must be finite");
  // The parameter count summed over the layers, checked before it can wrap (64 layers of
  // 2^29 x 2^29 summed to 0, and the init loop below then wrote out of bounds).
  const Index limit = std::numeric_limits<Index>::max() / Index(8 * sizeof(T));
  Index n = 0;
  for (const auto& s : specs_) {
    const Index count = s.out * s.in + (s.bias ? s.out : 0);  // per layer: bounded by check_layers
    DENSEGRAD_CHECK(count <= limit - n, "the network has more parameters than fit in memory");
    n += count;
  }
  params_.assign(std::size_t(n), T(0));
  grads_.assign(std::size_t(n), T(0));
  std::mt19937_64 gen(seed);
  std::size_t at = 0;
  for (const auto& s : specs_) {
    const double bound = s.in > 0 ? 1.0 / std::sqrt(double(s.in)) : 0.0;
    const Index count = s.out * s.in + (s.bias ? s.out : 0);
    for (Index i = 0; i < count; ++i) {
      const double u = double(gen() >> 11) * 0x1.0p-53;  // [0, 1), exactly 53 random bits
      params_[at++] = T(-bound + 2.0 * bound * u);
    }
  }
  opt_.kind = OptimizerSpec::Kind::Sgd;
  opt_.sgd.lr = 0.01;
  bind();
}

template <typename T>
Mlp<T>::Mlp(const Mlp& o)
    : normalization(o.normalization), columns(o.columns), specs_(o.specs_), params_(o.params_), grads_(o.grads_), opt_(o.opt_), step_(o.step_) {
  for (int k = 0; k < 3; ++k) state_[k] = o.state_[k];
  bind();
}

template <typename T>
Mlp<T>& Mlp<T>::operator=(const Mlp& o) {
  if (this != &o) {
    Mlp copy(o);
    *this = std::move(copy);
  }
  return *this;
}

template <typename T>
void Mlp<T>::bind() {
  refs_.assign(specs_.size(), DenseLayerRef<T>());
  std::size_t at = 0;
  for (std::size_t l = 0; l < specs_.size(); ++l) {
    const LayerSpec& s = specs_[l];
    DenseLayerRef<T>& r = refs_[l];
    r.spec = s;
    const std::size_t nw = std::size_t(s.out * s.in), nb = s.bias ? std::size_t(s.out) : 0;
    r.w = params_.data() + at;
    r.dw = grads_.data() + at;
    for (int k = 0; k < 3; ++k) r.w_state[k] = state_[k].empty() ? nullptr : state_[k].data() + at;
    if (s.bias) {
      r.b = params_.data() + at + nw;
      r.db = grads_.data() + at + nw;
      for (int k = 0; k < 3; ++k) r.b_state[k] = state_[k].empty() ? nullptr : state_[k].data() + at + nw;
    }
    at += nw + nb;
  }
}

template <typename T>
const DenseLayerRef<T>& Mlp<T>::layer(std::size_t l) const {
  DENSEGRAD_CHECK(l < specs_.size(), "layer " + std::to_string(l) + " out of range");
  return refs_[l];
}

template <typename T>
MatrixView<T> Mlp<T>::weight(std::size_t l) {
  const DenseLayerRef<T>& r = layer(l);  // checked before any shape is read
  return MatrixView<T>(r.w, r.spec.out, r.spec.in);
}

template <typename T>
T* Mlp<T>::bias(std::size_t l) {
  return layer(l).b;
}

template <typename T>
MatrixView<const T> Mlp<T>::weight(std::size_t l) const {
  const DenseLayerRef<T>& r = layer(l);
  return MatrixView<const T>(r.w, r.spec.out, r.spec.in);
}

template <typename T>
const T* Mlp<T>::bias(std::size_t l) const {
  return layer(l).b;
}

template <typename T>
MatrixView<const T> Mlp<T>::weight_grad(std::size_t l) const {
  const DenseLayerRef<T>& r = layer(l);
  return MatrixView<const T>(r.dw, r.spec.out, r.spec.in);
}

template <typename T>
const T* Mlp<T>::bias_grad(std::size_t l) const {
  return layer(l).db;
}

template <typename T>
void Mlp<T>::set_optimizer(const OptimizerSpec& opt) {
  if (opt.kind == OptimizerSpec::Kind::Sgd) check_sgd_options(opt.sgd);
  else check_adam_options(opt.adam);
  opt_ = opt;
  const int buffers = opt.kind == OptimizerSpec::Kind::Adam ? (opt.adam.amsgrad ? 3 : 2) : (opt.sgd.momentum != 0 ? 1 : 0);
  for (int k = 0; k < 3; ++k) state_[k].assign(k < buffers ? params_.size() : 0, T(0));
  step_ = 0;
  bind();
}

template <typename T>
T Mlp<T>::train_step(const T* x, const T* target, Index batch, Reduction reduction) {
  DENSEGRAD_CHECK(batch >= 0, "negative batch " + std::to_string(batch));
  // sizes first: batch * in_features() itself must not overflow
  detail::require_shape("train_step x", batch, in_features(), sizeof(T));
  detail::require_shape("train_step target", batch, out_features(), sizeof(T));
  detail::require_data("train_step x", x, batch * in_features());
  detail::require_data("train_step target", target, batch * out_features());
  const bool needs_state = opt_.kind == OptimizerSpec::Kind::Adam || opt_.sgd.momentum != 0;
  if (needs_state && state_[0].empty()) set_optimizer(opt_);  // state created on first use
  // The step counts once it ran: a call refused (e.g. Reduction::None) once still counted, and
  // Adam's next bias correction was off by one.
  const Index step = step_ + 1;
  const T loss = mlp_train_step<T>(refs_, x, target, batch, reduction, opt_, step, step == 1, ws_);
  step_ = step;
  return loss;
}

template <typename T>
void Mlp<T>::forward(T* y, const T* x, Index batch) {
  forward(y, x, batch, ws_);
}

template <typename T>
void Mlp<T>::forward(T* y, const T* x, Index batch, MlpWorkspace<T>& ws) const {
  DENSEGRAD_CHECK(batch >= 0, "negative batch " + std::to_string(batch));
  detail::require_shape("forward x", batch, in_features(), sizeof(T));
  detail::require_shape("forward y", batch, out_features(), sizeof(T));
  detail::require_data("forward x", x, batch * in_features());
  detail::require_data("forward y", y, batch * out_features());
  mlp_forward<T>(y, refs_, x, batch, ws);
}

template <typename T>
std::vector<double> Mlp<T>::predict(const std::vector<double>& x) {
  return predict(x, ws_);
}

template <typename T>
std::vector<double> Mlp<T>::predict(const std::vector<double>& x, MlpWorkspace<T>& ws) const {
  const Index in = in_features(), out = out_features();
  DENSEGRAD_CHECK(in > 0 ? x.size() % std::size_t(in) == 0 : x.empty(),
                  "predict: " + std::to_string(x.size()) + " inputs is not a whole number of rows of " + std::to_string(in));
  const bool norm = !normalization.empty();
  if (norm) check_normalization(normalization, in, out);
  const Index batch = in > 0 ? Index(x.size()) / in : 0;
  detail::require_shape("predict output", batch, out, sizeof(T));
  std::vector<T> xt(x.size()), yt(std::size_t(batch * out));
  for (Index i = 0; i < batch; ++i)
    for (Index j = 0; j < in; ++j) {
      const double v = x[std::size_t(i * in + j)];
      xt[std::size_t(i * in + j)] =
          narrow<T>(norm ? (v - normalization.x_mean[std::size_t(j)]) / normalization.x_std[std::size_t(j)] : v);
    }
  forward(yt.data(), xt.data(), batch, ws);
  std::vector<double> y(yt.size());
  for (Index i = 0; i < batch; ++i)
    for (Index j = 0; j < out; ++j) {
      const double v = double(yt[std::size_t(i * out + j)]);
      y[std::size_t(i * out + j)] = norm ? v * normalization.y_std[std::size_t(j)] + normalization.y_mean[std::size_t(j)] : v;
    }
  return y;
}

// ---- files ----------------------------------------------------------------------------------

template <typename T>
std::string Mlp<T>::save_to_memory() const {
  DENSEGRAD_CHECK(little_endian(), "model files are little-endian; this machine is not");
  for (std::size_t l = 0; l < specs_.size(); ++l)
    DENSEGRAD_CHECK(specs_[l].in > 0 && specs_[l].out > 0,
                    "save: layer " + std::to_string(l) + " has " + std::to_string(specs_[l].in) + " inputs and " +
                        std::to_string(specs_[l].out) + " outputs; a model file needs at least one of each per layer");
  if (!normalization.empty()) check_normalization(normalization, in_features(), out_features());
  const char* dt = sizeof(T) == 4 ? "F32" : "F64";
  json::Value arch = object(), mods;
  mods.kind = json::Value::Kind::Array;
  json::Value header = object();
  std::uint64_t offset = 0;
  std::vector<std::pair<const T*, std::size_t>> chunks;
  Index module = 0;
  auto tensor = [&](const std::string& name, const T* data, std::vector<Index> shape) {
    std::size_t n = 1;
    json::Value t = object(), sh, off;
    sh.kind = off.kind = json::Value::Kind::Array;
    for (Index d : shape) {
      sh.array.push_back(num(double(d)));
      n *= std::size_t(d);
    }
    off.array.push_back(num(double(offset)));
    offset += n * sizeof(T);
    off.array.push_back(num(double(offset)));
    t.object.emplace_back("dtype", str(dt));
    t.object.emplace_back("shape", sh);
    t.object.emplace_back("data_offsets", off);
    header.object.emplace_back(name, t);
    chunks.emplace_back(data, n);
  };
  for (std::size_t l = 0; l < specs_.size(); ++l) {
    const LayerSpec& s = specs_[l];
    json::Value lin = object();
    lin.object.emplace_back("type", str("Linear"));
    lin.object.emplace_back("in_features", num(double(s.in)));
    lin.object.emplace_back("out_features", num(double(s.out)));
    lin.object.emplace_back("bias", boolean(s.bias));
    mods.array.push_back(lin);
    tensor(std::to_string(module) + ".weight", refs_[l].w, {s.out, s.in});
    if (s.bias) tensor(std::to_string(module) + ".bias", refs_[l].b, {s.out});
    ++module;
    if (s.act != Activation::Identity) {
      json::Value a = object();
      a.object.emplace_back("type", str(act_module(s.act)));
      if (s.act == Activation::LeakyRelu) a.object.emplace_back("negative_slope", num(s.slope));
      mods.array.push_back(a);
      ++module;
    }
  }
  arch.object.emplace_back("dtype", str(sizeof(T) == 4 ? "float32" : "float64"));
  arch.object.emplace_back("layers", mods);
  json::Value meta = object();
  meta.object.emplace_back("format", str(kFormat));
  meta.object.emplace_back("format_version", str("1"));
  meta.object.emplace_back("densegrad_version", str(kVersion));
  meta.object.emplace_back("architecture", str(json::dump(arch)));
  if (!normalization.empty()) {
    json::Value n = object();
    n.object.emplace_back("x_mean", array_of(normalization.x_mean));
    n.object.emplace_back("x_std", array_of(normalization.x_std));
    n.object.emplace_back("y_mean", array_of(normalization.y_mean));
    n.object.emplace_back("y_std", array_of(normalization.y_std));
    meta.object.emplace_back("normalization", str(json::dump(n)));
  }
  if (!columns.empty()) meta.object.emplace_back("columns", str(columns_text(columns, in_features(), out_features())));
  header.object.insert(header.object.begin(), {"__metadata__", meta});
  std::string h = json::dump(header);
  h.append((8 - h.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as safetensors writes it
  DENSEGRAD_CHECK(h.size() <= kMaxHeader, "save: the file's header would be " + std::to_string(h.size()) +
                                              " bytes; model files allow at most " + std::to_string(kMaxHeader));
  std::string out(8, '\0');
  std::uint64_t hl = h.size();
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((hl >> (8 * i)) & 0xFF);
  out += h;
  for (const auto& c : chunks) out.append(reinterpret_cast<const char*>(c.first), c.second * sizeof(T));
  return out;
}

namespace {
// C stdio, not iostreams: iostreams would add ~150 KB to every binary that links the library.
using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;
}  // namespace

// Written to a temporary file beside `path`, then renamed over it (as the Python package does):
// a failed write leaves an existing file as it was, never a truncated one. The temporary name
// is unique per call (process id and a counter): two threads saving to one path once wrote the
// same temporary file, and a load could find the two mixed.
template <typename T>
void Mlp<T>::save(const std::string& path) const {
  static std::atomic<unsigned long> saves{0};
  const std::string bytes = save_to_memory();
  const std::string tmp = path + ".tmp" + std::to_string(static_cast<long>(getpid())) + "." +
                          std::to_string(saves.fetch_add(1));
  auto fail = [&](int err) {
    std::remove(tmp.c_str());
    throw std::runtime_error("densegrad: cannot write " + path + " (" + std::strerror(err) + ")");
  };
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) fail(errno);
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0;
  const int err = errno;
  if (std::fclose(f) != 0 || !written) fail(written ? errno : err);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(errno);
}

template <typename T>
Mlp<T> Mlp<T>::load(const std::string& path) {
  File f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw std::runtime_error("densegrad: cannot open " + path + " (" + std::strerror(errno) + ")");
  std::string bytes;
  char buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f.get())) > 0;) bytes.append(buf, n);
  if (std::ferror(f.get()))  // e.g. a directory: opened, but not read
    throw std::runtime_error("densegrad: cannot read " + path + " (" + std::strerror(errno) + ")");
  try {
    return load_from_memory(bytes.data(), bytes.size());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(e.what()) + " (" + path + ")");
  }
}

template <typename T>
Mlp<T> Mlp<T>::load_from_memory(const char* data, std::size_t size) {
  if (!little_endian()) bad("this machine is big-endian; model files are little-endian");
  if (size < 8) bad("shorter than the 8-byte header length (" + std::to_string(size) + " bytes)");
  const std::uint64_t hl = read_le64(data);
  if (hl > kMaxHeader) bad("header length " + std::to_string(hl) + " is implausible (at most " + std::to_string(kMaxHeader) + " bytes)");
  if (hl > size - 8) bad("header length " + std::to_string(hl) + " exceeds the file (" + std::to_string(size) + " bytes)");
  const json::Value header = parse_part("header", data + 8, std::size_t(hl));
  if (!header.is(json::Value::Kind::Object)) bad("the header is not a JSON object");
  const char* body = data + 8 + hl;
  const std::uint64_t body_size = size - 8 - hl;

  // Metadata.
  const json::Value* meta = header.find("__metadata__");
  if (meta == nullptr || !meta->is(json::Value::Kind::Object)) bad("no __metadata__ (not a densegrad model file)");
  for (const auto& kv : meta->object)  // string to string, even for keys this reader does not use
    if (!kv.second.is(json::Value::Kind::String)) bad("__metadata__ must map strings to strings ('" + kv.first + "' is not a string)");
  auto meta_str = [&](const char* key) -> const std::string* {
    const json::Value* v = meta->find(key);
    return v == nullptr ? nullptr : &v->string;
  };
  const std::string* format = meta_str("format");
  if (format == nullptr) bad("metadata has no 'format'");
  if (*format != kFormat) bad("format is '" + *format + "', expected '" + kFormat + "'");
  const std::string* version = meta_str("format_version");
  if (version == nullptr || *version != "1") bad("unsupported format_version");
  const std::string* arch_text = meta_str("architecture");
  if (arch_text == nullptr) bad("metadata has no 'architecture'");
  const json::Value arch = parse_part("architecture", arch_text->data(), arch_text->size());
  const json::Value* mods = arch.find("layers");
  if (!arch.is(json::Value::Kind::Object) || mods == nullptr || !mods->is(json::Value::Kind::Array))
    bad("architecture needs a 'layers' list");
  const json::Value* arch_dtype = arch.find("dtype");
  if (arch_dtype == nullptr || !arch_dtype->is(json::Value::Kind::String) ||
      (arch_dtype->string != "float32" && arch_dtype->string != "float64"))
    bad("architecture dtype must be 'float32' or 'float64'");
  const std::string tensor_dtype = arch_dtype->string == "float32" ? "F32" : "F64";  // what every tensor must be

  // Architecture -> layer specs; remember each Linear's module index for the tensor names.
  std::vector<LayerSpec> specs;
  std::vector<Index> module_of;
  for (std::size_t i = 0; i < mods->array.size(); ++i) {
    const json::Value& m = mods->array[i];
    const json::Value* type = m.find("type");
    if (!m.is(json::Value::Kind::Object) || type == nullptr || !type->is(json::Value::Kind::String))
      bad("layer " + std::to_string(i) + " has no 'type'");
    Activation act;
    if (type->string == "Linear") {
      LayerSpec s;
      s.in = positive(m.find("in_features"), "layer " + std::to_string(i) + " in_features");
      s.out = positive(m.find("out_features"), "layer " + std::to_string(i) + " out_features");
      const json::Value* b = m.find("bias");
      if (b == nullptr || !b->is(json::Value::Kind::Bool)) bad("layer " + std::to_string(i) + " needs a boolean 'bias'");
      s.bias = b->boolean;
      specs.push_back(s);
      module_of.push_back(Index(i));
    } else if (parse_act(type->string, &act)) {
      if (specs.empty() || module_of.back() != Index(i) - 1 || specs.back().act != Activation::Identity)
        bad("layer " + std::to_string(i) + " (" + type->string + ") does not follow a Linear; the C++ Mlp supports "
            "Linear layers each followed by at most one activation");
      specs.back().act = act;
      if (act == Activation::LeakyRelu) {
        const json::Value* sl = m.find("negative_slope");
        if (sl == nullptr || !sl->is(json::Value::Kind::Number) || !std::isfinite(sl->number))
          bad("layer " + std::to_string(i) + " needs a finite negative_slope");
        specs.back().slope = sl->number;
      }
    } else {
      bad("layer " + std::to_string(i) + " has unknown type '" + type->string + "'");
    }
  }
  if (specs.empty()) bad("the architecture has no Linear layer");
  try {
    check_layers(specs);
  } catch (const std::invalid_argument& e) {
    bad("architecture: " + reason(e));
  }

  // Tensors: every entry checked, ranges inside the data section, no overlap, no holes.
  std::vector<std::pair<std::string, TensorEntry>> tensors;
  for (const auto& kv : header.object) {
    if (kv.first == "__metadata__") continue;
    const json::Value& t = kv.second;
    const json::Value *dt = t.find("dtype"), *sh = t.find("shape"), *off = t.find("data_offsets");
    if (!t.is(json::Value::Kind::Object) || dt == nullptr || !dt->is(json::Value::Kind::String) || sh == nullptr ||
        !sh->is(json::Value::Kind::Array) || off == nullptr || !off->is(json::Value::Kind::Array) || off->array.size() != 2)
      bad("tensor '" + kv.first + "' needs dtype, shape and data_offsets");
    TensorEntry e;
    e.dtype = dt->string;
    if (e.dtype != "F32" && e.dtype != "F64") bad("tensor '" + kv.first + "' has unsupported dtype " + e.dtype);
    if (e.dtype != tensor_dtype)
      bad("tensor '" + kv.first + "' is " + e.dtype + ", the architecture says " + arch_dtype->string);
    std::uint64_t elems = 1;
    for (const auto& d : sh->array) {
      const Index n = integer(&d, "tensor '" + kv.first + "' shape");
      e.shape.push_back(n);
      if (n != 0 && elems > (std::uint64_t(1) << 60) / std::uint64_t(n)) bad("tensor '" + kv.first + "' is too large");
      elems *= std::uint64_t(n);
    }
    e.begin = std::uint64_t(integer(&off->array[0], "tensor '" + kv.first + "' data_offsets"));
    e.end = std::uint64_t(integer(&off->array[1], "tensor '" + kv.first + "' data_offsets"));
    const std::uint64_t width = e.dtype == "F32" ? 4 : 8;
    if (e.begin > e.end || e.end > body_size)
      bad("tensor '" + kv.first + "' lies outside the data (" + std::to_string(body_size) + " bytes): file truncated?");
    if (e.end - e.begin != elems * width) bad("tensor '" + kv.first + "' has a byte range that does not match its shape");
    tensors.emplace_back(kv.first, e);
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& t : tensors) ranges.emplace_back(t.second.begin, t.second.end);
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t covered = 0;
  for (const auto& r : ranges) {
    if (r.first != covered) bad(r.first < covered ? "tensors overlap" : "the data has a hole between tensors");
    covered = r.second;
  }
  if (covered != body_size) bad("the data section has " + std::to_string(body_size - covered) + " unused trailing bytes");

  // Every tensor the architecture names, of the shape it says, checked before the model is
  // allocated: the tensors' bytes lie inside the file, so a file cannot make the reader allocate
  // layers far larger than itself (an architecture claiming 2^49 outputs threw std::bad_alloc).
  std::size_t used = 0;
  auto find = [&](const std::string& name, const std::vector<Index>& shape) -> const TensorEntry* {
    for (const auto& t : tensors) {
      if (t.first != name) continue;
      if (t.second.shape != shape) bad("tensor '" + name + "' has the wrong shape for the architecture");
      ++used;
      return &t.second;
    }
    bad("tensor '" + name + "' is missing");
  };
  std::vector<const TensorEntry*> weights, biases;
  for (std::size_t l = 0; l < specs.size(); ++l) {
    const std::string prefix = std::to_string(module_of[l]) + ".";
    weights.push_back(find(prefix + "weight", {specs[l].out, specs[l].in}));
    biases.push_back(specs[l].bias ? find(prefix + "bias", {specs[l].out}) : nullptr);
  }
  if (used != tensors.size()) bad("the file holds tensors the architecture does not use");

  Mlp<T> model(specs, 0);
  auto fill = [&](const TensorEntry& t, T* dst) {
    const std::size_t n = std::size_t(t.shape.size() == 2 ? t.shape[0] * t.shape[1] : t.shape[0]);
    const char* src = body + t.begin;
    for (std::size_t i = 0; i < n; ++i) {
      if (t.dtype == "F32") {
        float v;
        std::memcpy(&v, src + 4 * i, 4);
        dst[i] = T(v);
      } else {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = narrow<T>(v);
      }
    }
  };
  for (std::size_t l = 0; l < specs.size(); ++l) {
    fill(*weights[l], model.refs_[l].w);
    if (biases[l] != nullptr) fill(*biases[l], model.refs_[l].b);
  }

  if (const std::string* norm = meta_str("normalization")) {
    const json::Value n = parse_part("normalization", norm->data(), norm->size());
    // (keys are unique: the parser refuses duplicates)
    if (!n.is(json::Value::Kind::Object) || n.object.size() != 4 || n.find("x_mean") == nullptr ||
        n.find("x_std") == nullptr || n.find("y_mean") == nullptr || n.find("y_std") == nullptr)
      bad("normalization must be an object with x_mean, x_std, y_mean and y_std (and nothing else)");
    Normalization parsed;
    parsed.x_mean = numbers(n.find("x_mean"), "x_mean");
    parsed.x_std = numbers(n.find("x_std"), "x_std");
    parsed.y_mean = numbers(n.find("y_mean"), "y_mean");
    parsed.y_std = numbers(n.find("y_std"), "y_std");
    try {
      check_normalization(parsed, model.in_features(), model.out_features());
    } catch (const std::invalid_argument& e) {
      bad(reason(e));
    }
    model.normalization = std::move(parsed);
  }
  if (const std::string* cols = meta_str("columns")) model.columns = check_columns(*cols, model.in_features(), model.out_features());
  return model;
}

template class Mlp<float>;
template class Mlp<double>;

}  // namespace densegrad
