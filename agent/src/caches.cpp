#include "caches.h"

#include <algorithm>
#include <vector>

#include "storage/caches.h"

namespace co {

void Caches::start(storage::Store &store, platform::Logger &log, int64_t boot) {
  store_ = &store;
  log_ = &log;
  boot_ = boot;
}

void Caches::put(const std::string &key, const char *kind, Json body, int64_t ttl_s, int64_t now_mono) {
  CacheEntry &e = entries_[key];
  int64_t expires = now_mono + ttl_s * 1000;
  std::string text = json_print_checked(body.get());
  bool same = !e.stored_text.empty() && text == e.stored_text &&
              expires - e.stored_expires_mono < std::min(kRestoreAfterMs, ttl_s * 1000 / 2);
  if (!same) {
    if (storage::put_cache(*store_, key, kind, boot_, expires, text)) {
      e.stored_text = std::move(text);
      e.stored_expires_mono = expires;
    } else {
      e.stored_text.clear();  // not known to be stored: the next answer is written
      CO_LOG(*log_, warn, "cannot store the %s cache: %s", kind, store_->error().c_str());
    }
  }
  e.body = std::move(body);
  e.expires_mono = expires;
}

const CacheEntry *Caches::get(const std::string &key, int64_t now_mono) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.valid(now_mono) ? &it->second : nullptr;
}

// A contextual entry per page URL would otherwise pile up in a long-running
// daemon.
void Caches::prune(int64_t now_mono) {
  std::vector<std::pair<int64_t, std::string>> contextual;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.valid(now_mono)) {
      storage::delete_cache(*store_, it->first);
      it = entries_.erase(it);
      continue;
    }
    if (it->first.rfind("ctx:", 0) == 0) contextual.emplace_back(it->second.expires_mono, it->first);
    ++it;
  }
  if (contextual.size() <= kMaxContextual) return;
  std::sort(contextual.begin(), contextual.end());
  for (size_t i = 0; i < contextual.size() - kMaxContextual; ++i) {
    storage::delete_cache(*store_, contextual[i].second);
    entries_.erase(contextual[i].second);
  }
}

// The time the device was off is not known, and a wall clock set a year
// either way must not decide it.
void Caches::load(int64_t now_mono, int64_t behavioral_ttl_s, int64_t contextual_ttl_s) {
  entries_.clear();
  std::vector<std::string> gone;
  storage::read_caches(*store_, [&](const storage::Stmt &q) {
    int64_t ttl_ms = (q.text(1) == "behavioral" ? behavioral_ttl_s : contextual_ttl_s) * 1000;
    int64_t left = std::min(q.int64(2) == boot_ ? q.int64(4) - now_mono : q.int64(3), ttl_ms);
    if (left <= 0) {
      gone.push_back(q.text(0));
      return true;
    }
    CacheEntry &e = entries_[q.text(0)];
    e.body = json_parse(q.text(5));
    e.expires_mono = e.stored_expires_mono = now_mono + left;
    e.stored_text = q.text(5);
    return true;
  });
  for (const std::string &key : gone) storage::delete_cache(*store_, key);
  // Answers from an earlier boot move onto this boot's clock.
  for (const auto &entry : entries_) storage::rebase_cache(*store_, entry.first, boot_, entry.second.expires_mono);
}

}  // namespace co
