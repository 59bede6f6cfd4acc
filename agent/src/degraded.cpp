// Storage faults: a read-only data_dir, a full disk, a database file gone or
// unwritable. The agent does not stop: it carries on with an in-memory copy of
// its database (bounded: the history and the queue hold at most
// kDegradedMaxEvents while there), reports `storage: "degraded"` in status,
// tries the disk again every 30 s, and writes everything back when it can.
#include <cstring>

#include "agent.h"
#include "platform/files.h"

namespace co {

bool Agent::degrade(const std::string &why) {
  std::string err;
  if (!store_.switch_to_memory(err)) {
    CO_LOG(*log_, error, "%s; and no in-memory fallback: %s", why.c_str(), err.c_str());
    return false;
  }
  storage_error_ = why;
  storage_retry_mono_ = clock_->mono_ms();
  // What is already stored stays: only what comes in meanwhile is bounded.
  degraded_history_ = counts_.history;
  degraded_queue_ = counts_.outbox;
  CO_LOG(*log_, warn, "%s; keeping data in memory (at most %lld events) until storage works again", why.c_str(),
         static_cast<long long>(kDegradedMaxEvents));
  return true;
}

// After a failed write: moves to memory if the disk was at fault. Only between
// statements (no transaction open, no statement alive).
bool Agent::degrade_after_fault() {
  if (!store_.storage_fault() || store_.in_transaction()) return false;
  return degrade("storage: cannot write " + store_.path() + ": " + store_.error());
}

// From the worker: every 30 s while in memory, tries the disk again.
void Agent::retry_storage() {
  int64_t now = clock_->mono_ms();
  if (!store_.in_memory() || now - storage_retry_mono_ < kStorageRetryMs) return;
  storage_retry_mono_ = now;
  std::string err;
  if (!platform::make_dirs(cfg_.data_dir, 0700) || !platform::dir_writable(cfg_.data_dir)) return;
  if (!store_.write_back(err)) {
    CO_LOG(*log_, debug, "storage still unusable: %s", err.c_str());
    if (!store_.in_memory()) degrade("storage: " + err);  // written, then failed: carry on in memory
    return;
  }
  CO_LOG(*log_, info, "storage works again: %lld events written back to %s", static_cast<long long>(counts_.history),
         store_.path().c_str());
  storage_error_.clear();
  if (!identity_.save_file()) CO_LOG(*log_, warn, "cannot write the identity file in %s", cfg_.data_dir.c_str());
}

int64_t Agent::history_limit() const {
  if (!store_.in_memory()) return cfg_.history_max_events;
  return std::min(cfg_.history_max_events, degraded_history_ + kDegradedMaxEvents);
}

int64_t Agent::queue_limit() const {
  if (!store_.in_memory()) return cfg_.queue_max_events;
  return std::min(cfg_.queue_max_events, degraded_queue_ + kDegradedMaxEvents);
}

// From the worker: the database file deleted or replaced under us is noticed,
// and what the open connection still reads is kept in memory (and written
// back to a new file when the disk is retried).
void Agent::check_storage_file() {
  if (!store_.in_memory() && !store_.in_transaction() && store_.file_moved()) {
    degrade("storage: the database file " + store_.path() + " was removed or replaced");
  }
}

}  // namespace co
