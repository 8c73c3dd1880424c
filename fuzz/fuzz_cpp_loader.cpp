// libFuzzer target for the C++ model-file reader: densegrad::Mlp<float/double>::load_from_memory
// on arbitrary bytes (seeded with the model files in cpp/tests/data and the dictionary
// fuzz/model.dict). The only exception it may throw is std::invalid_argument; a model that loads
// must predict (finite or not) and save, and what it saves must load again and predict the same.
// Built and run by fuzz/run.sh (target cpploader).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "densegrad/model.hpp"

namespace {

template <typename T>
void round_trip(const char* data, std::size_t size) {
  densegrad::Mlp<T> m = densegrad::Mlp<T>::load_from_memory(data, size);
  if (m.in_features() > 64 || m.out_features() > 64) return;  // keep an iteration cheap
  std::vector<double> x(static_cast<std::size_t>(2 * m.in_features()), 0.5);
  const std::vector<double> y = m.predict(x);
  const std::string again = m.save_to_memory();
  densegrad::Mlp<T> back = densegrad::Mlp<T>::load_from_memory(again.data(), again.size());
  const std::vector<double> y2 = back.predict(x);
  for (std::size_t i = 0; i < y.size(); ++i)
    if (!(y[i] == y2[i]) && !(y[i] != y[i] && y2[i] != y2[i])) {  // equal, or both NaN
      std::fprintf(stderr, "a saved and reloaded model predicts differently\n");
      std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  try {
    round_trip<float>(p, size);
  } catch (const std::invalid_argument&) {
  }
  try {
    round_trip<double>(p, size);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
