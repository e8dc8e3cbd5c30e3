// cyberfly_store from C++17 (include/cyberfly_store.hpp): open a store, write
// and read values of a few types, see an error, close it.
//
// Build against an installed library (scripts/install-c), with CMake
// (examples/cpp/CMakeLists.txt) or pkg-config:
//   c++ -std=c++17 quickstart.cpp $(pkg-config --cflags --libs cyberfly_store) -o quickstart
// Run:
//   ./quickstart /tmp/quickstart-store
#include <cstdio>
#include <string>

#include <cyberfly_store.hpp>

int main(int argc, char **argv) {
  const std::string path = argc > 1 ? argv[1] : "quickstart-store";
  try {
    std::printf("cyberfly_store %s (header %s)\n", cfs::version().c_str(), CYBERFLY_STORE_VERSION);

    cfs::config config;  // every field of the Rust Config has a setter
    config.durability(CFS_DURABILITY_SYNC).hot_cache_bytes(16u << 20);
    auto store = cfs::store::open(path, config);  // closed and freed by its destructor

    // Strings; an absent key is std::nullopt.
    store.set("mydb:greeting", "hello");
    if (auto v = store.get("mydb:greeting")) std::printf("mydb:greeting = %s\n", v->c_str());
    for (const auto &v : store.get_many({"mydb:greeting", "mydb:nothing"}))
      std::printf("  -> %s\n", v ? v->c_str() : "(absent)");

    // A sorted set and a list.
    store.zadd("mydb:board", {{"ada", 42}, {"bob", 7}});
    for (const auto &[member, score] : store.zrange("mydb:board", 0, -1))
      std::printf("  %s: %g\n", member.c_str(), score);
    store.rpush("mydb:events", {"boot", "ready"});
    std::printf("mydb:events has %llu items\n", static_cast<unsigned long long>(store.llen("mydb:events")));

    // Errors are exceptions with the code and the message.
    try {
      store.get("mydb:board");
    } catch (const cfs::error &e) {
      std::printf("expected error %u: %s\n", static_cast<unsigned>(e.code()), e.what());
    }

    store.close();  // optional: the destructor closes too, but drops errors
  } catch (const cfs::error &e) {
    std::fprintf(stderr, "error %u: %s\n", static_cast<unsigned>(e.code()), e.what());
    return 1;
  }
  return 0;
}
