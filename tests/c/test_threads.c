/* Eight host threads on one store handle, and completion callbacks for the
 * slow calls (set_many, get_many). */
#include "check.h"

#include <pthread.h>

#define THREADS 8
#define ROUNDS 60

typedef struct {
  cfs_store *st;
  int id;
  int passed;
  int failed;
} worker;

#define WCHECK(w, cond)                                                           \
  do {                                                                            \
    if (cond) {                                                                   \
      (w)->passed++;                                                              \
    } else {                                                                      \
      (w)->failed++;                                                              \
      fprintf(stderr, "%s:%d: thread %d: CHECK failed: %s\n", __FILE__, __LINE__, \
              (w)->id, #cond);                                                    \
    }                                                                             \
  } while (0)

static void *work(void *arg) {
  worker *w = (worker *)arg;
  int i;
  for (i = 0; i < ROUNDS; i++) {
    char key[64], val[64], shared[64];
    cfs_string v = {NULL, 0};
    bool found = false;
    int64_t n = 0;
    cfs_str k, items[1];
    cfs_str_list *l = NULL;
    snprintf(key, sizeof key, "t%d:k%d", w->id, i);
    snprintf(val, sizeof val, "v%d-%d", w->id, i);
    WCHECK(w, cfs_store_set(w->st, key, strlen(key), val, strlen(val), NULL) == CFS_RESULT_OK);
    WCHECK(w, cfs_store_get(w->st, key, strlen(key), &v, &found, NULL) == CFS_RESULT_OK);
    WCHECK(w, found && string_eq(v, val));
    cfs_string_free(&v);
    /* Everyone appends to one list and one hash: no update may be lost. */
    items[0] = view(val);
    WCHECK(w, cfs_store_rpush(w->st, S("shared:list"), items, 1, &n, NULL) == CFS_RESULT_OK);
    snprintf(shared, sizeof shared, "f%d-%d", w->id, i);
    WCHECK(w, cfs_store_hset(w->st, S("shared:hash"), shared, strlen(shared), val, strlen(val), NULL,
                             NULL) == CFS_RESULT_OK);
    k = view(key);
    WCHECK(w, cfs_store_get_many(w->st, &k, 1, &l, NULL) == CFS_RESULT_OK);
    WCHECK(w, str_eq(cfs_str_list_get(l, 0), val));
    cfs_str_list_free(l);
  }
  return NULL;
}

/* ---------------------------------------------------------- callbacks */

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int ok;
  const cfs_store *st;
} completions;

static void on_set_many(void *userdata, cfs_result result, cfs_error *err) {
  completions *c = (completions *)userdata;
  /* A callback may call the blocking API (it runs on a library thread that
   * is not one of the store's async workers). */
  cfs_string v = {NULL, 0};
  bool found = false;
  int good = result == CFS_RESULT_OK && err == NULL &&
             cfs_store_get(c->st, S("cb:a"), &v, &found, NULL) == CFS_RESULT_OK && found;
  cfs_string_free(&v);
  cfs_error_free(err);
  pthread_mutex_lock(&c->mu);
  c->done++;
  c->ok += good;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void on_get_many(void *userdata, cfs_result result, cfs_str_list *values, cfs_error *err) {
  completions *c = (completions *)userdata;
  int good = result == CFS_RESULT_OK && err == NULL && cfs_str_list_len(values) == 2 &&
             str_eq(cfs_str_list_get(values, 0), "1") && cfs_str_list_get(values, 1).data == NULL;
  cfs_str_list_free(values);
  cfs_error_free(err);
  pthread_mutex_lock(&c->mu);
  c->done++;
  c->ok += good;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void on_failure(void *userdata, cfs_result result, cfs_error *err) {
  completions *c = (completions *)userdata;
  int good = result == CFS_RESULT_INVALID_ARGUMENT && cfs_error_code(err) == result;
  cfs_error_free(err);
  pthread_mutex_lock(&c->mu);
  c->done++;
  c->ok += good;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void wait_for(completions *c, int n) {
  pthread_mutex_lock(&c->mu);
  while (c->done < n) pthread_cond_wait(&c->cv, &c->mu);
  pthread_mutex_unlock(&c->mu);
}

static void test_callbacks(cfs_store *st) {
  completions c;
  cfs_str_pair items[2];
  cfs_str keys[2];
  int i, n = 0;
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  c.done = 0;
  c.ok = 0;
  c.st = st;
  items[0].key = view("cb:a");
  items[0].value = view("1");
  items[1].key = view("cb:b");
  items[1].value = view("2");
  CHECK_OK(cfs_store_set_many_async(st, items, 2, on_set_many, &c, NULL));
  n++;
  wait_for(&c, n);
  keys[0] = view("cb:a");
  keys[1] = view("cb:absent");
  for (i = 0; i < 20; i++) {
    CHECK_OK(cfs_store_get_many_async(st, keys, 2, on_get_many, &c, NULL));
    CHECK_OK(cfs_store_set_many_async(st, items, 2, on_set_many, &c, NULL));
    n += 2;
  }
  wait_for(&c, n);
  /* A bad item fails in the callback, not synchronously (it is checked by
   * the core); a NULL callback or a NULL pointer fails at once and the
   * callback is never called. */
  items[1].key = view("");
  CHECK_OK(cfs_store_set_many_async(st, items, 2, on_failure, &c, NULL));
  n++;
  wait_for(&c, n);
  CHECK_RC(cfs_store_set_many_async(st, items, 2, NULL, &c, NULL), CFS_RESULT_NULL_POINTER);
  CHECK_RC(cfs_store_get_many_async(st, NULL, 2, on_get_many, &c, NULL), CFS_RESULT_NULL_POINTER);
  CHECK(c.done == n && c.ok == n);

  /* Completions still pending when the store is freed are delivered first. */
  items[1].key = view("cb:b");
  for (i = 0; i < 10; i++) {
    CHECK_OK(cfs_store_get_many_async(st, keys, 2, on_get_many, &c, NULL));
    n++;
  }
  cfs_store_free(st);
  CHECK(c.done == n && c.ok == n);
  pthread_mutex_destroy(&c.mu);
  pthread_cond_destroy(&c.cv);
}

int main(void) {
  char dir[256];
  cfs_store *st = NULL;
  cfs_config *cfg = NULL;
  pthread_t th[THREADS];
  worker w[THREADS];
  uint64_t len = 0;
  int i;
  CHECK(make_tmpdir(dir, sizeof dir));
  CHECK_OK(cfs_config_new(&cfg));
  CHECK_OK(cfs_config_set_runtime_threads(cfg, 2));
  CHECK_OK(cfs_store_open(dir, strlen(dir), cfg, &st, NULL));
  cfs_config_free(cfg);
  if (!st) return check_finish();

  for (i = 0; i < THREADS; i++) {
    w[i].st = st;
    w[i].id = i;
    w[i].passed = 0;
    w[i].failed = 0;
    CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    check_passed += w[i].passed;
    check_failed += w[i].failed;
  }
  CHECK_OK(cfs_store_llen(st, S("shared:list"), &len, NULL));
  CHECK(len == THREADS * ROUNDS);
  CHECK_OK(cfs_store_hlen(st, S("shared:hash"), &len, NULL));
  CHECK(len == THREADS * ROUNDS);

  test_callbacks(st); /* frees the store */
  return check_finish();
}
