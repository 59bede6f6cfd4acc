// Identity: the Permutive ID, aliases, sessions.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "agent.h"
#include "platform/files.h"
#include "platform/sha256.h"

namespace co {

namespace {

bool is_hex64(const std::string &s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string lower(std::string s) {
  for (char &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

bool Agent::save_identity_file() {
  return platform::write_file_atomic(cfg_.data_dir + "/identity", user_id_ + "\n", 0600);
}

Outcome Agent::load_identity() {
  std::string v;
  if (store_.get_meta("epoch", v)) epoch_ = std::stoll(v);
  if (!store_.get_meta("user_id", user_id_)) {
    // A new database: keep the identity from the file, if the database was lost.
    std::string file;
    if (platform::read_file(cfg_.data_dir + "/identity", file, 256)) file = trim(file);
    if (platform::is_uuid(file)) {
      user_id_ = lower(file);
      CO_LOG(*log_, warn, "database has no identity; restored the Permutive ID from the identity file");
    } else {
      user_id_ = platform::uuid4(*entropy_);
      if (user_id_.empty()) return failure(COHORT_EINTERNAL, "no entropy for the Permutive ID");
    }
    epoch_ += 1;
    if (!store_.begin()) return failure(COHORT_ESTORAGE, "identity: " + store_.error());
    if (!storage::record_identity(store_, epoch_, user_id_) || !store_.commit()) {
      std::string why = store_.error();
      store_.rollback();
      return failure(COHORT_ESTORAGE, "identity: " + why);
    }
  }
  std::string file;
  if (!platform::read_file(cfg_.data_dir + "/identity", file, 256) || trim(file) != user_id_) {
    if (!save_identity_file()) CO_LOG(*log_, warn, "cannot write the identity file in %s", cfg_.data_dir.c_str());
  }
  aliases_.clear();
  storage::read_aliases(store_, aliases_);

  // The session continues across a restart only within the inactivity timeout.
  session_.id.clear();
  if (store_.get_meta("session", v)) {
    char id[64] = {0}, boot[64] = {0};
    long long mono = 0, wall = 0;
    if (sscanf(v.c_str(), "%63[^|]|%lld|%63[^|]|%lld", id, &mono, boot, &wall) == 4) {
      int64_t timeout = cfg_.session_inactivity_timeout_s * 1000;
      // Another boot: only a trusted wall clock can say how long we were off.
      bool same_boot = boot_id_ == boot;
      int64_t idle = same_boot ? clock_->mono_ms() - mono : clock_->wall_ms() - wall;
      if ((same_boot || check_clock()) && idle >= 0 && idle <= timeout) {
        session_.id = id;
        session_.last_mono = boot_id_ == boot ? mono : clock_->mono_ms() - idle;
      }
    }
  }
  if (session_.id.empty()) {
    session_.id = platform::uuid4(*entropy_);
    session_.last_mono = clock_->mono_ms();
  }
  return COHORT_OK;
}

constexpr int64_t kSessionSaveMs = 10000;

bool Agent::touch_session(int64_t now_mono) {
  std::string id = session_.id;
  if (now_mono - session_.last_mono > cfg_.session_inactivity_timeout_s * 1000) id = platform::uuid4(*entropy_);
  // The activity mark is persisted when the session changes and at most every
  // kSessionSaveMs otherwise: a page write per event saved, and a restart
  // misjudges the idle time by no more than that.
  if (id != session_.id || session_saved_mono_ < 0 || now_mono - session_saved_mono_ >= kSessionSaveMs ||
      now_mono < session_saved_mono_) {
    std::string v = id + "|" + std::to_string(now_mono) + "|" + boot_id_ + "|" + std::to_string(now_wall());
    if (!store_.set_meta("session", v)) return false;
    session_saved_mono_ = now_mono;
  }
  session_.id = id;
  session_.last_mono = now_mono;
  return true;
}

void Agent::add_aliases_json(cJSON *arr, const std::vector<Alias> &aliases) {
  for (const Alias &a : aliases) {
    cJSON *o = json_append(arr, cJSON_CreateObject());  // owned by arr before it is filled
    json_add_string(o, "tag", a.tag.c_str());
    json_add_string(o, "id", a.id.c_str());
    json_add_number(o, "priority", static_cast<double>(a.priority));
  }
}

void Agent::add_identity_json(cJSON *result) const {
  json_add_string(result, "user_id", user_id_.c_str());
  add_aliases_json(json_add_array(result, "aliases"), aliases_);
}

Outcome Agent::m_identity_get(const Params &, cJSON *result) {
  add_identity_json(result);
  return COHORT_OK;
}

// An alias given without a priority ranks after every alias before it: the
// ones already set (unless replaced) and the ones before it in this call.
// The declaration (agent.cpp) has checked each alias's members, their types
// and limits, and the number of aliases; what is left is what they mean.
Outcome Agent::parse_aliases(const Params &params, std::vector<Alias> &out) {
  bool replace = params.boolean("replace");
  int64_t ranked = -1;  // the lowest rank (highest number) so far
  if (!replace) {
    for (const Alias &a : aliases_) ranked = std::max(ranked, a.priority);
  }
  int i = 0;
  for (const Params &item : params.objects("aliases")) {
    std::string where = "aliases[" + std::to_string(i++) + "]";
    Alias a;
    a.tag = item.string("tag");
    a.id = item.string("id");
    if (item.has("priority")) {
      a.priority = item.integer("priority");
    } else {
      // Setting a tag again (an app sets its device id at every start) keeps its rank.
      auto known = std::find_if(aliases_.begin(), aliases_.end(), [&](const Alias &x) { return x.tag == a.tag; });
      a.priority = !replace && known != aliases_.end() ? known->priority : std::min(ranked + 1, kMaxPriority);
    }
    ranked = std::max(ranked, a.priority);
    if (item.has("hash")) {
      if (item.string("hash") != "sha256") return failure(COHORT_EINVAL, where + ".hash: only \"sha256\" is supported");
      // A raw e-mail address never stays: hashed here, the input is dropped.
      a.id = platform::sha256_hex(lower(trim(a.id)));
    } else if (a.tag == "email_sha256") {
      if (!is_hex64(a.id)) {
        return failure(COHORT_EINVAL, where + ".id: email_sha256 must be 64 hex characters (pass \"hash\":\"sha256\" to hash an address)");
      }
      a.id = lower(a.id);
    } else if (a.id.find('@') != std::string::npos) {
      return failure(COHORT_EINVAL, where + ".id: looks like a raw e-mail address; pass \"hash\":\"sha256\"");
    }
    for (const Alias &prev : out) {
      if (prev.tag == a.tag) return failure(COHORT_EINVAL, where + ".tag: duplicate tag \"" + a.tag + "\"");
    }
    out.push_back(std::move(a));
  }
  return COHORT_OK;
}

Outcome Agent::m_identity_set_aliases(const Params &params, cJSON *result) {
  std::vector<Alias> add;
  bool replace = params.boolean("replace");
  Outcome st = parse_aliases(params, add);
  if (!st.ok()) return st;

  // Upsert by tag (or replace the whole set), then keep them in priority order.
  std::vector<Alias> next = replace ? std::vector<Alias>() : aliases_;
  for (Alias &a : add) {
    auto it = std::find_if(next.begin(), next.end(), [&](const Alias &x) { return x.tag == a.tag; });
    if (it != next.end()) {
      *it = a;
    } else {
      next.push_back(a);
    }
  }
  if (next.size() > static_cast<size_t>(kMaxAliases)) {
    return failure(COHORT_EINVAL, "aliases: at most " + std::to_string(kMaxAliases) + " aliases in all");
  }
  // Equal priorities keep the order they were set in (stable), never the
  // tags' alphabet: the order is stored with them.
  std::stable_sort(next.begin(), next.end(), [](const Alias &x, const Alias &y) { return x.priority < y.priority; });

  if (!store_.begin()) return failure(COHORT_ESTORAGE, "aliases: " + store_.error());
  if (!storage::replace_aliases(store_, next) || !store_.commit()) {
    std::string why = store_.error();
    store_.rollback();
    return failure(COHORT_ESTORAGE, "aliases: " + why);
  }
  aliases_ = std::move(next);
  add_identity_json(result);
  return COHORT_OK;
}

Outcome Agent::new_identity(bool drop_history) {
  std::string id = platform::uuid4(*entropy_);
  std::string session = platform::uuid4(*entropy_);
  if (id.empty() || session.empty()) return failure(COHORT_EINTERNAL, "no entropy for a new identity");
  int64_t epoch = epoch_ + 1;
  int64_t now_mono = clock_->mono_ms();
  // The old epoch keeps its alias set: its events still queued leave under it.
  Json old_aliases(json_must(cJSON_CreateArray()));
  add_aliases_json(old_aliases.get(), aliases_);
  storage::Transaction<Session> tx(store_, session_);
  if (!tx.begun()) return failure(COHORT_ESTORAGE, "identity: " + store_.error());
  // Events still queued for the CCS API keep their epoch and leave under the
  // old identity; everything else of the old user goes.
  bool ok = storage::start_identity(store_, epoch_, json_print_checked(old_aliases.get()), epoch, id) &&
            (!drop_history || (delete_sent_events() && storage::forget_user_state(store_)));
  session_.id = session;
  session_.last_mono = now_mono;
  if (!ok || !touch_session(now_mono) || !tx.commit()) {
    std::string why = store_.error();
    tx.rollback();
    return failure(COHORT_ESTORAGE, "identity: " + why);
  }
  user_id_ = id;
  epoch_ = epoch;
  aliases_.clear();
  if (drop_history) {
    // Left: the old user's events still to send, and the agent's own events
    // among them (not queued, so not in counts_.outbox): counted, not assumed.
    // Before the new user's cohorts record anything.
    if (!storage::count_all_events(store_, counts_.history)) counts_.history = counts_.outbox;
    caches_.forget("behavioral");
    current_view_id_.clear();
    (void)apply_definitions(definitions_doc_, true);  // a new user starts with no cohort state
  }
  if (!save_identity_file()) CO_LOG(*log_, warn, "cannot write the identity file in %s", cfg_.data_dir.c_str());
  return COHORT_OK;
}

Outcome Agent::m_identity_reset(const Params &, cJSON *result) {
  Outcome st = new_identity(true);
  if (!st.ok()) return st;
  json_add_string(result, "user_id", user_id_.c_str());
  json_add_string(result, "session_id", session_.id.c_str());
  return COHORT_OK;
}

}  // namespace co
