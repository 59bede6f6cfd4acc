// The sender's decisions that shape what a fleet of agents does to the CCS
// API: when the first sync after a start may go, how many events a request
// carries, what an answer means for the batch, and when the next attempt may
// go. Pure (no clock, no I/O, no lock of its own): the agent's sender calls
// these under its lock (Agent::mu_) with its clock and entropy, and the fleet
// simulation (tests/fleet) calls the same functions with a virtual clock and
// a seeded source, so a change here shows in what the simulated fleet does.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "backoff.h"

namespace co::sync_plan {

// Events a CCS request carries at most.
constexpr size_t kBatchEvents = 10;

// The first background sync after a start: a random 0 to initial_delay_s
// after `now`, so a firmware push that reboots a fleet does not reach the API
// all at once.
inline int64_t first_attempt_at(int64_t now_ms, uint64_t random, int64_t initial_delay_s) {
  if (initial_delay_s <= 0) return now_ms;
  return now_ms + static_cast<int64_t>(random % static_cast<uint64_t>(initial_delay_s * 1000 + 1));
}

// What an answer to a CCS batch means for the events in it.
enum class Verdict {
  delivered,     // 2xx we could read: the batch leaves the outbox
  refused,       // the API says the batch itself is bad: dead-lettered
  config_fault,  // the key or the URL is wrong: kept, until the configuration changes
  retry,         // anything else (network, 5xx, 408, 429, an unreadable 2xx): kept, tried again
};

inline Verdict verdict_of(int status, bool readable) {
  if (status >= 200 && status < 300) return readable ? Verdict::delivered : Verdict::retry;
  if (status == 400 || status == 413 || status == 422) return Verdict::refused;
  // Every other 4xx but 408 and 429 says the request could not be taken as
  // configured (401/403 key, 404/405 URL, 415 or 406 a proxy in between):
  // trying the same batch again soon changes nothing, dropping it loses it.
  if (status >= 400 && status < 500 && status != 408 && status != 429) return Verdict::config_fault;
  return Verdict::retry;
}

// The next attempt after an answer (retry_after_s < 0: none given) to a
// batch of `batch_events` (a full one: more may be waiting, paced after a
// long failure).
inline void settle(Backoff &backoff, Verdict verdict, int64_t now_ms, uint32_t random, int64_t retry_after_s,
                   size_t batch_events) {
  switch (verdict) {
    case Verdict::delivered:
    case Verdict::refused:
      backoff.succeeded(now_ms, batch_events >= kBatchEvents);
      break;
    case Verdict::config_fault:
      backoff.failed(now_ms, random, Backoff::kConfigFaultCapMs, retry_after_s);
      break;
    case Verdict::retry:
      backoff.failed(now_ms, random, Backoff::kCapMs, retry_after_s);
      break;
  }
}

// Whether a batch may go now: events waiting, and no back-off in force.
inline bool send_due(const Backoff &backoff, int64_t now_ms, int64_t pending) {
  return pending > 0 && !backoff.waiting(now_ms);
}

}  // namespace co::sync_plan
