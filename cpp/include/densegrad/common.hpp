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

namespace detail {

// Throws std::invalid_argument (ValueError in Python) when `ok` is false.
inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("densegrad: " + what);
}

inline std::string shape_str(Index r, Index c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

// Non-negative size, and r * c (elements) * elem_size (bytes) fits in an Index.
inline void require_shape(const char* name, Index r, Index c, std::size_t elem_size) {
  require(r >= 0 && c >= 0,
          std::string(name) + " has a negative size " + shape_str(r, c));
  const Index max_elems = std::numeric_limits<Index>::max() / static_cast<Index>(elem_size);
  require(c == 0 || r <= max_elems / c,
          std::string(name) + " of shape " + shape_str(r, c) + " is too large to address");
}

// A pointer may be null only when it addresses no element.
inline void require_data(const char* name, const void* p, Index count) {
  require(p != nullptr || count == 0, std::string(name) + " is null but has elements");
}

template <typename T>
void require_view(const char* name, const MatrixView<T>& v) {
  require_shape(name, v.rows, v.cols, sizeof(T));
  require(v.ld >= v.cols && (v.rows <= 1 || v.ld >= 1),
          std::string(name) + ": leading dimension " + std::to_string(v.ld) +
              " is smaller than its " + std::to_string(v.cols) + " columns");
  require(v.rows == 0 || v.ld <= std::numeric_limits<Index>::max() / static_cast<Index>(sizeof(T)) / v.rows,
          std::string(name) + ": leading dimension too large to address");
  require_data(name, v.data, v.size());
}

}  // namespace detail
}  // namespace densegrad
