// The JSON parser and writer declared in json.hpp.
#include "json.hpp"

#include <charconv>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

// Floating-point std::from_chars / std::to_chars: libstdc++ 11 and later, MSVC, libc++ 20 and
// later (each defines __cpp_lib_to_chars once it has them); other libraries take the fallbacks.
// (-DDENSEGRAD_FLOAT_CHARCONV=0 forces the fallbacks, to test them.)
#ifndef DENSEGRAD_FLOAT_CHARCONV
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
#define DENSEGRAD_FLOAT_CHARCONV 1
#else
#define DENSEGRAD_FLOAT_CHARCONV 0
#endif
#endif

namespace densegrad {
namespace json {

const Value* Value::find(const std::string& key) const {
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

namespace {

constexpr int kMaxDepth = 64;  // deep enough for any header; bounded so hostile input cannot blow the stack

// strtod of the JSON number [b, e) (its grammar checked) written in the C locale's notation: the
// '.' becomes the locale's decimal point. Used where from_chars gives no value.
double strtod_c(const char* b, const char* e) {
  const std::string point = std::localeconv()->decimal_point;
  std::string text;
  for (const char* q = b; q < e; ++q)
    if (*q == '.') text += point;
    else text += *q;
  return std::strtod(text.c_str(), nullptr);
}

// `v` as "%.*g" or "%.0f" (fixed) in the C locale: std::to_chars where the standard library has
// it for floating point, else snprintf with the locale's decimal point turned back into '.'.
std::string format_c(double v, bool fixed) {
  char buf[64];
#if DENSEGRAD_FLOAT_CHARCONV
  const std::to_chars_result r = fixed ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 0)
                                       : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 17);
  if (r.ec != std::errc()) throw std::logic_error("densegrad: JSON number does not fit its buffer");
  return std::string(buf, r.ptr);
#else
  std::snprintf(buf, sizeof buf, fixed ? "%.0f" : "%.17g", v);
  const std::string point = std::localeconv()->decimal_point;
  std::string text = buf;
  if (point != ".")
    for (std::size_t at = text.find(point); at != std::string::npos; at = text.find(point, at + 1))
      text.replace(at, point.size(), ".");
  return text;
#endif
}

class Parser {
 public:
  Parser(const char* p, std::size_t n) : begin_(p), p_(p), end_(p + n) {}

  Value document() {
    Value v = value(0);
    skip_ws();
    if (p_ != end_) fail("trailing characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("densegrad: invalid JSON at byte " + std::to_string(p_ - begin_) + ": " + what);
  }
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool consume(const char* word) {
    const std::size_t n = std::strlen(word);
    if (std::size_t(end_ - p_) >= n && std::memcmp(p_, word, n) == 0) {
      p_ += n;
      return true;
    }
    return false;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nested too deeply");
    skip_ws();
    if (p_ == end_) fail("unexpected end of input");
    Value v;
    const char c = *p_;
    if (c == '{') {
      v.kind = Value::Kind::Object;
      ++p_;
      skip_ws();
      if (p_ < end_ && *p_ == '}') { ++p_; return v; }
      for (;;) {
        skip_ws();
        if (p_ == end_ || *p_ != '"') fail("expected a string key");
        std::string key = string();
        if (v.find(key) != nullptr) fail("duplicate key \"" + key + "\"");
        skip_ws();
        if (p_ == end_ || *p_ != ':') fail("expected ':'");
        ++p_;
        v.object.emplace_back(std::move(key), value(depth + 1));
        skip_ws();
        if (p_ < end_ && *p_ == ',') { ++p_; continue; }
        if (p_ < end_ && *p_ == '}') { ++p_; return v; }
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = Value::Kind::Array;
      ++p_;
      skip_ws();
      if (p_ < end_ && *p_ == ']') { ++p_; return v; }
      for (;;) {
        v.array.push_back(value(depth + 1));
        skip_ws();
        if (p_ < end_ && *p_ == ',') { ++p_; continue; }
        if (p_ < end_ && *p_ == ']') { ++p_; return v; }
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = Value::Kind::String;
      v.string = string();
      return v;
    }
    if (consume("true")) { v.kind = Value::Kind::Bool; v.boolean = true; return v; }
    if (consume("false")) { v.kind = Value::Kind::Bool; return v; }
    if (consume("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Value::Kind::Number;
      v.number = number(&v.integer);
      return v;
    }
    // a byte outside printable ASCII as \xNN: the message may end up in a UTF-8 log
    char shown[8] = {c, 0};
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
      std::snprintf(shown, sizeof shown, "\\x%02x", unsigned(static_cast<unsigned char>(c)));
    fail(std::string("unexpected character '") + shown + "'");
  }

  // The number is read with std::from_chars, which ignores the C locale: strtod follows it, and
  // a program that called setlocale(LC_ALL, "") under a decimal-comma locale read 0.25 as 0
  // (tested). What from_chars leaves (out of double's range, where it gives no value; or all of
  // it, where the standard library has no floating-point from_chars) goes to strtod_c, which
  // gives what Python's json gives: +-inf above the range, subnormals and +-0 below it.
  double number(bool* integer) {
    const char* start = p_;
    *integer = true;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ == end_) fail("incomplete number");
    if (*p_ == '0') ++p_;
    else if (*p_ >= '1' && *p_ <= '9') while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    else fail("invalid number");
    if (p_ < end_ && *p_ == '.') {
      *integer = false;
      ++p_;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail("invalid fraction");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      *integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail("invalid exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
#if DENSEGRAD_FLOAT_CHARCONV
    double v = 0.0;
    const std::from_chars_result r = std::from_chars(start, p_, v);
    if (r.ec == std::errc() && r.ptr == p_) return v;
    if (r.ec != std::errc::result_out_of_range) fail("invalid number");
#endif
    return strtod_c(start, p_);
  }

  unsigned hex4() {
    if (end_ - p_ < 4) fail("incomplete \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = *p_++;
      v <<= 4;
      if (h >= '0' && h <= '9') v |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') v |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= unsigned(h - 'A' + 10);
      else fail("invalid \\u escape");
    }
    return v;
  }

  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) { out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
    else { out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
  }

  // The rest of a UTF-8 encoded character whose first byte b0 (>= 0x80) was just read, appended
  // to out. JSON text is UTF-8 (RFC 8259), and the Python reader refuses a header that does not
  // decode: stray continuation bytes, overlong forms, surrogates, code points past U+10FFFF and
  // truncated sequences are errors.
  void utf8_sequence(std::string& out, unsigned char b0) {
    int extra;
    unsigned cp, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) { extra = 1; cp = b0 & 0x1Fu; min = 0x80; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { extra = 2; cp = b0 & 0x0Fu; min = 0x800; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { extra = 3; cp = b0 & 0x07u; min = 0x10000; }
    else fail("invalid UTF-8");
    out += char(b0);
    for (int i = 0; i < extra; ++i) {
      if (p_ == end_ || (static_cast<unsigned char>(*p_) & 0xC0) != 0x80) fail("invalid UTF-8");
      cp = (cp << 6) | (static_cast<unsigned char>(*p_) & 0x3Fu);
      out += *p_++;
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("invalid UTF-8");
  }

  std::string string() {
    ++p_;  // opening quote
    std::string out;
    for (;;) {
      if (p_ == end_) fail("unterminated string");
      const char c = *p_++;
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (static_cast<unsigned char>(c) >= 0x80) {
        utf8_sequence(out, static_cast<unsigned char>(c));
        continue;
      }
      if (c != '\\') { out += c; continue; }
      if (p_ == end_) fail("unterminated escape");
      const char e = *p_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair
            if (!consume("\\u")) fail("unpaired surrogate");
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("invalid surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate");
          }
          utf8(out, cp);
          break;
        }
        default: fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

void dump_to(std::string& out, const Value& v) {
  switch (v.kind) {
    case Value::Kind::Null: out += "null"; break;
    case Value::Kind::Bool: out += v.boolean ? "true" : "false"; break;
    case Value::Kind::Number: {
      if (!std::isfinite(v.number)) throw std::invalid_argument("densegrad: JSON cannot hold a non-finite number");
      // Whole numbers (sizes, offsets) as integers; others with 17 significant digits (exact).
      // -0.0 stays a float: written "-0", Python's json reads the integer 0 and loses the sign
      // (a LeakyReLU slope of -0.0 gives -0.0, not 0.0, for a negative input).
      // format_c: the same text whatever the C locale (see number())
      if (v.number == 0.0 && std::signbit(v.number))
        out += "-0.0";
      else
        out += format_c(v.number, v.number == std::floor(v.number) && std::fabs(v.number) < 9.007199254740992e15);
      break;
    }
    case Value::Kind::String: out += quote(v.string); break;
    case Value::Kind::Array:
      out += '[';
      for (std::size_t i = 0; i < v.array.size(); ++i) {
        if (i) out += ',';
        dump_to(out, v.array[i]);
      }
      out += ']';
      break;
    case Value::Kind::Object:
      out += '{';
      for (std::size_t i = 0; i < v.object.size(); ++i) {
        if (i) out += ',';
        out += quote(v.object[i].first);
        out += ':';
        dump_to(out, v.object[i].second);
      }
      out += '}';
      break;
  }
}

}  // namespace

Value parse(const char* text, std::size_t size) { return Parser(text, size).document(); }

std::string dump(const Value& v) {
  std::string out;
  dump_to(out, v);
  return out;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace json
}  // namespace densegrad
