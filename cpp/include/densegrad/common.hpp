// Shared vocabulary of the densegrad C++ core: the Index type, a non-owning row-major matrix view,
// and the argument checks every public entry point runs before it touches a pointer.
// Nothing here allocates or knows about Python.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace densegrad {

// Signed, 64-bit: sizes and strides. Negative sizes are rejected by the checks below.
using Index = std::int64_t;

// A row-major view of `rows` x `cols` elements; row r starts at data + r * ld (ld >= cols).
template <typename T>
struct MatrixView {
  T* data = nullptr;
  Index rows = 0;
  Index cols = 0;
  Index ld = 0;

  MatrixView() = default;
  MatrixView(T* d, Index r, Index c) : data(d), rows(r), cols(c), ld(c) {}
  MatrixView(T* d, Index r, Index c, Index l) : data(d), rows(r), cols(c), ld(l) {}
  // A view of mutable data converts to a view of const data.
  template <typename U>
  MatrixView(const MatrixView<U>& o) : data(o.data), rows(o.rows), cols(o.cols), ld(o.ld) {}

  T& operator()(Index r, Index c) const { return data[r * ld + c]; }
  Index size() const { return rows * cols; }
};

// Throws std::invalid_argument (ValueError in Python) when `cond` is false. A macro so that the
// message -- often built with std::string concatenation -- is only evaluated on failure: the
// checks run on every kernel call, which must not allocate.
#define DENSEGRAD_CHECK(cond, message)                                          \
  do {                                                                          \
    if (!(cond)) throw std::invalid_argument(std::string("densegrad: ") + (message)); \
  } while (0)

namespace detail {

// A parameter of type no_deduce_t<T> takes no part in deducing T (std::type_identity_t in
// C++20): the view kernels deduce T from their output views alone, and their inputs then convert
// (a MatrixView<float> to MatrixView<const float>, nullptr to const float*, 0.01 to float).
template <typename T>
struct NoDeduce {
  using type = T;
};
template <typename T>
using no_deduce_t = typename NoDeduce<T>::type;

inline std::string shape_str(Index r, Index c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

// Non-negative size, and r * c (elements) * elem_size (bytes) fits in an Index.
inline void require_shape(const char* name, Index r, Index c, std::size_t elem_size) {
  DENSEGRAD_CHECK(r >= 0 && c >= 0, std::string(name) + " has a negative size " + shape_str(r, c));
  const Index max_elems = std::numeric_limits<Index>::max() / static_cast<Index>(elem_size);
  DENSEGRAD_CHECK(c == 0 || r <= max_elems / c,
                  std::string(name) + " of shape " + shape_str(r, c) + " is too large to address");
}

// A pointer may be null only when it addresses no element.
inline void require_data(const char* name, const void* p, Index count) {
  DENSEGRAD_CHECK(p != nullptr || count == 0, std::string(name) + " is null but has elements");
}

template <typename T>
void require_view(const char* name, const MatrixView<T>& v) {
  require_shape(name, v.rows, v.cols, sizeof(T));
  DENSEGRAD_CHECK(v.ld >= v.cols, std::string(name) + ": leading dimension " + std::to_string(v.ld) +
                                      " is smaller than its " + std::to_string(v.cols) + " columns");
  DENSEGRAD_CHECK(v.rows == 0 || v.ld <= std::numeric_limits<Index>::max() / static_cast<Index>(sizeof(T)) / v.rows,
                  std::string(name) + ": leading dimension too large to address");
  require_data(name, v.data, v.size());
}

}  // namespace detail
}  // namespace densegrad
