// C++ tests of densegrad::Mlp: deterministic initialisation, training, a finite-difference check
// of the fused step's gradients, model files (round trips in both dtypes, a file written by the
// Python package, and rejection of truncated or tampered files). argv[1]: cpp/tests/data.
#include <cerrno>
#include <clocale>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "densegrad/densegrad.hpp"
#include "check.hpp"
#include "../src/json.hpp"  // the library's own JSON reader and writer (internal)

using namespace densegrad;
using densegrad_test::check;
using densegrad_test::expect_invalid;

namespace {



const std::vector<LayerSpec> kLayers = {{3, 5, Activation::Tanh, 0.01, true},
                                        {5, 4, Activation::LeakyRelu, -0.2, false},
                                        {4, 2, Activation::Sigmoid, 0.01, true},
                                        {2, 2, Activation::Identity, 0.01, true}};

std::vector<double> inputs(int rows, int cols) {
  std::vector<double> x(std::size_t(rows * cols));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * double(i) + 0.3) * 2.0;
  return x;
}

void test_construction_and_init() {
  Mlp<float> a(kLayers, 7), b(kLayers, 7), c(kLayers, 8);
  bool same = true, differs = false, bounded = true;
  for (std::size_t l = 0; l < kLayers.size(); ++l) {
    const MatrixView<float> wa = a.weight(l), wb = b.weight(l), wc = c.weight(l);
    const double bound = 1.0 / std::sqrt(double(kLayers[l].in));
    for (Index i = 0; i < wa.size(); ++i) {
      same &= wa.data[i] == wb.data[i];
      differs |= wa.data[i] != wc.data[i];
      bounded &= std::fabs(double(wa.data[i])) <= bound;
    }
  }
  check(same, "the same seed gives the same parameters");
  check(differs, "another seed gives other parameters");
  check(bounded, "weights lie within +-1/sqrt(in_features)");
  check(a.bias(1) == nullptr && a.bias(0) != nullptr, "bias=false layers have no bias");
  expect_invalid([] { Mlp<float>({{3, 4}, {5, 1}}); }, "layers that do not chain", "takes 5 inputs");
  expect_invalid([] { Mlp<float>({}); }, "no layers", "at least one layer");
  expect_invalid([] { Mlp<float>({{-1, 4}}); }, "a negative size", "negative");
  std::vector<float> x(6, 0.f), y(2);
  expect_invalid([&] { a.forward(y.data(), nullptr, 2); }, "a null input");
  expect_invalid([&] { a.weight(9); }, "a layer index out of range", "out of range");
}

// d(loss)/d(w) from train_step (lr 0: parameters unchanged) against central differences.
// The parameter count is summed over the layers: 64 layers of 2^29 x 2^29 used to wrap it to 0,
// and the constructor then wrote the initial weights out of bounds.
void test_parameter_count_cannot_wrap() {
  const Index big = Index(1) << 29;
  std::vector<LayerSpec> layers(64, LayerSpec{big, big, Activation::Identity, 0.01, false});
  expect_invalid([&] { Mlp<float> m(layers, 0); }, "64 layers of 2^29 x 2^29", "more parameters than fit");
  expect_invalid([&] { Mlp<double> m(layers, 0); }, "the same in float64", "more parameters than fit");
}

void test_gradients_by_finite_differences() {
  Mlp<double> m(kLayers, 3);
  OptimizerSpec sgd;
  sgd.sgd.lr = 0.0;
  m.set_optimizer(sgd);
  const int batch = 4;
  std::vector<double> x = inputs(batch, 3), t(batch * 2);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = std::cos(double(i));
  m.train_step(x.data(), t.data(), batch);
  auto loss = [&]() {
    std::vector<double> y(batch * 2);
    m.forward(y.data(), x.data(), batch);
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += (y[i] - t[i]) * (y[i] - t[i]);
    return s / double(y.size());
  };
  double worst = 0;
  for (std::size_t l = 0; l < kLayers.size(); ++l) {
    MatrixView<double> w = m.weight(l);
    const MatrixView<const double> g = m.weight_grad(l);
    for (Index i = 0; i < w.size(); ++i) {
      const double keep = w.data[i], eps = 1e-6;
      w.data[i] = keep + eps;
      const double up = loss();
      w.data[i] = keep - eps;
      const double down = loss();
      w.data[i] = keep;
      const double fd = (up - down) / (2 * eps);
      worst = std::max(worst, std::fabs(fd - g.data[i]) / (1e-5 + std::fabs(fd)));
    }
  }
  check(worst < 1e-4, "fused-step weight gradients match central differences (worst rel err " + std::to_string(worst) + ")");
}

template <typename T>
void test_round_trip() {
  Mlp<T> m(kLayers, 11);
  m.normalization = {{0.5, -1.0, 2.0}, {1.5, 0.25, 3.0}, {10.0, -3.0}, {2.0, 0.5}};
  OptimizerSpec adam;
  adam.kind = OptimizerSpec::Kind::Adam;
  m.set_optimizer(adam);
  std::vector<T> x(12), y(8);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = T(std::sin(double(i)));
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = T(std::cos(double(i)));
  const T first = m.train_step(x.data(), y.data(), 4);
  T last = first;
  for (int i = 0; i < 200; ++i) last = m.train_step(x.data(), y.data(), 4);
  check(last < first, std::string("training lowers the loss (") + (sizeof(T) == 4 ? "f32" : "f64") + ")");
  const std::string bytes = m.save_to_memory();
  Mlp<T> back = Mlp<T>::load_from_memory(bytes.data(), bytes.size());
  const std::vector<double> in = inputs(5, 3);
  check(m.predict(in) == back.predict(in), "saved and loaded model predicts identically");
  check(back.normalization.y_std == m.normalization.y_std, "normalization survives the round trip");
  check(back.layers().size() == kLayers.size() && back.layers()[1].act == Activation::LeakyRelu &&
            back.layers()[1].slope == -0.2 && !back.layers()[1].bias,
        "architecture survives the round trip");
  // A slope of -0.0 keeps its sign in the file ("-0.0", not "-0", which Python reads as int 0).
  std::vector<LayerSpec> negzero = kLayers;
  negzero[1].slope = -0.0;
  const std::string nz = Mlp<T>(negzero, 1).save_to_memory();
  check(nz.find("negative_slope\\\":-0.0") != std::string::npos, "a -0.0 slope is written as -0.0");
  check(std::signbit(Mlp<T>::load_from_memory(nz.data(), nz.size()).layers()[1].slope), "a -0.0 slope reloads as -0.0");
  // Loading into the other dtype converts.
  using U = typename std::conditional<sizeof(T) == 4, double, float>::type;
  Mlp<U> other = Mlp<U>::load_from_memory(bytes.data(), bytes.size());
  const std::vector<double> p = m.predict(in), q = other.predict(in);
  double worst = 0;
  for (std::size_t i = 0; i < p.size(); ++i) worst = std::max(worst, std::fabs(p[i] - q[i]) / (1 + std::fabs(p[i])));
  check(worst < 1e-5, "a model loads into the other dtype");
  // A copy is independent of its original.
  Mlp<T> copy = m;
  copy.weight(0).data[0] += T(1);
  check(copy.weight(0).data[0] != m.weight(0).data[0], "copies do not share parameters");
}

void test_rejects_bad_files() {
  Mlp<float> m(kLayers, 1);
  const std::string good = m.save_to_memory();
  // Every truncation fails cleanly (never reads past the end).
  int rejected = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    try {
      Mlp<float>::load_from_memory(good.data(), n);
    } catch (const std::invalid_argument&) {
      ++rejected;
    }
  }
  check(rejected == int(good.size()), "every truncated prefix is rejected (" + std::to_string(rejected) + "/" +
                                          std::to_string(good.size()) + ")");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const std::size_t at = s.find(from);
    if (at == std::string::npos) throw std::logic_error("test setup: '" + from + "' not in the file");
    s.replace(at, from.size(), to);
    return s;
  };
  auto load = [](const std::string& s) { Mlp<float>::load_from_memory(s.data(), s.size()); };
  std::string huge = good;
  huge[7] = char(0x7F);  // header length near 2^63
  expect_invalid([&] { load(huge); }, "a header length near 2^63", "is implausible");
  std::string over = good;  // 100,000,001 (0x05F5E101): over the limit, checked before the file size
  const unsigned char limit_plus_one[8] = {0x01, 0xE1, 0xF5, 0x05, 0, 0, 0, 0};
  for (int i = 0; i < 8; ++i) over[std::size_t(i)] = char(limit_plus_one[i]);
  expect_invalid([&] { load(over); }, "a header length over 100,000,000 bytes", "is implausible");
  std::string beyond = good;
  const std::size_t claim = good.size();  // plausible, but more than the file holds after the length
  for (int i = 0; i < 8; ++i) beyond[std::size_t(i)] = char((claim >> (8 * i)) & 0xFF);
  expect_invalid([&] { load(beyond); }, "a header length beyond the file", "exceeds the file");
  expect_invalid([&] { load(with("densegrad.mlp", "densegrad.xyz")); }, "another format", "format is");
  expect_invalid([&] { load(with("\"F32\"", "\"I64\"")); }, "an unsupported dtype", "unsupported dtype");
  expect_invalid([&] { load(with("0.weight", "9.weight")); }, "a renamed tensor", "missing");
  // (the architecture is JSON inside a JSON string: its quotes are escaped in the file;
  // replacements keep the length, so the header length stays right)
  expect_invalid([&] { load(with(R"({\"type\":\"Tanh\"})", R"({\"type\":\"Tanx\"})")); }, "an unknown layer type",
                 "unknown type");
  expect_invalid([&] { load(with(R"(\"in_features\":5)", R"(\"in_features\":6)")); }, "an architecture that does not chain");
  expect_invalid([&] { load(with("\"format\"", "\"formaT\"")); }, "missing metadata", "no 'format'");
  expect_invalid([&] { load(with("{\"dtype\":\"F32\"", "{\"dtype\":\"F32\",")); }, "malformed JSON", "invalid JSON");
  std::string extra = good + std::string(8, '\0');
  expect_invalid([&] { load(extra); }, "unused trailing data", "unused trailing");
}

// The normalization is a public field: predict, save and save_to_memory check it as the reader
// does (sizes, finite values, standard deviations > 0) instead of reading past its vectors or
// writing a file that no reader accepts.
void test_normalization_is_checked() {
  const std::vector<double> x = {1.0, 2.0};
  {
    Mlp<float> m({{2, 1}}, 0);
    m.normalization.x_mean = {0.0};  // the review's reproducer: predict crashed (SIGSEGV)
    expect_invalid([&] { m.predict(x); }, "predict with only a short x_mean", "normalization.x_mean has 1 values, expected 2");
  }
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const Normalization ok = {{0.5, -1.0}, {2.0, 0.25}, {3.0}, {1.5}};
  auto edited = [&](const std::function<void(Normalization&)>& edit) {
    Normalization n = ok;
    edit(n);
    return n;
  };
  const struct {
    const char* what;
    Normalization n;
    const char* fragment;
  } cases[] = {
      {"x_mean and x_std of one value for two inputs", {{0.5}, {2.0}, {3.0}, {1.5}}, "x_mean has 1 values, expected 2"},
      {"a longer x_std", edited([](Normalization& n) { n.x_std.push_back(1.0); }), "x_std has 3 values, expected 2"},
      {"no x_std", edited([](Normalization& n) { n.x_std.clear(); }), "x_std has 0 values, expected 2"},
      {"x only (no y_mean, y_std)", {{0.5, -1.0}, {2.0, 0.25}, {}, {}}, "y_mean has 0 values, expected 1"},
      {"two y_std for one output", edited([](Normalization& n) { n.y_std = {1.0, 1.0}; }), "y_std has 2 values, expected 1"},
      {"a zero x_std", edited([](Normalization& n) { n.x_std[1] = 0.0; }), "x_std holds a standard deviation <= 0"},
      {"a negative y_std", edited([](Normalization& n) { n.y_std[0] = -1.0; }), "y_std holds a standard deviation <= 0"},
      {"a NaN x_mean", edited([&](Normalization& n) { n.x_mean[0] = nan; }), "x_mean holds a non-finite value"},
      {"an infinite y_std", edited([&](Normalization& n) { n.y_std[0] = inf; }), "y_std holds a non-finite value"},
      {"an infinite y_mean", edited([&](Normalization& n) { n.y_mean[0] = -inf; }), "y_mean holds a non-finite value"},
  };
  const std::string path = "test_model_refused.safetensors";  // in the working directory
  for (const auto& c : cases) {
    Mlp<float> m({{2, 1}}, 0);
    m.normalization = c.n;
    expect_invalid([&] { m.predict(x); }, std::string("predict with ") + c.what, c.fragment);
    expect_invalid([&] { m.save_to_memory(); }, std::string("save_to_memory with ") + c.what, c.fragment);
    std::remove(path.c_str());
    expect_invalid([&] { m.save(path); }, std::string("save with ") + c.what, c.fragment);
    std::FILE* f = std::fopen(path.c_str(), "rb");
    check(f == nullptr, std::string("a refused save writes no file (") + c.what + ")");
    if (f != nullptr) std::fclose(f);
    std::remove(path.c_str());
  }
  // A complete normalization predicts by the documented rule; none at all predicts the network.
  Mlp<double> m({{2, 1}}, 0);
  std::vector<double> raw(1);
  const std::vector<double> plain = m.predict(x);
  m.forward(raw.data(), x.data(), 1);
  check(plain.size() == 1 && plain[0] == raw[0], "predict without normalization is the network's output");
  m.normalization = ok;
  const std::vector<double> xn = {(1.0 - 0.5) / 2.0, (2.0 + 1.0) / 0.25};
  m.forward(raw.data(), xn.data(), 1);
  const std::vector<double> y = m.predict(x);
  check(y.size() == 1 && y[0] == raw[0] * 1.5 + 3.0, "predict applies a complete normalization");
  // The reader's own check is the same rule (a zero std in a file is refused).
  const std::string good = m.save_to_memory();
  std::string zero = good;
  const std::string from = R"(\"x_std\":[2,)";
  const std::size_t at = zero.find(from);
  check(at != std::string::npos, "test setup: x_std in the saved file");
  if (at != std::string::npos) zero.replace(at, from.size(), R"(\"x_std\":[0,)");
  expect_invalid([&] { Mlp<double>::load_from_memory(zero.data(), zero.size()); }, "a file with a zero x_std",
                 "model file: normalization.x_std holds a standard deviation <= 0");
}

// A model file from its JSON header and tensor bytes (the header length in front, the header
// padded with spaces to 8 bytes as the writers do).
std::string model_file(std::string header, const std::string& body = "") {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((std::uint64_t(header.size()) >> (8 * i)) & 0xFF);
  return out + header + body;
}

// Zero-width layers: a valid network in memory (as dg.nn.Linear(2, 0) is in Python), but the
// model format needs positive in_features / out_features (the Python reader refuses 0), so save
// refuses them and so does the C++ reader.
void test_zero_width_layers() {
  Mlp<float> m({{2, 0}, {0, 1}}, 0);
  std::vector<double> y = m.predict({1.0, 2.0});
  check(y.size() == 1 && y[0] == double(*m.bias(1)), "a zero-width hidden layer predicts the last bias");
  expect_invalid([&] { m.save_to_memory(); }, "save_to_memory of a zero-width layer",
                 "layer 0 has 2 inputs and 0 outputs; a model file needs at least one of each");
  const std::string path = "test_model_refused.safetensors";  // in the working directory
  std::remove(path.c_str());
  expect_invalid([&] { m.save(path); }, "save of a zero-width layer", "at least one of each");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  check(f == nullptr, "a refused save writes no file (zero-width layer)");
  if (f != nullptr) std::fclose(f);
  std::remove(path.c_str());
  expect_invalid([&] { Mlp<double>({{0, 3}}).save_to_memory(); }, "save_to_memory of a layer without inputs",
                 "layer 0 has 0 inputs and 3 outputs");
  // What the writer used to produce: a complete, consistent file of zero-byte tensors.
  const std::string file = model_file(
      R"({"__metadata__":{"format":"densegrad.mlp","format_version":"1","architecture":"{\"dtype\":\"float32\",)"
      R"(\"layers\":[{\"type\":\"Linear\",\"in_features\":2,\"out_features\":0,\"bias\":false},)"
      R"({\"type\":\"Linear\",\"in_features\":0,\"out_features\":1,\"bias\":false}]}"},)"
      R"("0.weight":{"dtype":"F32","shape":[0,2],"data_offsets":[0,0]},)"
      R"("1.weight":{"dtype":"F32","shape":[1,0],"data_offsets":[0,0]}})");
  expect_invalid([&] { Mlp<float>::load_from_memory(file.data(), file.size()); }, "a file with a zero-width layer",
                 "layer 0 out_features must be a positive integer");
}

// `file` with the first `from` in its header replaced by `to`, the header length adjusted.
std::string edited_header(const std::string& file, const std::string& from, const std::string& to) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[std::size_t(i)]);
  std::string header = file.substr(8, std::size_t(n));
  const std::size_t at = header.find(from);
  if (at == std::string::npos) throw std::logic_error("test setup: '" + from + "' not in the header");
  header.replace(at, from.size(), to);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((std::uint64_t(header.size()) >> (8 * i)) & 0xFF);
  return out + header + file.substr(8 + std::size_t(n));
}

// The C++ reader refuses what the Python reader refuses (python/densegrad/serialization.py,
// docs/model-format.md): these files used to load in C++ only.
void test_reader_is_as_strict_as_python() {
  Mlp<float> m(kLayers, 1);
  m.normalization = {{0.5, -1.0, 2.0}, {1.5, 0.25, 3.0}, {10.0, -3.0}, {2.0, 0.5}};
  const std::string good = m.save_to_memory();
  Mlp<float>::load_from_memory(good.data(), good.size());
  auto rejects = [&](const std::string& from, const std::string& to, const std::string& what, const std::string& fragment) {
    const std::string bad = edited_header(good, from, to);
    expect_invalid([&] { Mlp<float>::load_from_memory(bad.data(), bad.size()); }, what, fragment);
    expect_invalid([&] { Mlp<double>::load_from_memory(bad.data(), bad.size()); }, what + " (into double)", fragment);
  };
  // (the architecture and normalization are JSON inside JSON strings: their quotes are escaped)
  rejects(R"({\"dtype\":\"float32\",)", "{", "an architecture without dtype", "architecture dtype must be");
  rejects(R"(\"dtype\":\"float32\")", R"(\"dtype\":\"float16\")", "an architecture dtype float16",
          "architecture dtype must be");
  rejects(R"(\"dtype\":\"float32\")", R"(\"dtype\":32)", "a numeric architecture dtype", "architecture dtype must be");
  rejects(R"(\"dtype\":\"float32\")", R"(\"dtype\":\"float64\")", "architecture dtype float64 over F32 tensors",
          "tensor '0.weight' is F32, the architecture says float64");
  rejects(R"(\"in_features\":3,)", R"(\"in_features\":3.0,)", "in_features 3.0", "layer 0 in_features must be an integer");
  rejects(R"(\"out_features\":5,)", R"(\"out_features\":5e0,)", "out_features 5e0", "layer 0 out_features must be an integer");
  rejects(R"("shape":[5,3])", R"("shape":[5.0,3])", "a shape of 5.0", "tensor '0.weight' shape must be an integer");
  rejects(R"("data_offsets":[0,)", R"("data_offsets":[0.0,)", "a data offset of 0.0", "data_offsets must be an integer");
  rejects(R"("densegrad_version":"0.1.0")", R"("densegrad_version":1)", "a metadata value that is not a string",
          "__metadata__ must map strings to strings ('densegrad_version'");
  rejects(R"({\"x_mean\":)", R"({\"x_mean_typo\":[],\"x_mean\":)", "a normalization with an extra key",
          "normalization must be an object with x_mean, x_std, y_mean and y_std");
  rejects(R"(\"y_std\":[2,)", R"(\"y_std\":[true,)", "a normalization holding a boolean", "y_std must be a list of numbers");
  // Tensors of one dtype, and the architecture's: the other dtype everywhere, or mixed.
  Mlp<double> d(kLayers, 1);
  const std::string f64 = d.save_to_memory();
  const std::string under32 = edited_header(f64, R"(\"dtype\":\"float64\")", R"(\"dtype\":\"float32\")");
  expect_invalid([&] { Mlp<double>::load_from_memory(under32.data(), under32.size()); },
                 "architecture dtype float32 over F64 tensors", "is F64, the architecture says float32");
  // A hand-built one-layer float32 file: weight 0.5 (F32), bias 0.25 stored as F64 or F32.
  auto one_layer = [](bool bias_f64) {
    const float w = 0.5f, bf = 0.25f;
    const double bd = 0.25;
    std::string body(bias_f64 ? 12 : 8, '\0');
    std::memcpy(&body[0], &w, 4);
    if (bias_f64)
      std::memcpy(&body[4], &bd, 8);
    else
      std::memcpy(&body[4], &bf, 4);
    return model_file(
        std::string(R"({"__metadata__":{"format":"densegrad.mlp","format_version":"1","architecture":"{\"dtype\":\"float32\",)"
                    R"(\"layers\":[{\"type\":\"Linear\",\"in_features\":1,\"out_features\":1,\"bias\":true}]}"},)"
                    R"("0.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},)") +
            (bias_f64 ? R"("0.bias":{"dtype":"F64","shape":[1],"data_offsets":[4,12]}})"
                      : R"("0.bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
        body);
  };
  const std::string mixed = one_layer(true);
  expect_invalid([&] { Mlp<float>::load_from_memory(mixed.data(), mixed.size()); }, "an F64 bias beside an F32 weight",
                 "tensor '0.bias' is F64, the architecture says float32");
  // The same file with both tensors F32 loads (the hand-built file is otherwise right).
  const std::string same = one_layer(false);
  const std::vector<double> y = Mlp<float>::load_from_memory(same.data(), same.size()).predict({2.0});
  check(y.size() == 1 && y[0] == 1.25, "a hand-built one-layer file loads and predicts 0.5 * 2 + 0.25");
}

// `columns` (written by the Python writer only) is checked by the C++ reader as by Python's: it
// loaded whatever it held.
void test_columns_are_checked() {
  Mlp<float> m(kLayers, 1);  // 3 inputs, 2 outputs
  const std::string plain = m.save_to_memory();
  auto with_columns = [&](const std::string& json_text) {  // a JSON string holding json_text
    std::string quoted = "\"";
    for (char ch : json_text) quoted += ch == '"' ? std::string("\\\"") : std::string(1, ch);
    return edited_header(plain, R"("format":)", "\"columns\":" + quoted + R"(","format":)");
  };
  const std::string good = with_columns(R"({"features":["a","b","c"],"target":["y","z"]})");
  check(Mlp<float>::load_from_memory(good.data(), good.size()).in_features() == 3, "a file with fitting columns loads");
  const std::pair<const char*, const char*> cases[] = {
      {R"({"features":["a","b"],"target":["y","z"]})", "columns name 2 features and 2 targets; the model has 3 inputs"},
      {R"({"features":["a","b","c"],"target":["y"]})", "columns name 3 features and 1 targets"},
      {R"({"features":["a","b","a"],"target":["y","z"]})", "columns['features'] names 'a' twice"},
      {R"({"features":["a","b","c"],"target":["c","z"]})", "both name 'c'"},
      {R"({"features":["a","b",3],"target":["y","z"]})", "columns['features'] must be a list of strings"},
      {R"({"features":["a","b","c"],"target":"y"})", "columns['target'] must be a list of strings"},
      {R"({"features":["a","b","c"]})", "must be an object with 'features' and 'target' lists"},
      {R"({"features":["a","b","c"],"target":["y","z"],"extra":[]})", "must be an object with 'features' and 'target'"},
      {R"(["a","b","c"])", "must be an object with 'features' and 'target' lists"},
      {R"({"features":["a","b","c"],"target":["y","z"])", "columns: "},  // malformed JSON
  };
  for (const auto& c : cases) {
    const std::string bad = with_columns(c.first);
    expect_invalid([&] { Mlp<float>::load_from_memory(bad.data(), bad.size()); }, std::string("columns ") + c.first, c.second);
  }
}

// A file whose architecture claims layers far larger than its tensors is refused before the
// model is allocated (the reader allocated first, then compared shapes: std::bad_alloc here, and
// with sizes that do fit in memory, gigabytes taken for a file of a few hundred bytes).
void test_huge_architecture_is_refused_before_allocating() {
  const std::string good = Mlp<float>({{2, 3}, {3, 1}}, 0).save_to_memory();
  const std::string huge = edited_header(edited_header(good, R"(\"out_features\":3,)", R"(\"out_features\":562949953421312,)"),
                                         R"(\"in_features\":3,)", R"(\"in_features\":562949953421312,)");
  bool bad_alloc = false;
  expect_invalid(
      [&] {
        try {
          Mlp<float>::load_from_memory(huge.data(), huge.size());
        } catch (const std::bad_alloc&) {
          bad_alloc = true;
        }
      },
      "an architecture of 2^49 hidden units over tensors of 3", "tensor '0.weight' has the wrong shape");
  check(!bad_alloc, "loading it does not try to allocate the claimed layers (no std::bad_alloc)");
}

// The header is UTF-8 (JSON's encoding; Python's reader refuses a header that does not decode):
// invalid byte sequences inside strings are refused, valid ones accepted.
void test_header_must_be_utf8() {
  const std::string good = Mlp<float>({{2, 1}}, 0).save_to_memory();
  const std::string version = R"("densegrad_version":"0.1.0)";
  const struct {
    const char* what;
    const char* bytes;
  } cases[] = {{"a Latin-1 byte", "\xe9"},
               {"a stray continuation byte", "\x80"},
               {"an overlong '/'", "\xc0\xaf"},
               {"an overlong 3-byte form", "\xe0\x80\xaf"},
               {"an encoded surrogate", "\xed\xa0\x80"},
               {"a code point past U+10FFFF", "\xf4\x90\x80\x80"},
               {"a truncated sequence", "\xe2\x82"},
               {"a byte 0xff", "\xff"}};
  for (const auto& c : cases) {
    const std::string file = edited_header(good, version, version + c.bytes);
    expect_invalid([&] { Mlp<float>::load_from_memory(file.data(), file.size()); },
                   std::string("a header string holding ") + c.what, "invalid UTF-8");
  }
  // (the last character of a string, and followed by more text: both positions are checked)
  const std::string mid = edited_header(good, version, "\"densegrad_version\":\"0.1\xe9.0");
  expect_invalid([&] { Mlp<float>::load_from_memory(mid.data(), mid.size()); }, "invalid UTF-8 inside a string",
                 "invalid UTF-8");
  const std::string text = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // U+00E9, U+20AC, U+1F600
  const std::string ok = edited_header(good, version, version + text);
  std::string error;
  try {
    Mlp<float>::load_from_memory(ok.data(), ok.size());
  } catch (const std::invalid_argument& e) {
    error = e.what();
  }
  check(error.empty(), "valid UTF-8 of 2, 3 and 4 bytes in a header string loads (" + error + ")");
  // A JSON syntax error is the file's, and a stray byte is shown as \xNN (it once went into the
  // message raw, which is not UTF-8).
  const std::string stray = edited_header(good, "\"__metadata__\":{", "\"__metadata__\":\xff{");
  expect_invalid([&] { Mlp<float>::load_from_memory(stray.data(), stray.size()); }, "a stray byte in the header",
                 "model file: header: invalid JSON at byte 16: unexpected character '\\xff'");
}

// A model written by the Python package (tests/make_cpp_fixture.py) and what Python predicted.
void test_python_written_model(const std::string& dir) {
  Mlp<float> m = Mlp<float>::load(dir + "/python_model.safetensors");
  std::ifstream f(dir + "/python_model_predictions.txt");
  check(bool(f), "the Python fixture's predictions are readable");
  int rows = 0, cols = 0, outs = 0;
  f >> rows >> cols >> outs;
  check(cols == m.in_features() && outs == m.out_features(), "the fixture's shapes match the model");
  std::vector<double> x(std::size_t(rows * cols)), expected(std::size_t(rows * outs));
  for (auto& v : x) f >> v;
  for (auto& v : expected) f >> v;
  const std::vector<double> got = m.predict(x);
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(got[i] - expected[i]) / (1e-6 + std::fabs(expected[i])));
  // Same kernels and the same float32 arithmetic as Python: equal to float32 rounding.
  check(worst < 1e-5, "a Python-written model predicts in C++ what it predicted in Python (worst rel err " +
                          std::to_string(worst) + ")");
  // Its CSV column names are kept, and written back: a file re-saved from C++ once lost them, and
  // `densegrad predict` could no longer read a CSV by name with it.
  const std::vector<std::string> features{"rooms", "area m\u00b2", "age"}, target{"price", "tax"};
  check(m.columns.features == features && m.columns.target == target, "load keeps the column names");
  const std::string bytes = m.save_to_memory();
  const Mlp<float> back = Mlp<float>::load_from_memory(bytes.data(), bytes.size());
  check(back.columns.features == features && back.columns.target == target, "save writes the column names back");
  Mlp<float> wrong = m;
  wrong.columns.target.pop_back();
  expect_invalid([&] { wrong.save_to_memory(); }, "column names that do not fit the model",
                 "save: columns name 3 features and 1 targets");
  wrong.columns.target = {"price", "rooms"};
  expect_invalid([&] { wrong.save_to_memory(); }, "a name that is a feature and a target", "both name 'rooms'");
  wrong.columns = Columns();
  const std::string plain = wrong.save_to_memory();
  check(plain.find("columns") == std::string::npos, "no column names, no columns entry");
}

Mlp<float> fixture_model() {
  Mlp<float> m({{4, 6, Activation::Relu, 0.01, true}, {6, 3, Activation::Sigmoid, 0.01, false}, {3, 2}}, 99);
  m.normalization = {{1.0, 2.0, -1.0, 0.0}, {0.5, 2.0, 1.0, 3.0}, {0.25, -4.0}, {1.5, 10.0}};
  m.columns = {{"a", "b", "c \u00e9", "d"}, {"y", "z"}};  // read by the Python test, non-ASCII too
  return m;
}

// Writes the C++ side's fixture: a model file written by densegrad::Mlp and what C++ predicts,
// which tests/test_cpp_model.py loads in Python. (test_model --write-fixture DIR)
void write_fixture(const std::string& dir) {
  Mlp<float> m = fixture_model();
  m.save(dir + "/cpp_model.safetensors");
  const std::vector<double> x = inputs(5, 4), y = m.predict(x);
  std::FILE* f = std::fopen((dir + "/cpp_model_predictions.txt").c_str(), "w");
  std::fprintf(f, "5 4 2\n");
  for (double v : x) std::fprintf(f, "%.17g ", v);
  std::fprintf(f, "\n");
  for (double v : y) std::fprintf(f, "%.17g ", v);
  std::fprintf(f, "\n");
  std::fclose(f);
}

// The committed C++ fixture still says what this code predicts (so Python's test is current).
void test_cpp_fixture_is_current(const std::string& dir) {
  std::FILE* f = std::fopen((dir + "/cpp_model.safetensors").c_str(), "rb");
  std::string committed;
  char buf[4096];
  for (std::size_t n; f != nullptr && (n = std::fread(buf, 1, sizeof buf, f)) > 0;) committed.append(buf, n);
  if (f != nullptr) std::fclose(f);
  check(committed == fixture_model().save_to_memory(),
        "the committed C++ fixture is byte for byte what write_fixture writes (rerun test_model --write-fixture cpp/tests/data)");
}

// The matrix-view forms of the dense kernels agree with the pointer forms and check shapes.
void test_matrix_views() {
  std::vector<float> x(3 * 4), w(5 * 4), b(5, 0.5f), y1(3 * 5), y2(3 * 5);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(double(i)));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(std::cos(double(i)));
  dense_forward<float>(y1.data(), nullptr, x.data(), w.data(), b.data(), 3, 4, 5, Activation::Tanh, 0.f);
  dense_forward<float>(MatrixView<float>(y2.data(), 3, 5), MatrixView<float>(), MatrixView<const float>(x.data(), 3, 4),
                       MatrixView<const float>(w.data(), 5, 4), b.data(), Activation::Tanh);
  check(y1 == y2, "dense_forward on views equals the pointer form");
  expect_invalid([&] {
    dense_forward<float>(MatrixView<float>(y2.data(), 3, 4), MatrixView<float>(), MatrixView<const float>(x.data(), 3, 4),
                         MatrixView<const float>(w.data(), 5, 4), b.data(), Activation::Tanh);
  }, "a view of the wrong shape", "expected (3, 5)");
  expect_invalid([&] {
    dense_forward<float>(MatrixView<float>(y2.data(), 3, 5), MatrixView<float>(), MatrixView<const float>(x.data(), 3, 2),
                         MatrixView<const float>(w.data(), 5, 4), b.data(), Activation::Tanh);
  }, "x and w that do not match", "expected (5, 2)");
  expect_invalid([&] {
    dense_forward<float>(MatrixView<float>(y2.data(), 3, 5), MatrixView<float>(), MatrixView<const float>(x.data(), 3, 2, 4),
                         MatrixView<const float>(w.data(), 5, 2), b.data(), Activation::Tanh);
  }, "a view with gaps between rows", "rows must be contiguous");
  std::vector<float> dy(3 * 5, 1.f), dx(3 * 4), dw(5 * 4), db(5), dz(3 * 5), dx2(3 * 4), dw2(5 * 4), db2(5);
  dense_backward<float>(dx.data(), dw.data(), db.data(), dz.data(), dy.data(), x.data(), w.data(), y1.data(), nullptr, 3, 4, 5,
                        Activation::Tanh, 0.f, false);
  dense_backward<float>(MatrixView<float>(dx2.data(), 3, 4), MatrixView<float>(dw2.data(), 5, 4), db2.data(),
                        MatrixView<float>(dz.data(), 3, 5), MatrixView<const float>(dy.data(), 3, 5),
                        MatrixView<const float>(x.data(), 3, 4), MatrixView<const float>(w.data(), 5, 4),
                        MatrixView<const float>(y1.data(), 3, 5), MatrixView<const float>(), Activation::Tanh);
  check(dx == dx2 && dw == dw2 && db == db2, "dense_backward on views equals the pointer form");
  // No template argument: T comes from the output views; mutable input views, nullptr and a
  // double slope convert (each of these calls once needed dense_forward<float>).
  std::vector<float> y3(3 * 5), dx3(3 * 4), dw3(5 * 4), db3(5);
  MatrixView<float> xm(x.data(), 3, 4), wm(w.data(), 5, 4);
  dense_forward(MatrixView<float>(y3.data(), 3, 5), {}, xm, wm, b.data(), Activation::Tanh, 0.01);
  check(y3 == y1, "dense_forward on views deduces its type from y");
  std::vector<float> y4(3 * 5), y5(3 * 5);
  dense_forward(MatrixView<float>(y4.data(), 3, 5), {}, xm, wm, nullptr, Activation::Identity);
  dense_forward<float>(y5.data(), nullptr, x.data(), w.data(), nullptr, 3, 4, 5, Activation::Identity, 0.f);
  check(y4 == y5, "dense_forward on views with a null bias");
  dense_backward(MatrixView<float>(dx3.data(), 3, 4), MatrixView<float>(dw3.data(), 5, 4), db3.data(),
                 MatrixView<float>(dz.data(), 3, 5), MatrixView<float>(dy.data(), 3, 5), xm, wm,
                 MatrixView<float>(y1.data(), 3, 5), {}, Activation::Tanh);
  check(dx3 == dx && dw3 == dw && db3 == db, "dense_backward on views deduces its type from dx, dw and dz");
}

// predict() takes doubles into a float model: one beyond float's range becomes +-inf (from the
// halfway point above FLT_MAX) or +-FLT_MAX (below it), as NumPy's cast gives, not undefined
// behaviour.
void test_predict_narrows_doubles_beyond_float() {
  Mlp<float> m({{1, 1}}, 0);
  m.weight(0)(0, 0) = 1.0f;
  *m.bias(0) = 0.0f;
  const double fmax = double(std::numeric_limits<float>::max());
  const std::vector<double> y = m.predict({1e300, -1e300, 0x1.ffffffp127, 0x1.fffffefffffffp127, -fmax * 1.0000000001,
                                            std::nan("")});
  const double inf = std::numeric_limits<double>::infinity();
  check(y.size() == 6 && y[0] == inf && y[1] == -inf && y[2] == inf && y[3] == fmax && y[4] == -fmax && std::isnan(y[5]),
        "predict narrows doubles beyond float's range to +-inf / +-FLT_MAX");
}

// One model served from several threads: the const forward / predict, each thread with a
// workspace of its own, give every thread the bits of the same call made alone. Batches of 1 (the
// few-rows path), 7 and 300 rows (packed; split over the pool with parallel_min_work 0, or run on
// the caller while another thread holds the pool). tests/sanitize.sh runs it under TSan
// (`test_model --threads`).
void test_concurrent_predict_on_one_model() {
  Mlp<float> trained({{6, 48, Activation::Tanh, 0.01, true},
                      {48, 40, Activation::Relu, 0.01, true},
                      {40, 3, Activation::Identity, 0.01, true}},
                     11);
  trained.normalization = {{0.5, -1, 0, 2, 0, 1}, {2, 1, 3, 0.5, 1, 1}, {10, -3, 0}, {4, 0.25, 1}};
  const std::vector<double> xt = inputs(64, 6), yt = inputs(64, 3);
  std::vector<float> xf(xt.begin(), xt.end()), yf(yt.begin(), yt.end());
  for (int s = 0; s < 5; ++s) trained.train_step(xf.data(), yf.data(), 64);
  const Mlp<float>& model = trained;  // only const members from here on
  check(model.weight(1).data == trained.weight(1).data && model.weight(1).rows == 40 && model.weight(1).cols == 48 &&
            model.bias(2) == trained.bias(2),
        "a const model's weight and bias views are the model's own");
  expect_invalid([&] { model.weight(3); }, "a const model's layer index out of range", "out of range");

  constexpr int kCallers = 4;
  const int rows[3] = {1, 7, 300};
  auto job = [&](int who, int r) {  // inputs of their own per caller: no row shared with another
    std::vector<double> x = inputs(rows[r] + who, 6);
    for (double& v : x) v += 0.25 * who;
    return x;
  };
  const int saved_threads = get_num_threads();
  const Index saved_min = detail::parallel_min_work();
  for (int mode = 0; mode < 2; ++mode) {
    set_num_threads(2);
    detail::set_parallel_min_work(mode == 0 ? saved_min : 0);
    std::vector<std::vector<double>> alone(kCallers * 3);
    MlpWorkspace<float> one;
    for (int who = 0; who < kCallers; ++who)
      for (int r = 0; r < 3; ++r) alone[std::size_t(who * 3 + r)] = model.predict(job(who, r), one);
    std::vector<int> agree(kCallers, 0);
    std::vector<std::thread> threads;
    for (int who = 0; who < kCallers; ++who)
      threads.emplace_back([&, who] {
        MlpWorkspace<float> ws;
        std::vector<float> y;
        for (int rep = 0; rep < 5; ++rep)
          for (int r = 0; r < 3; ++r) {
            const std::vector<double> x = job(who, r);
            agree[std::size_t(who)] += model.predict(x, ws) == alone[std::size_t(who * 3 + r)];
            // the raw forward too: the first output column, un-normalised as predict does
            const Normalization& nz = model.normalization;
            const Index batch = Index(x.size() / 6);
            std::vector<float> xn(x.size());
            for (std::size_t i = 0; i < x.size(); ++i)
              xn[i] = float((x[i] - nz.x_mean[i % 6]) / nz.x_std[i % 6]);
            y.assign(std::size_t(batch * 3), 0.f);
            model.forward(y.data(), xn.data(), batch, ws);
            bool same = true;
            for (Index i = 0; i < batch; ++i)
              same = same && double(y[std::size_t(i * 3)]) * nz.y_std[0] + nz.y_mean[0] ==
                                 alone[std::size_t(who * 3 + r)][std::size_t(i * 3)];
            agree[std::size_t(who)] += same;
          }
      });
    for (auto& t : threads) t.join();
    for (int who = 0; who < kCallers; ++who)
      check(agree[std::size_t(who)] == 30, "caller " + std::to_string(who) +
                                               (mode == 0 ? " (default limits)" : " (split over the pool)") +
                                               ": concurrent predict and forward on one model bitwise equal to alone (" +
                                               std::to_string(agree[std::size_t(who)]) + "/30)");
  }
  set_num_threads(saved_threads);
  detail::set_parallel_min_work(saved_min);
  MlpWorkspace<float> fresh;
  check(trained.predict(job(0, 1)) == model.predict(job(0, 1), fresh),
        "the one-argument predict (the model's own workspace) agrees with the const one");
}

// save() writes a temporary file beside the target and renames it over the target: a file that
// was there is replaced whole, and no temporary file stays behind, also when saving fails.
void test_save_replaces_the_file_whole() {
  const std::string path = "test_model_replace.safetensors";  // in the working directory
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("an older, longer file that is not a model at all ..............................", f);
    std::fclose(f);
  }
  Mlp<float> m({{3, 2, Activation::Tanh}, {2, 1}}, 5);
  m.save(path);
  const Mlp<float> back = Mlp<float>::load(path);
  check(back.save_to_memory() == m.save_to_memory(), "save replaced the older file with the model");
  bool left = false;
  for (const auto& entry : std::filesystem::directory_iterator("."))
    left |= entry.path().filename().string().rfind(path + ".tmp", 0) == 0;
  check(!left, "no temporary file is left after a save");
  std::string said;
  try {
    m.save("no_such_directory_here/model.safetensors");
  } catch (const std::runtime_error& e) {
    said = e.what();
  }
  check(said == "densegrad: cannot write no_such_directory_here/model.safetensors (" + std::string(std::strerror(ENOENT)) + ")",
        "saving into a missing directory says why, naming the path asked for (" + said + ")");
  said.clear();
  try {
    Mlp<float>::load(".");
  } catch (const std::runtime_error& e) {
    said = e.what();
  }
  check(said.rfind("densegrad: cannot read . (", 0) == 0, "loading a directory says why (" + said + ")");
  std::remove(path.c_str());
}

// A train_step that throws changes nothing, its step not counted (Adam's bias correction once
// went off by one after a refused call); sizes that overflow are refused before any product.
void test_a_refused_step_changes_nothing() {
  OptimizerSpec adam;
  adam.kind = OptimizerSpec::Kind::Adam;
  adam.adam.lr = 0.1;
  Mlp<float> a({{2, 1}}, 3), b({{2, 1}}, 3);
  a.set_optimizer(adam);
  b.set_optimizer(adam);
  const std::vector<float> x{1.0f, 2.0f}, y{0.5f};
  expect_invalid([&] { b.train_step(x.data(), y.data(), 1, Reduction::None); }, "a step with Reduction::None");
  const Index huge = Index(1) << 62;
  expect_invalid([&] { b.train_step(x.data(), y.data(), huge); }, "a batch whose size overflows");
  expect_invalid([&] { b.forward(nullptr, x.data(), huge); }, "a forward batch whose size overflows");
  a.train_step(x.data(), y.data(), 1);
  b.train_step(x.data(), y.data(), 1);
  check(a.weight(0)(0, 0) == b.weight(0)(0, 0) && a.weight(0)(0, 1) == b.weight(0)(0, 1),
        "after refused calls, a step gives what a first step gives");
  Mlp<float> moved = std::move(a);
  check(a.in_features() == 0 && a.out_features() == 0, "a moved-from model has no features (no crash)");
  check(moved.in_features() == 2, "the model moved to keeps them");
}

// JSON numbers are read and written the same way whatever the C locale: an embedding program
// that calls setlocale(LC_ALL, "") under a decimal-comma locale once read a LeakyReLU slope of
// 0.25 as 0 and wrote "0,25" (strtod and snprintf). Checked in the C locale and, where the
// process can switch to one, in a decimal-comma locale (`require_comma`: the ctest run that made
// one, see CMakeLists.txt, fails without it).
void check_json_numbers(const char* where) {
  const struct { const char* text; double value; } reads[] = {
      {"0.25", 0.25}, {"-0.5e-3", -0.5e-3}, {"12345678901234567890", 12345678901234567890.0}, {"1E2", 100.0},
      {"4.9e-324", 4.9e-324}, {"1.7976931348623157e308", 1.7976931348623157e308},
      // outside double's range: what Python's json gives
      {"1e400", HUGE_VAL}, {"-1.8e308", -HUGE_VAL}, {"0.000001e309", 1e303}, {"0.1e310", HUGE_VAL}, {"100000e304", HUGE_VAL},
      {"123e-330", 0.0},
      {"1e-400", 0.0}, {"-2e-324", -0.0}, {"0.0001e-321", 0.0}, {"-0.0", -0.0}, {"0e999999999999", 0.0}};
  for (const auto& r : reads) {
    const json::Value v = json::parse(r.text);
    check(v.is(json::Value::Kind::Number) && v.number == r.value && std::signbit(v.number) == std::signbit(r.value),
          std::string(where) + ": JSON " + r.text + " reads as " + std::to_string(v.number));
  }
  // Long texts: the first digit's position outweighs a large exponent (1e-50000 and 1e49999)
  const std::string zeros(150000, '0');
  const double tiny = json::parse("1" + zeros + "e-200000").number, huge = json::parse("0." + zeros + "1e200000").number;
  check(tiny == 0.0 && huge == HUGE_VAL, std::string(where) + ": 1e-50000 reads as 0 and 1e49999 as inf when written long");
  const struct { double value; const char* text; } writes[] = {
      {0.25, "0.25"}, {-0.5e-3, "-0.00050000000000000001"}, {1.0 / 3, "0.33333333333333331"}, {100.0, "100"},
      {-0.0, "-0.0"}, {1e22, "1e+22"}, {4.9e-324, "4.9406564584124654e-324"}, {9007199254740991.0, "9007199254740991"}};
  for (const auto& w : writes) {
    json::Value v;
    v.kind = json::Value::Kind::Number;
    v.number = w.value;
    check(json::dump(v) == w.text, std::string(where) + ": " + w.text + " is written as " + json::dump(v));
  }
  LayerSpec l0;
  l0.in = 1, l0.out = 1, l0.act = Activation::LeakyRelu, l0.slope = 0.25, l0.bias = false;
  Mlp<double> m({l0}, 1);
  const std::string bytes = m.save_to_memory();
  // the architecture is a JSON text inside the header's metadata: its quotes are escaped
  check(bytes.find("\\\"negative_slope\\\":0.25") != std::string::npos, std::string(where) + ": the slope is written 0.25");
  check(Mlp<double>::load_from_memory(bytes.data(), bytes.size()).layers()[0].slope == 0.25,
        std::string(where) + ": the slope reads back as 0.25");
}

void test_json_numbers_ignore_the_locale(bool require_comma) {
  check_json_numbers("C locale");
  const char* comma = nullptr;
  for (const char* name : {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE"})
    if (std::setlocale(LC_ALL, name) != nullptr) {
      if (std::strcmp(std::localeconv()->decimal_point, ",") == 0) {
        comma = name;
        break;
      }
      std::setlocale(LC_ALL, "C");
    }
  if (comma == nullptr) {
    std::printf("note: no decimal-comma locale here; JSON numbers checked in the C locale only\n");
    check(!require_comma, "a decimal-comma locale (the build made de_DE.UTF-8 under LOCPATH)");
    return;
  }
  char probe[16];
  std::snprintf(probe, sizeof probe, "%.2f", 0.25);
  check(std::strcmp(probe, "0,25") == 0, "the locale writes 0,25 (" + std::string(probe) + ")");
  check_json_numbers(comma);
  std::setlocale(LC_ALL, "C");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string(argv[1]) == "--write-fixture") {
    write_fixture(argv[2]);
    return 0;
  }
  // `test_model --locale [--require-comma-locale]`: only the locale test (its own ctest entry)
  if (argc > 1 && std::string(argv[1]) == "--locale") {
    test_json_numbers_ignore_the_locale(argc > 2 && std::string(argv[2]) == "--require-comma-locale");
    return densegrad_test::report();
  }
  // `test_model --threads`: only the test that uses threads (tests/sanitize.sh, under TSan)
  if (argc > 1 && std::string(argv[1]) == "--threads") {
    test_concurrent_predict_on_one_model();
    return densegrad_test::report();
  }
  test_construction_and_init();
  test_parameter_count_cannot_wrap();
  test_gradients_by_finite_differences();
  test_round_trip<float>();
  test_round_trip<double>();
  test_rejects_bad_files();
  test_normalization_is_checked();
  test_columns_are_checked();
  test_zero_width_layers();
  test_reader_is_as_strict_as_python();
  test_huge_architecture_is_refused_before_allocating();
  test_header_must_be_utf8();
  test_matrix_views();
  test_json_numbers_ignore_the_locale(false);
  test_save_replaces_the_file_whole();
  test_a_refused_step_changes_nothing();
  test_predict_narrows_doubles_beyond_float();
  test_concurrent_predict_on_one_model();
  if (argc > 1) {
    test_python_written_model(argv[1]);
    test_cpp_fixture_is_current(argv[1]);
  }
  return densegrad_test::report();
}
