// The protocol as data: each method of the method table (Agent::kMethods)
// declares its params here (name, type, required or not, default, limits).
// Agent::invoke checks a call's params against the declaration once, before
// the handler runs (unknown members, then each param: missing, type,
// limits), and the handler reads the checked values through Params.
// docs/protocol.md's params tables are generated from the declarations
// (tests/docs/protocol_doc.h, make protocol-doc) and
// tests/unit/test_protocol_doc.cpp fails when the page is not as generated;
// tests/unit/test_params.cpp checks that each declaration is enforced.
#pragma once
#include <cohort/cohort.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "json.h"

namespace co {

// How a step of a call ended: COHORT_OK, or a failure with the message that
// names what was wrong (the field, the key, the cohort). Every handler, and
// every step it takes, reports a failure this way, whether it waits on the
// network or not: the value travels back to Agent::invoke, never through
// shared state.
struct [[nodiscard]] Outcome {
  cohort_status status = COHORT_OK;
  std::string message;

  Outcome() = default;
  Outcome(cohort_status s) : status(s) {}  // NOLINT(google-explicit-constructor): `return COHORT_OK;`
  Outcome(cohort_status s, std::string m) : status(s), message(std::move(m)) {}
  bool ok() const { return status == COHORT_OK; }
};

enum class ParamType { string, integer, number, boolean, object, array, uuid };

// A format a string must have besides its type.
enum class ParamFormat {
  any,
  name,  // 1-64 of A-Z a-z 0-9 _ (event names, alias tags)
};

struct ParamList;

// One param. Build it with the factories and modifiers, e.g.
//   Param::integer("limit").range(1, 1000).def(20)
struct Param {
  const char *name = nullptr;
  ParamType type = ParamType::string;
  bool required = false;
  bool nullable = false;  // null counts as absent
  ParamFormat format = ParamFormat::any;
  // Limits: the value (integer, number), the length in bytes (string), the
  // number of elements (array).
  bool has_min = false, has_max = false;
  double min = 0, max = 0;
  // The default when absent, as a value (default_kind) or only described
  // (default_doc, e.g. "`api.timeout_ms` (300)": the handler computes it).
  enum class Default { none, integer, number, boolean, string } default_kind = Default::none;
  int64_t default_integer = 0;
  double default_number = 0;
  bool default_boolean = false;
  const char *default_string = nullptr;
  const char *default_doc = nullptr;
  // Arrays: the type of every element (ParamType::array: any), and for
  // elements that are objects, their members (each object is checked as
  // params are, unknown members refused).
  ParamType items = ParamType::array;
  const ParamList *fields = nullptr;

  static constexpr Param of(const char *n, ParamType t) {
    Param p;
    p.name = n;
    p.type = t;
    return p;
  }
  static constexpr Param string(const char *n) { return of(n, ParamType::string); }
  static constexpr Param integer(const char *n) { return of(n, ParamType::integer); }
  static constexpr Param number(const char *n) { return of(n, ParamType::number); }
  static constexpr Param boolean(const char *n) { return of(n, ParamType::boolean); }
  static constexpr Param object(const char *n) { return of(n, ParamType::object); }
  static constexpr Param array(const char *n) { return of(n, ParamType::array); }
  static constexpr Param uuid(const char *n) { return of(n, ParamType::uuid); }

  constexpr Param must() const {
    Param p = *this;
    p.required = true;
    return p;
  }
  constexpr Param or_null() const {
    Param p = *this;
    p.nullable = true;
    return p;
  }
  constexpr Param name_format() const {
    Param p = *this;
    p.format = ParamFormat::name;
    return p;
  }
  constexpr Param range(double lo, double hi) const {
    Param p = *this;
    p.has_min = p.has_max = true;
    p.min = lo;
    p.max = hi;
    return p;
  }
  constexpr Param at_least(double lo) const {
    Param p = *this;
    p.has_min = true;
    p.min = lo;
    return p;
  }
  constexpr Param at_most(double hi) const {
    Param p = *this;
    p.has_max = true;
    p.max = hi;
    return p;
  }
  constexpr Param of_strings() const {
    Param p = *this;
    p.items = ParamType::string;
    return p;
  }
  constexpr Param of_objects(const ParamList &members) const {
    Param p = *this;
    p.items = ParamType::object;
    p.fields = &members;
    return p;
  }
  constexpr Param def(int v) const {
    Param p = *this;
    if (p.type == ParamType::number) {
      p.default_kind = Default::number;
      p.default_number = v;
    } else {
      p.default_kind = Default::integer;
      p.default_integer = v;
    }
    return p;
  }
  constexpr Param def(bool v) const {
    Param p = *this;
    p.default_kind = Default::boolean;
    p.default_boolean = v;
    return p;
  }
  constexpr Param def(const char *v) const {
    Param p = *this;
    p.default_kind = Default::string;
    p.default_string = v;
    return p;
  }
  constexpr Param def_doc(const char *text) const {
    Param p = *this;
    p.default_doc = text;
    return p;
  }
};

// A method's params (or an object's members), in the order they are checked
// and documented.
struct ParamList {
  const Param *items = nullptr;
  size_t size = 0;

  constexpr ParamList() = default;
  template <size_t N>
  constexpr ParamList(const Param (&a)[N]) : items(a), size(N) {}  // NOLINT(google-explicit-constructor)
  const Param *begin() const { return items; }
  const Param *end() const { return items + size; }
  const Param *find(const char *name) const;
};

// Checks params (an object, or NULL for none) against decl: first that every
// member is declared ("<name>: unknown field"), then each param in order
// (required: "<name>: missing"; its type and limits: "<name>: must be ...").
// where prefixes the names in messages ("aliases[1]." for the members of an
// element). COHORT_EINVAL on failure.
Outcome check_params(const ParamList &decl, const cJSON *params, const std::string &where = std::string());

// A call's params after check_params: the handler's typed view of them. Each
// accessor names a declared param (an undeclared name is a bug in the
// handler: std::logic_error); an absent param (or a null one, where null is
// allowed) reads as its declared default, or as "", 0, false, NULL without one.
class Params {
 public:
  Params(const ParamList &decl, const cJSON *params) : decl_(&decl), params_(params) {}

  // The whole params object (NULL when the call had none).
  const cJSON *json() const { return params_; }
  // Whether the param was given (null counts as absent where it is allowed).
  bool has(const char *name) const { return get(name) != nullptr; }
  // The value as given, or NULL.
  const cJSON *get(const char *name) const;
  std::string string(const char *name) const;
  int64_t integer(const char *name) const;
  double number(const char *name) const;
  bool boolean(const char *name) const;
  // The elements of an array of objects, each with its declared members.
  std::vector<Params> objects(const char *name) const;

 private:
  const Param &declared(const char *name) const;
  const Param &declared(const char *name, ParamType as) const { return declared(name, as, as); }
  const Param &declared(const char *name, ParamType as, ParamType or_as) const;
  const ParamList *decl_;
  const cJSON *params_;
};

// The limits of a message: 1000 as "1000", 1e9 as "1e9".
std::string limit_text(double v);

}  // namespace co
