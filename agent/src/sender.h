// Sender: the CCS send cycle's record, and what an answer means for it.
// The cycle is: read a batch (Outbox), build its request (requests.h, a pure
// function), post it (the agent's worker, without the lock), settle it here.
// Owns when the next request may go (Backoff), whether a CCS request is in
// flight, the outcome of the last attempt as status.last_sync shows it, the
// events sent and the dead letters counted. No I/O, no clock and no lock of
// its own: the caller gives the time, a random draw and, for a batch that
// leaves the outbox, the storage step; guarded by the agent's lock
// (Agent::mu_).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "backoff.h"
#include "json.h"
#include "platform/http.h"
#include "platform/log.h"
#include "sync_plan.h"

namespace co {

// Whether an answer says it is JSON (any +json or json media type).
bool is_json(const platform::HttpResponse &r);
// The error text of an answer: the HttpErrorResponse message when there is one.
std::string answer_error_text(const platform::HttpResponse &r);

class Sender {
 public:
  static constexpr int64_t kMaxDeadLetters = 100;

  // What settle() needs of its caller.
  struct Attempt {
    int64_t now_mono = 0;
    std::function<uint32_t()> random;  // drawn only when the next attempt is put off
    std::string api_key;               // never in a text kept or logged
    int64_t queued = 0;                // events queued, for the log
    // Takes a batch that leaves the outbox (delivered, or refused for good:
    // dead-lettered) out of it in storage; "" or why the store refused.
    std::function<std::string(sync_plan::Verdict)> record;
  };
  struct Settled {
    bool leaves = false;  // the batch left the outbox
    Json answer;          // the CCS answer (an object), when delivered
  };

  // The answer to a batch of `events`: a 2xx that cannot be read counts as
  // no answer (sent again later rather than lost); the record and the next
  // attempt follow the verdict (sync_plan).
  Settled settle(platform::HttpResponse &resp, size_t events, const Attempt &at, platform::Logger &log);
  // An attempt was made at `wall_ms` (status.last_sync.at), whatever came of it.
  void attempted(int64_t wall_ms) {
    at_wall_ = wall_ms;
    attempted_ = true;
  }
  // Something of ours failed (the outbox could not be read, no memory): the
  // next attempt comes after a back-off, never in a hot loop.
  void back_off(int64_t now_mono, uint32_t random) { backoff_.failed(now_mono, random, Backoff::kCapMs); }

  Backoff &backoff() { return backoff_; }
  const Backoff &backoff() const { return backoff_; }
  bool in_flight() const { return in_flight_; }
  void set_in_flight(bool b) { in_flight_ = b; }

  // The last attempt failed (status.last_sync.ok false).
  bool failing() const { return attempted_ && !ok_; }
  const std::string &error() const { return error_; }
  int64_t sent() const { return sent_; }
  int64_t dead_letters() const { return dead_letters_; }
  void set_dead_letters(int64_t n) { dead_letters_ = n; }
  // status.last_sync's members: ok, at, error, http_status, detail, sent.
  void describe(cJSON *last_sync) const;

 private:
  void kept(const platform::HttpResponse &resp, sync_plan::Verdict verdict, const Attempt &at, platform::Logger &log);

  Backoff backoff_;
  bool in_flight_ = false;
  bool attempted_ = false;
  bool ok_ = false;
  int64_t at_wall_ = 0;
  std::string error_;   // "": none
  int status_ = 0;      // the HTTP status of the last failure, 0: none
  std::string detail_;  // what the API said, and what to do about it
  int64_t sent_ = 0;
  int64_t dead_letters_ = 0;
};

}  // namespace co
