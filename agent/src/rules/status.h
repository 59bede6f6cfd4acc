// Errors as values: every failing path of the rule engine returns one of these.
#pragma once
#include <string>
#include <utility>

namespace co::rules {

struct Status {
  std::string message;  // empty when ok; otherwise names the cohort and the field

  bool ok() const { return message.empty(); }
  static Status success() { return {}; }
  static Status error(std::string why) { return Status{std::move(why)}; }
};

}  // namespace co::rules
