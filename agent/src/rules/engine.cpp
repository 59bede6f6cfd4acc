#include "rules/engine.h"
#include "json.h"

#include <algorithm>
#include <functional>
#include <map>
#include <new>

#include "rules/ast.h"
#include "rules/canonical.h"
#include "rules/cohort_state.h"
#include "rules/evaluator.h"
#include "rules/model_table.h"
#include "rules/parser.h"
#include "rules/predicate.h"

namespace co::rules {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
constexpr uint8_t kSession = 1, kView = 2;

// A loaded cohort's state and bookkeeping.
struct Slot {
  CohortState state;
  int64_t covered_seq = kNever;  // every event up to here was offered to this cohort
  bool rebuilding = false;       // in look-back: only lookback() feeds it
  bool dirty = true;             // membership may have moved since the last poll
  bool offered = false;          // scratch for dispatch(): saw the current event
  bool changed = false;          // scratch for dispatch(): its state moved
  bool model = false;            // a modeled cohort: the model table says when it moved
};

// Where an event may land: condition `condition` of cohort `cohort`, whose
// accumulator is number `accumulator` among the distinct ones (shared ones
// have one number).
struct Target {
  uint32_t cohort;
  uint32_t condition;
  uint32_t accumulator = 0;
};

// The cohorts an event of one name (or of any name, or any event of a view)
// may land in. Every target, for an event some cohort may cover already (a
// replay, a look-back); for a newer event, the rule cohorts' targets and, for
// the modeled cohorts, one target per distinct accumulator: the model table
// learns which accumulators changed and nothing is done per model.
struct Route {
  std::vector<Target> all;
  std::vector<Target> rules;
  std::vector<Target> feeds;
  int64_t fed = std::numeric_limits<int64_t>::min();  // the newest seq fed since settle_fed()
};

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// {"match": ..., "explain": {...}} for one rule.
std::string explain_rule(Evaluator *ev, const Rule &rule, const CohortState &state) {
  Json root(json_must(cJSON_CreateObject()));
  cJSON *match = json_add_bool(root.get(), "match", false);
  cJSON *tree = json_add_object(root.get(), "explain");
  if (ev->evaluate(rule, state, tree)) match->type = cJSON_True;
  return json_print_checked(root.get());
}

}  // namespace

struct Engine::Impl {
  Definitions defs;
  std::vector<Slot> slots;      // parallel to defs.cohorts
  std::vector<CohortRef> refs;  // the same, as the evaluator reads them
  std::map<std::string, Route, std::less<>> by_name;
  Route any_name;                                  // event_type "*"
  Route views;                                     // engagement: every event that carries a view_id
  std::vector<std::vector<const Route *>> routes;  // by cohort: the routes of a model's features
  int64_t covered_max = kNever;                    // no cohort covers an event above this
  bool fed = false;                                // an event was fed since settle_fed()
  std::vector<std::vector<uint32_t>> readers;      // cohorts whose rule reads each cohort
  std::vector<int64_t> due_ms;                     // when time alone may next change a cohort's membership
  std::vector<uint8_t> context;                    // kSession | kView: the windows a cohort reads
  std::vector<uint32_t> offered;                   // scratch for observe()
  std::vector<int8_t> added;          // scratch for observe(), by accumulator: -1 not yet, else add()'s answer
  std::vector<uint32_t> touched;      // scratch for observe(): the accumulators it added to
  bool share_pending = false;         // share() before the next poll
  size_t filter_count = 0;            // distinct `where` filters (Filter::id)
  size_t path_count = 0;              // distinct paths of those (Filter::path_id)
  FilterMemo filter_memo;             // scratch for observe()
  ModelTable models;                  // the models' feature values between polls
  std::vector<uint32_t> rescore;      // scratch for poll(): models scored again
  std::vector<uint32_t> rule_order;   // defs.order without the models
  std::vector<uint32_t> read_models;  // the models some cohort reads
  std::vector<uint32_t> rank;         // by cohort: its place in defs.order
  std::vector<uint32_t> flipped;      // scratch for poll(): the transitions recorded, in order
  int64_t observed_seq = kNever;
  int64_t clock_ms = kNever;  // newest time the agent told us: pruning never goes past it
  bool polled = false;
  int64_t last_poll_ms = 0;
  std::string last_session, last_view;

  void install(Definitions d, std::vector<Slot> s);
  void build_index();
  void build_time_and_readers();
  void share();
  void dispatch(const Event &e, bool rebuilding);
  void offer(const std::vector<Target> &targets, const Event &e, bool rebuilding, int64_t horizon);
  void feed(const std::vector<Target> &feeds, const Event &e, int64_t horizon);
  void settle_fed();
  void record(uint32_t cohort, bool member, const Now &now, bool report);
  int find(std::string_view id) const;
};

void Engine::Impl::install(Definitions d, std::vector<Slot> s) {
  defs = std::move(d);
  slots = std::move(s);
  refs.clear();
  for (size_t i = 0; i < slots.size(); ++i) {
    refs.push_back({&defs.cohorts[i], &slots[i].state});
    slots[i].model = defs.cohorts[i].rule.model.has_value();
  }
  build_index();
  build_time_and_readers();
  covered_max = observed_seq;
  for (const Slot &slot : slots) covered_max = std::max(covered_max, slot.covered_seq);
  polled = false;  // the first poll reads every cohort
  share_pending = true;
  models.clear();
}

// Built aside and swapped in: a throw leaves the index as it was.
void Engine::Impl::build_index() {
  std::map<std::string, Route, std::less<>> named;
  Route any, viewed;
  std::vector<std::vector<const Route *>> model_routes(defs.cohorts.size());
  std::map<std::string, uint32_t> filter_ids, path_ids;
  std::map<const Accumulator *, uint32_t> accumulators;
  for (uint32_t i = 0; i < defs.cohorts.size(); ++i) {
    std::vector<Condition> &conds = defs.cohorts[i].rule.conditions;
    for (uint32_t k = 0; k < conds.size(); ++k) {
      Condition &c = conds[k];
      if (!c.accumulates()) continue;
      const Accumulator *acc = slots[i].state.conditions[k].get();
      Target target{i, k, accumulators.emplace(acc, static_cast<uint32_t>(accumulators.size())).first->second};
      for (Filter &f : c.where) {  // the same ids every time for the same definitions
        std::string key = f.path.text + '\0' + name_of(f.op) + '\0' + literal_text(f.value);
        f.id = filter_ids.emplace(key, static_cast<uint32_t>(filter_ids.size())).first->second;
        f.path_id = path_ids.emplace(f.path.text, static_cast<uint32_t>(path_ids.size())).first->second;
      }
      Route &route = c.type == Type::engagement ? viewed : c.event_type == "*" ? any : named[c.event_type];
      route.all.push_back(target);
      if (!slots[i].model) {
        route.rules.push_back(target);
        continue;
      }
      auto known = std::find_if(route.feeds.begin(), route.feeds.end(),
                                [&](const Target &t) { return t.accumulator == target.accumulator; });
      if (known == route.feeds.end()) route.feeds.push_back(target);
      if (std::find(model_routes[i].begin(), model_routes[i].end(), &route) == model_routes[i].end())
        model_routes[i].push_back(&route);
    }
  }
  std::vector<int8_t> results(accumulators.size(), -1);
  by_name.swap(named);  // std::map and Route swaps keep the addresses model_routes holds
  std::swap(any_name, any);
  std::swap(views, viewed);
  // `any` and `viewed` now hold the old routes: model_routes must point at the members.
  for (auto &list : model_routes) {
    for (const Route *&r : list) r = r == &any ? &any_name : r == &viewed ? &views : r;
  }
  routes.swap(model_routes);
  fed = false;  // new routes, nothing fed through them (settle_fed() ran before)
  added.swap(results);
  filter_count = filter_ids.size();
  path_count = path_ids.size();
}

// Live cohorts whose conditions gather the same events (gathering_key) and
// hold the same state share one accumulator from here on. Both have been
// offered every event routed to it (a cohort skips an event only when it
// covers it already; after a load, replay has run: covered_seq is raised to
// what every live cohort covers), and from now on both are offered the same
// events: the shared state stays what each would have had. Look-back cohorts
// are left alone; they share at the poll after end_lookback().
void Engine::Impl::share() {
  settle_fed();  // covered sequences are read below, and the routes may be made again
  struct Move {
    std::shared_ptr<Accumulator> *at;
    std::shared_ptr<Accumulator> to;
  };
  std::vector<Move> moves;
  std::map<std::string, std::vector<std::pair<std::string, std::shared_ptr<Accumulator>>>> seen;
  for (uint32_t i = 0; i < defs.cohorts.size(); ++i) {
    Slot &s = slots[i];
    if (s.rebuilding) continue;
    s.covered_seq = std::max(s.covered_seq, observed_seq);
    const std::vector<Condition> &conds = defs.cohorts[i].rule.conditions;
    for (size_t k = 0; k < conds.size(); ++k) {
      std::shared_ptr<Accumulator> &acc = s.state.conditions[k];
      if (!acc) continue;
      ByteWriter w;
      acc->encode(&w);
      std::string bytes = w.take();
      auto &candidates = seen[gathering_key(conds[k])];
      auto same = std::find_if(candidates.begin(), candidates.end(), [&](const auto &c) { return c.first == bytes; });
      if (same == candidates.end())
        candidates.emplace_back(std::move(bytes), acc);
      else if (same->second != acc)
        moves.push_back({&acc, same->second});
    }
  }
  // Out of memory from here: every move undone, nothing shared.
  for (Move &m : moves) m.at->swap(m.to);
  models.clear();  // read the shared accumulators afresh
  try {
    if (!moves.empty()) build_index();
  } catch (...) {
    for (Move &m : moves) m.at->swap(m.to);
    throw;
  }
  share_pending = false;
}

// A cohort's membership moves with time when a bucket leaves its window or a
// recency threshold passes (each reading says when: due_ms), and with the
// session / view when it reads one. What it reads of other cohorts needs no
// such care: a read cohort is re-read earlier in the same poll, and its
// transition marks its readers dirty.
void Engine::Impl::build_time_and_readers() {
  size_t n = defs.cohorts.size();
  due_ms.assign(n, kNever);
  context.assign(n, 0);
  readers.assign(n, {});
  rule_order.clear();
  read_models.clear();
  rank.assign(n, 0);
  for (uint32_t k = 0; k < defs.order.size(); ++k) {
    uint32_t i = defs.order[k];
    rank[i] = k;
    if (!defs.cohorts[i].rule.model) rule_order.push_back(i);
  }
  for (uint32_t i = 0; i < n; ++i) {
    // A model's values follow the session and view in the model table.
    bool model = defs.cohorts[i].rule.model.has_value();
    for (const Condition &c : defs.cohorts[i].rule.conditions) {
      if (!model) context[i] |= c.window.scope == Scope::session ? kSession : c.window.scope == Scope::view ? kView : 0;
      if (c.type == Type::cohort) readers[c.cohort_index].push_back(i);
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (defs.cohorts[i].rule.model && !readers[i].empty()) read_models.push_back(i);
  }
}

void Engine::Impl::offer(const std::vector<Target> &targets, const Event &e, bool rebuilding, int64_t horizon) {
  for (const Target &t : targets) {
    Slot &s = slots[t.cohort];
    if (s.rebuilding != rebuilding || e.seq <= s.covered_seq) continue;
    int8_t &result = added[t.accumulator];
    if (result < 0) {
      const Condition &c = defs.cohorts[t.cohort].rule.conditions[t.condition];
      result = s.state.conditions[t.condition]->add(c, e, horizon) ? 1 : 0;
      touched.push_back(t.accumulator);
    }
    if (result > 0 && s.model)
      models.changed(t.cohort, t.condition);
    else if (result > 0)
      s.changed = true;
    if (!s.offered) offered.push_back(t.cohort);
    s.offered = true;
  }
}

// A live event newer than anything covered: each distinct accumulator of the
// live models takes it once.
void Engine::Impl::feed(const std::vector<Target> &feeds, const Event &e, int64_t horizon) {
  for (const Target &t : feeds) {
    Slot &s = slots[t.cohort];
    if (s.rebuilding) continue;
    int8_t &result = added[t.accumulator];
    if (result < 0) {
      const Condition &c = defs.cohorts[t.cohort].rule.conditions[t.condition];
      result = s.state.conditions[t.condition]->add(c, e, horizon) ? 1 : 0;
      touched.push_back(t.accumulator);
    }
    if (result > 0) models.changed(s.state.conditions[t.condition].get());
  }
}

// A model fed through its routes was offered their events: its covered
// sequence catches up before anything reads it (a replay, a reload, a save).
void Engine::Impl::settle_fed() {
  if (!fed) return;
  for (uint32_t i = 0; i < routes.size() && i < slots.size(); ++i) {
    if (slots[i].rebuilding) continue;  // not fed: a look-back feeds it
    for (const Route *r : routes[i]) slots[i].covered_seq = std::max(slots[i].covered_seq, r->fed);
  }
  for (auto &named : by_name) named.second.fed = kNever;
  any_name.fed = views.fed = kNever;
  fed = false;
}

void Engine::Impl::dispatch(const Event &event, bool rebuilding) {
  Event e = event;
  filter_memo.begin(filter_count, path_count);
  e.filters = &filter_memo;
  // Buckets older than the window at the event's time, or at the agent's clock
  // when the event claims to be from the future, can never be read again.
  int64_t horizon = std::min(e.time_ms, clock_ms);
  bool newer = !rebuilding && e.seq > covered_max;
  if (!newer) settle_fed();
  auto route = [&](Route &r) {
    if (!newer) return offer(r.all, e, rebuilding, horizon);
    offer(r.rules, e, rebuilding, horizon);
    feed(r.feeds, e, horizon);
    if (!r.feeds.empty()) r.fed = e.seq;
    fed = fed || !r.feeds.empty();
  };
  auto named = by_name.find(e.name);
  if (named != by_name.end()) route(named->second);
  route(any_name);
  if (!e.view_id.empty()) route(views);
  covered_max = std::max(covered_max, e.seq);
  // Only after every condition of a cohort has seen the event: it is covered.
  for (uint32_t i : offered) {
    Slot &s = slots[i];
    s.covered_seq = e.seq;
    s.dirty = s.dirty || s.changed;
    s.offered = s.changed = false;
  }
  offered.clear();
  for (uint32_t a : touched) added[a] = -1;
  touched.clear();
}

void Engine::Impl::record(uint32_t cohort, bool member, const Now &now, bool report) {
  Membership &m = slots[cohort].state.membership;
  m.member = member;
  Transition &t = member ? m.entered : m.exited;
  t.happened = true;
  t.time_ms = now.time_ms;
  t.session_id.assign(now.session_id);
  t.view_id.assign(now.view_id);
  if (!report) return;
  flipped.push_back(cohort);  // room for every cohort: made at install()
  // Readers come later in the order: this poll re-reads them.
  for (uint32_t r : readers[cohort]) slots[r].dirty = true;
}

int Engine::Impl::find(std::string_view id) const {
  for (size_t i = 0; i < defs.cohorts.size(); ++i) {
    if (defs.cohorts[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// Where a cohort's state comes from on load: the engine's own state when the
// rule is unchanged, else a matching saved blob, else nothing (look-back).
class StateSource {
 public:
  StateSource(std::vector<Slot> *old_slots, const Definitions &old_defs, const std::vector<SavedState> &saved)
      : old_slots_(old_slots) {
    for (size_t i = 0; i < old_defs.cohorts.size(); ++i) old_[old_defs.cohorts[i].id] = i;
    for (const SavedState &s : saved) saved_[s.cohort_id] = &s;
    old_checksums_.reserve(old_defs.cohorts.size());
    for (const CohortDef &d : old_defs.cohorts) old_checksums_.push_back(d.checksum);
  }

  Slot take(const CohortDef &def, LoadReport *report) {
    Slot slot;
    slot.state = fresh_state(def.rule);
    if (from_memory(def, &slot) || from_saved(def, &slot, report)) return slot;
    slot.rebuilding = true;
    report->lookback.push_back(def.id);
    return slot;
  }

 private:
  bool from_memory(const CohortDef &def, Slot *slot) {
    auto it = old_.find(def.id);
    if (it == old_.end()) return false;
    Slot &old = (*old_slots_)[it->second];
    if (old_checksums_[it->second] == def.checksum && !old.rebuilding) {
      *slot = std::move(old);
      return true;
    }
    slot->state.membership = std::move(old.state.membership);
    return false;
  }

  bool from_saved(const CohortDef &def, Slot *slot, LoadReport *report) {
    auto it = saved_.find(def.id);
    if (it == saved_.end()) return false;
    int64_t seq = 0;
    bool fresh_membership = !old_.count(def.id);
    CohortState restored = fresh_state(def.rule);
    switch (decode_state(it->second->blob, def.rule, def.checksum, &restored, &seq)) {
      case Decoded::full:
        slot->state = std::move(restored);
        slot->covered_seq = seq;
        report->replay_after_seq = std::min(report->replay_after_seq, seq);
        return true;
      case Decoded::membership_only:
        if (fresh_membership) slot->state.membership = std::move(restored.membership);
        return false;
      default:
        report->discarded.push_back("cohort " + quoted(def.id) + ": saved state is corrupt; rebuilt from history");
        return false;
    }
  }

  std::vector<Slot> *old_slots_;
  std::map<std::string, size_t, std::less<>> old_;
  std::vector<std::string> old_checksums_;
  std::map<std::string, const SavedState *, std::less<>> saved_;
};

}  // namespace

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

Status Engine::load(std::string_view definitions_json, const std::vector<SavedState> &saved, int64_t now_ms,
                    LoadReport *report) {
  Definitions defs;
  Status s = parse_definitions(definitions_json, &defs);
  if (!s.ok()) return s;
  // A poll records each cohort at most once: room made before anything moves.
  impl_->flipped.reserve(defs.cohorts.size());
  impl_->settle_fed();  // the slots move on with their covered sequences
  LoadReport r;
  StateSource source(&impl_->slots, impl_->defs, saved);
  std::vector<Slot> slots;
  slots.reserve(defs.cohorts.size());
  for (const CohortDef &def : defs.cohorts) slots.push_back(source.take(def, &r));
  impl_->install(std::move(defs), std::move(slots));
  impl_->clock_ms = std::max(impl_->clock_ms, now_ms);
  *report = std::move(r);
  return Status::success();
}

void Engine::observe(const Event &e) {
  impl_->observed_seq = std::max(impl_->observed_seq, e.seq);
  impl_->dispatch(e, false);
}

void Engine::lookback(const Event &e) {
  impl_->dispatch(e, true);
}

void Engine::end_lookback() {
  impl_->settle_fed();  // before the rebuilt cohorts are fed too
  for (uint32_t i = 0; i < impl_->slots.size(); ++i) {
    if (!impl_->slots[i].rebuilding) continue;
    impl_->slots[i].rebuilding = false;
    impl_->slots[i].dirty = true;
    impl_->models.clear();
    impl_->share_pending = true;
  }
}

Changes Engine::poll(const Now &now) {
  Impl &m = *impl_;
  if (m.share_pending) m.share();
  m.clock_ms = std::max(m.clock_ms, now.time_ms);
  uint8_t moved = (now.session_id != m.last_session ? kSession : 0) | (now.view_id != m.last_view ? kView : 0);
  // A clock set back reads every value again: due times were taken going forward.
  if (m.polled && now.time_ms < m.last_poll_ms) m.models.clear();
  if (!m.models.built()) {
    std::vector<const CohortState *> states;
    states.reserve(m.slots.size());
    for (const Slot &slot : m.slots) states.push_back(&slot.state);
    m.models.build(m.defs.cohorts, states);
  }
  m.models.refresh(now, (moved & kSession) != 0, (moved & kView) != 0, &m.rescore);
  Evaluator ev(m.refs, now);
  m.flipped.clear();
  // Models read no cohort: the ones scored again are settled first (a
  // transition marks the cohorts that read it), the others keep their
  // decision, and the loop below is over the rules alone.
  for (uint32_t i : m.rescore) {
    Slot &s = m.slots[i];
    if (s.rebuilding) continue;
    bool member = m.models.member(i);
    if (member != s.state.membership.member) m.record(i, member, now, true);
  }
  m.rescore.clear();
  for (uint32_t i : m.read_models) {
    if (!m.slots[i].rebuilding) ev.known(i, m.slots[i].state.membership.member);
  }
  size_t model_flips = m.flipped.size();
  for (uint32_t i : m.rule_order) {
    Slot &s = m.slots[i];
    // A clock set back re-reads everything: due times were taken going forward.
    bool due = !m.polled || s.dirty || (m.context[i] & moved) != 0 || now.time_ms >= m.due_ms[i] ||
               now.time_ms < m.last_poll_ms;
    if (s.rebuilding) continue;
    if (!due) {
      ev.known(i, s.state.membership.member);
      continue;
    }
    s.dirty = false;
    bool member = ev.member(i, &m.due_ms[i]);
    if (member != s.state.membership.member) m.record(i, member, now, true);
  }
  // Transitions are reported in definitions order (dependencies first): the
  // models' where they stand in it.
  if (model_flips > 0 && m.flipped.size() > model_flips)
    std::sort(m.flipped.begin(), m.flipped.end(), [&m](uint32_t a, uint32_t b) { return m.rank[a] < m.rank[b]; });
  // The lists made once at their size: grown one transition at a time, a poll
  // that moves many cohorts (a new session after hours) reallocated them
  // again and again.
  Changes changes;
  size_t entered = 0;
  for (uint32_t i : m.flipped) entered += m.slots[i].state.membership.member ? 1 : 0;
  changes.entered.reserve(entered);
  changes.exited.reserve(m.flipped.size() - entered);
  for (uint32_t i : m.flipped)
    (m.slots[i].state.membership.member ? changes.entered : changes.exited).push_back(m.defs.cohorts[i].id);
  m.polled = true;
  m.last_poll_ms = now.time_ms;
  m.last_session.assign(now.session_id);
  m.last_view.assign(now.view_id);
  return changes;
}

void Engine::reported(std::string_view cohort_id, bool member, const Now &at) {
  int i = impl_->find(cohort_id);
  if (i >= 0) impl_->record(static_cast<uint32_t>(i), member, at, false);
}

std::vector<std::string> Engine::members(const Now &now) const {
  Evaluator ev(impl_->refs, now);
  std::vector<std::string> ids;
  for (uint32_t i = 0; i < impl_->slots.size(); ++i) {
    if (!impl_->slots[i].rebuilding && ev.member(i)) ids.push_back(impl_->defs.cohorts[i].id);
  }
  return ids;
}

Status Engine::explain(std::string_view cohort_id, const Now &now, std::string *json) const {
  int i = impl_->find(cohort_id);
  if (i < 0) return Status::error("cohort_id: unknown cohort " + quoted(cohort_id));
  Evaluator ev(impl_->refs, now);
  *json = explain_rule(&ev, impl_->defs.cohorts[i].rule, impl_->slots[i].state);
  return Status::success();
}

std::vector<SavedState> Engine::save() const {
  std::vector<SavedState> out;
  for (size_t i = 0; i < impl_->slots.size(); ++i) {
    const Slot &s = impl_->slots[i];
    if (s.rebuilding) continue;
    const CohortDef &def = impl_->defs.cohorts[i];
    // A live cohort was offered every observed event.
    int64_t seq = std::max(s.covered_seq, impl_->observed_seq);
    out.push_back({def.id, def.checksum, seq, encode_state(s.state, def.rule, def.checksum, seq)});
  }
  return out;
}

std::vector<CohortInfo> Engine::cohorts() const {
  std::vector<CohortInfo> out;
  for (const CohortDef &d : impl_->defs.cohorts) out.push_back({d.id, d.name, d.activations, d.checksum, d.canonical});
  return out;
}

struct Preview::Impl {
  const Engine::Impl *engine;
  Document doc;
  Rule rule;
  CohortState state;
};

Preview::Preview(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Preview::~Preview() = default;

Status Preview::compile(const Engine &engine, std::string_view rule_json, std::unique_ptr<Preview> *out) {
  auto impl = std::make_unique<Impl>();
  impl->engine = engine.impl_.get();
  Status s = parse_rule(rule_json, impl->engine->defs.cohorts, &impl->doc, &impl->rule);
  if (!s.ok()) return s;
  impl->state = fresh_state(impl->rule);
  out->reset(new Preview(std::move(impl)));
  return Status::success();
}

void Preview::observe(const Event &e) {
  const Rule &rule = impl_->rule;
  for (size_t i = 0; i < rule.conditions.size(); ++i) {
    if (impl_->state.conditions[i]) impl_->state.conditions[i]->add(rule.conditions[i], e, kNoHorizon);
  }
}

std::string Preview::explain(const Now &now) const {
  Evaluator ev(impl_->engine->refs, now);
  return explain_rule(&ev, impl_->rule, impl_->state);
}

}  // namespace co::rules
