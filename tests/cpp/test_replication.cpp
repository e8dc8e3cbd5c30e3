// Replication through the C++ header (include/cyberfly_store.hpp): a store
// serves one allowed peer (cfs::sync_server, its ticket and address), the
// peer pulls once (cfs::store::sync_from) and continuously
// (cfs::sync_handle: report, stop, and stop by destruction), a peer not
// allowed gets a cfs::error and nothing, and bad input is a cfs::error with
// its code. Three stores in one process on loopback. Connecting may take
// up to CONNECT_MS: under valgrind a QUIC handshake is slow.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

namespace {

constexpr uint64_t CONNECT_MS = 120000;

// `n` signed writes of db:item{i} = value{tag}.
void write_ops(cfs::store &st, const cfs::keypair &kp, const std::string &db, int n, const std::string &tag) {
  for (int i = 0; i < n; i++) {
    cfs::signed_op op(db, "item" + std::to_string(i), "value" + tag, CFS_VALUE_KIND_STRING);
    op.sign(kp);
    EXPECT(st.apply(op) == CFS_OUTCOME_APPLIED);
  }
}

// Poll a continuous pull until its watermark reaches `want` (up to 120 s).
cfs::sync_report wait_for(const cfs::sync_handle &h, uint64_t want) {
  cfs::sync_report r{};
  for (int tries = 0; tries < 12000; tries++) {
    r = h.report();
    if (r.watermark >= want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return r;
}

void replicate() {
  auto a = cfs::store::open(tmpdir());
  auto b = cfs::store::open(tmpdir());
  auto c = cfs::store::open(tmpdir());
  auto kp = cfs::keypair::generate();
  std::string db = "cppsync-" + kp.public_key_hex();
  write_ops(a, kp, db, 20, "1");

  // Served to b alone.
  std::string b_id = b.sync_node_id();
  EXPECT(b_id.size() == 64);
  auto server = a.serve(b_id, "127.0.0.1:0");
  std::string ticket = server.ticket();
  std::string address = server.address();
  EXPECT(!ticket.empty());
  EXPECT(address.find('@') != std::string::npos);

  auto r = b.sync_from(ticket, "127.0.0.1:0", CONNECT_MS);
  EXPECT(r.received == 20 && r.applied == 20 && r.forged == 0 && r.watermark == 20);
  EXPECT(b.get(db + ":item7") == std::optional<std::string>("value1"));
  EXPECT(a.state_digest() == b.state_digest());

  // The address form; nothing new arrives.
  r = b.sync_from(address, "127.0.0.1:0", CONNECT_MS);
  EXPECT(r.received == 0 && r.watermark == 20);

  // c is not allowed: a cfs::error, and c is unchanged.
  std::string before = c.state_digest();
  expect_error(CFS_RESULT_IO, [&] { c.sync_from(ticket, "127.0.0.1:0", CONNECT_MS); }, "not allowed");
  EXPECT(c.state_digest() == before);
  EXPECT(!c.get(db + ":item0").has_value());

  // Continuous: new writes on a reach b; stop reports, twice is fine.
  {
    auto h = b.sync_start(ticket, "127.0.0.1:0", CONNECT_MS);
    write_ops(a, kp, db, 25, "2");
    r = wait_for(h, 45);
    EXPECT(r.watermark == 45);
    r = h.stop();
    EXPECT(r.watermark == 45 && r.applied == 25);
    r = h.stop();
    EXPECT(r.watermark == 45);
  }
  EXPECT(b.get(db + ":item24") == std::optional<std::string>("value2"));
  EXPECT(a.state_digest() == b.state_digest());

  // A pull left running is stopped by its destructor; what it pulled stays.
  {
    auto h = b.sync_start(ticket, "127.0.0.1:0", CONNECT_MS);
    write_ops(a, kp, db, 3, "3");
    EXPECT(wait_for(h, 48).watermark == 48);
  }
  EXPECT(b.get(db + ":item2") == std::optional<std::string>("value3"));
  EXPECT(a.state_digest() == b.state_digest());

  // Bad input.
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { b.sync_from("not a peer"); });
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { a.serve("", "not an address"); });
  expect_error(CFS_RESULT_INVALID_ARGUMENT, [&] { a.serve("not-a-node-id", "127.0.0.1:0"); });
  a.close();
  expect_error(CFS_RESULT_CLOSED, [&] { a.serve("*", "127.0.0.1:0"); });
}

}  // namespace

int main() {
  try {
    replicate();
  } catch (const std::exception &e) {
    failed++;
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
  }
  return finish();
}
