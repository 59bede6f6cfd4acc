#include "user_identity.h"

#include <algorithm>
#include <cctype>

#include "platform/files.h"
#include "platform/sha256.h"

namespace co {

namespace {

bool is_hex64(const std::string &s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
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

void Identity::start(storage::Store &store, platform::Logger &log, platform::Entropy &entropy, std::string data_dir) {
  store_ = &store;
  log_ = &log;
  entropy_ = &entropy;
  data_dir_ = std::move(data_dir);
}

bool Identity::save_file() const {
  return platform::write_file_atomic(data_dir_ + "/identity", user_id_ + "\n", 0600);
}

Outcome Identity::load() {
  std::string v;
  if (store_->get_meta("epoch", v)) epoch_ = std::stoll(v);
  if (!store_->get_meta("user_id", user_id_)) {
    // A new database: keep the identity from the file, if the database was lost.
    std::string file;
    if (platform::read_file(data_dir_ + "/identity", file, 256)) file = trim(file);
    if (platform::is_uuid(file)) {
      user_id_ = lower(file);
      CO_LOG(*log_, warn, "database has no identity; restored the Permutive ID from the identity file");
    } else {
      user_id_ = platform::uuid4(*entropy_);
      if (user_id_.empty()) return Outcome(COHORT_EINTERNAL, "no entropy for the Permutive ID");
    }
    epoch_ += 1;
    if (!store_->begin()) return Outcome(COHORT_ESTORAGE, "identity: " + store_->error());
    if (!storage::record_identity(*store_, epoch_, user_id_) || !store_->commit()) {
      std::string why = store_->error();
      store_->rollback();
      return Outcome(COHORT_ESTORAGE, "identity: " + why);
    }
  }
  std::string file;
  if (!platform::read_file(data_dir_ + "/identity", file, 256) || trim(file) != user_id_) {
    if (!save_file()) CO_LOG(*log_, warn, "cannot write the identity file in %s", data_dir_.c_str());
  }
  aliases_.clear();
  storage::read_aliases(*store_, aliases_);
  return COHORT_OK;
}

Outcome Identity::parse_aliases(const Params &params, std::vector<Alias> &out) const {
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
      if (item.string("hash") != "sha256") return Outcome(COHORT_EINVAL, where + ".hash: only \"sha256\" is supported");
      // A raw e-mail address never stays: hashed here, the input is dropped.
      a.id = platform::sha256_hex(lower(trim(a.id)));
    } else if (a.tag == "email_sha256") {
      if (!is_hex64(a.id)) {
        return Outcome(
            COHORT_EINVAL,
            where + ".id: email_sha256 must be 64 hex characters (pass \"hash\":\"sha256\" to hash an address)");
      }
      a.id = lower(a.id);
    } else if (a.id.find('@') != std::string::npos) {
      return Outcome(COHORT_EINVAL, where + ".id: looks like a raw e-mail address; pass \"hash\":\"sha256\"");
    }
    for (const Alias &prev : out) {
      if (prev.tag == a.tag) return Outcome(COHORT_EINVAL, where + ".tag: duplicate tag \"" + a.tag + "\"");
    }
    out.push_back(std::move(a));
  }
  return COHORT_OK;
}

Outcome Identity::next_aliases(const Params &params, std::vector<Alias> &next) const {
  std::vector<Alias> add;
  bool replace = params.boolean("replace");
  Outcome st = parse_aliases(params, add);
  if (!st.ok()) return st;

  // Upsert by tag (or replace the whole set), then keep them in priority order.
  next = replace ? std::vector<Alias>() : aliases_;
  for (Alias &a : add) {
    auto it = std::find_if(next.begin(), next.end(), [&](const Alias &x) { return x.tag == a.tag; });
    if (it != next.end()) {
      *it = a;
    } else {
      next.push_back(a);
    }
  }
  if (next.size() > static_cast<size_t>(kMaxAliases)) {
    return Outcome(COHORT_EINVAL, "aliases: at most " + std::to_string(kMaxAliases) + " aliases in all");
  }
  // Equal priorities keep the order they were set in (stable), never the
  // tags' alphabet: the order is stored with them.
  std::stable_sort(next.begin(), next.end(), [](const Alias &x, const Alias &y) { return x.priority < y.priority; });
  return COHORT_OK;
}

Outcome Identity::set_aliases(std::vector<Alias> next) {
  if (!store_->begin()) return Outcome(COHORT_ESTORAGE, "aliases: " + store_->error());
  if (!storage::replace_aliases(*store_, next) || !store_->commit()) {
    std::string why = store_->error();
    store_->rollback();
    return Outcome(COHORT_ESTORAGE, "aliases: " + why);
  }
  aliases_ = std::move(next);
  return COHORT_OK;
}

bool Identity::record_next(int64_t epoch, const std::string &user_id) {
  // The old epoch keeps its alias set: its events still queued leave under it.
  Json old_aliases(json_must(cJSON_CreateArray()));
  add_aliases_json(old_aliases.get(), aliases_);
  return storage::start_identity(*store_, epoch_, json_print_checked(old_aliases.get()), epoch, user_id);
}

void Identity::became(const std::string &user_id, int64_t epoch) {
  user_id_ = user_id;
  epoch_ = epoch;
  aliases_.clear();
}

void Identity::adopt(const std::string &user_id) {
  if (!storage::adopt_user_id(*store_, epoch_, user_id)) return;
  user_id_ = user_id;
  save_file();
  CO_LOG(*log_, info, "adopted the user id the CCS API answered with");
}

void Identity::add_aliases_json(cJSON *arr, const std::vector<Alias> &aliases) {
  for (const Alias &a : aliases) {
    cJSON *o = json_append(arr, cJSON_CreateObject());  // owned by arr before it is filled
    json_add_string(o, "tag", a.tag.c_str());
    json_add_string(o, "id", a.id.c_str());
    json_add_number(o, "priority", static_cast<double>(a.priority));
  }
}

void Identity::add_json(cJSON *result) const {
  json_add_string(result, "user_id", user_id_.c_str());
  add_aliases_json(json_add_array(result, "aliases"), aliases_);
}

// Events queued before identity.reset leave under the identity they were
// recorded with.
void Identity::add_batch_identity(int64_t epoch, cJSON *body) {
  if (epoch == epoch_) {
    if (aliases_.empty()) {
      json_add_string(body, "user_id", user_id_.c_str());
    } else {
      add_aliases_json(json_add_array(body, "aliases"), aliases_);
    }
    return;
  }
  std::string user_id, aliases_json;
  if (!storage::identity_of_epoch(*store_, epoch, user_id, aliases_json)) {
    json_add_string(body, "user_id", user_id_.c_str());  // no record (should not happen)
    return;
  }
  Json aliases = json_parse(aliases_json);
  if (cJSON_IsArray(aliases.get()) && cJSON_GetArraySize(aliases.get()) > 0) {
    json_add(body, "aliases", aliases.release());
  } else {
    json_add_string(body, "user_id", user_id.c_str());
  }
}

}  // namespace co
