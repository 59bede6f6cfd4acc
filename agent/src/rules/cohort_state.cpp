#include "rules/cohort_state.h"

#include "rules/bytes.h"

namespace co::rules {
namespace {

constexpr char kMagic[] = {'C', 'O', 'R', 'S'};
constexpr uint8_t kVersion = 1;
constexpr size_t kChecksumBytes = 32;

// A checksum travels as 32 raw bytes, not 64 hex characters.
std::string raw_checksum(const std::string &hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    raw.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  return raw;
}

void encode_transition(const Transition &t, ByteWriter *w) {
  w->u8(t.happened ? 1 : 0);
  if (!t.happened) return;
  w->svar(t.time_ms);
  w->str(t.session_id);
  w->str(t.view_id);
}

bool decode_transition(ByteReader *r, Transition *t) {
  uint8_t happened = 0;
  if (!r->u8(&happened) || happened > 1) return false;
  t->happened = happened == 1;
  return !t->happened || (r->svar(&t->time_ms) && r->str(&t->session_id) && r->str(&t->view_id));
}

bool decode_membership(ByteReader *r, Membership *m) {
  uint8_t member = 0;
  if (!r->u8(&member) || member > 1) return false;
  m->member = member == 1;
  return decode_transition(r, &m->entered) && decode_transition(r, &m->exited);
}

bool decode_conditions(ByteReader *r, const Rule &rule, CohortState *state) {
  uint64_t n = 0;
  if (!r->uvar(&n) || n != rule.conditions.size()) return false;
  for (size_t i = 0; i < n; ++i) {
    uint8_t type = 0;
    const Condition &c = rule.conditions[i];
    if (!r->u8(&type) || type != static_cast<uint8_t>(c.type)) return false;
    if (state->conditions[i] && !state->conditions[i]->decode(c, r)) return false;
  }
  return r->remaining() == 0;
}

}  // namespace

CohortState fresh_state(const Rule &rule) {
  CohortState s;
  for (const Condition &c : rule.conditions) s.conditions.push_back(make_accumulator(c));
  return s;
}

std::string encode_state(const CohortState &state, const Rule &rule, const std::string &checksum, int64_t seq) {
  ByteWriter w;
  w.raw(std::string_view(kMagic, sizeof kMagic));
  w.u8(kVersion);
  w.raw(raw_checksum(checksum));
  w.svar(seq);
  w.u8(state.membership.member ? 1 : 0);
  encode_transition(state.membership.entered, &w);
  encode_transition(state.membership.exited, &w);
  w.uvar(rule.conditions.size());
  for (size_t i = 0; i < rule.conditions.size(); ++i) {
    w.u8(static_cast<uint8_t>(rule.conditions[i].type));
    if (state.conditions[i]) state.conditions[i]->encode(&w);
  }
  w.seal();
  return w.take();
}

Decoded decode_state(std::string_view blob, const Rule &rule, const std::string &checksum, CohortState *state,
                     int64_t *seq) {
  std::string_view body;
  if (!unseal(blob, &body)) return Decoded::corrupt;
  ByteReader r(body);
  std::string magic, sum;
  uint8_t version = 0;
  int64_t covered = 0;
  Membership membership;
  if (!r.raw(sizeof kMagic, &magic) || magic != std::string_view(kMagic, sizeof kMagic) || !r.u8(&version) ||
      version != kVersion || !r.raw(kChecksumBytes, &sum) || !r.svar(&covered) || !decode_membership(&r, &membership)) {
    return Decoded::corrupt;
  }
  if (sum != raw_checksum(checksum)) {
    state->membership = std::move(membership);
    return Decoded::membership_only;
  }
  CohortState decoded = fresh_state(rule);
  if (!decode_conditions(&r, rule, &decoded)) return Decoded::corrupt;
  decoded.membership = std::move(membership);
  *state = std::move(decoded);
  *seq = covered;
  return Decoded::full;
}

}  // namespace co::rules
