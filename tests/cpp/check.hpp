// What the C++ tests share: pass/fail counters (atomic: tests run checks
// from several threads), EXPECT, expect_error and a temporary directory.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "cyberfly_store.hpp"

namespace {

std::atomic<int> passed{0};
std::atomic<int> failed{0};

#define EXPECT(cond)                                                              \
  do {                                                                            \
    if (cond) {                                                                   \
      passed++;                                                                   \
    } else {                                                                      \
      failed++;                                                                   \
      std::fprintf(stderr, "%s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                             \
  } while (0)

// `f` must throw a cfs::error with code `want` (and, if given, `words` in
// its message).
template <class F>
void expect_error(cfs_result want, F &&f, const char *words = nullptr) {
  try {
    f();
    failed++;
    std::fprintf(stderr, "expected error %u, got none\n", static_cast<unsigned>(want));
  } catch (const cfs::error &e) {
    EXPECT(e.code() == want);
    if (e.code() != want) std::fprintf(stderr, "  got %u: %s\n", static_cast<unsigned>(e.code()), e.what());
    EXPECT(std::string(e.what()).size() > 0);
    EXPECT(!words || std::string(e.what()).find(words) != std::string::npos);
  }
}

std::string tmpdir() {
  const char *base = std::getenv("TMPDIR");
  std::string t = std::string(base && *base ? base : "/tmp") + "/cfs-cpp-XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp");
  return std::string(buf.data());
}

// The last line every test program prints, which tests/c/run.sh adds up.
int finish() {
  std::printf("%d passed, %d failed\n", passed.load(), failed.load());
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace
