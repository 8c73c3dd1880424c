// The C++ tests' tiny harness: count checks, print each failure, and exit non-zero if any failed.
#pragma once

#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

namespace densegrad_test {

inline int g_checks = 0, g_failures = 0;

inline void check(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

// f must throw std::invalid_argument whose message contains `fragment`.
inline void expect_invalid(const std::function<void()>& f, const std::string& what, const std::string& fragment = "") {
  std::string msg;
  bool threw = false;
  try {
    f();
  } catch (const std::invalid_argument& e) {
    threw = true;
    msg = e.what();
  }
  check(threw && msg.find(fragment) != std::string::npos,
        "rejects " + what + (threw ? " (said: " + msg + ")" : " (did not throw)"));
}

// Prints the tally; the process's exit status.
inline int report() {
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}

}  // namespace densegrad_test
