/* Tiny test helpers shared by the C test programs (and usable from C++). */
#ifndef CFS_TEST_CHECK_H
#define CFS_TEST_CHECK_H

#if !defined(_POSIX_C_SOURCE) && !defined(__cplusplus)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cyberfly_store.h"

/* A string literal as (pointer, length) arguments. */
#define S(lit) (lit), (sizeof(lit) - 1)

static int check_passed = 0;
static int check_failed = 0;

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (cond) {                                                                    \
      check_passed++;                                                              \
    } else {                                                                       \
      check_failed++;                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
    }                                                                              \
  } while (0)

#define CHECK_RC(call, want)                                                       \
  do {                                                                             \
    cfs_result check_r_ = (call);                                                  \
    if (check_r_ == (cfs_result)(want)) {                                          \
      check_passed++;                                                              \
    } else {                                                                       \
      check_failed++;                                                              \
      fprintf(stderr, "%s:%d: %s returned %u, want %u\n", __FILE__, __LINE__,     \
              #call, (unsigned)check_r_, (unsigned)(want));                        \
    }                                                                              \
  } while (0)

#define CHECK_OK(call) CHECK_RC(call, CFS_RESULT_OK)

/* Text of a view equals a C string. */
static inline int str_eq(cfs_str s, const char *want) {
  return s.data != NULL && s.len == strlen(want) && memcmp(s.data, want, s.len) == 0;
}

static inline int string_eq(cfs_string s, const char *want) {
  return s.data != NULL && s.len == strlen(want) && memcmp(s.data, want, s.len) == 0;
}

static inline cfs_str view(const char *s) {
  cfs_str v;
  v.data = s;
  v.len = strlen(s);
  return v;
}

/* A fresh directory under $TMPDIR (or /tmp) into buf. */
static inline int make_tmpdir(char *buf, size_t n) {
  const char *base = getenv("TMPDIR");
  snprintf(buf, n, "%s/cfs-test-XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(buf) != NULL;
}

static inline int check_finish(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed == 0 ? 0 : 1;
}

#endif
