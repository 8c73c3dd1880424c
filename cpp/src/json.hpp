// Internal: a small JSON value, parser and writer -- just what safetensors headers and the
// model-file metadata need. The parser is strict (RFC 8259, UTF-8 included), bounded in nesting
// depth, and throws std::invalid_argument with the byte offset on any malformed input; it never
// reads past `end`.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace densegrad {
namespace json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  double number = 0.0;
  bool integer = false;  // a number written without fraction or exponent ("2", not "2.0" or "2e0")
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // in file order; keys unique (checked)

  bool is(Kind k) const { return kind == k; }
  // The member named key, or null if absent (objects only).
  const Value* find(const std::string& key) const;
};

// Parses [text, text + size); throws std::invalid_argument on malformed JSON.
Value parse(const char* text, std::size_t size);
inline Value parse(const std::string& s) { return parse(s.data(), s.size()); }

// Serialises a value (compact; numbers with enough digits to round-trip a double).
std::string dump(const Value& v);
std::string quote(const std::string& s);

}  // namespace json
}  // namespace densegrad
