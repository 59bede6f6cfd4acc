// The arithmetic of modeled cohorts, the same bits on every platform.
//
// The C library's log1p / exp are not required to round alike on x86-64,
// aarch64 and armhf, and a compiler may fuse a * b + c into one FMA on one and
// not on another. A device must not fall in or out of a cohort by its CPU, and
// the differential test compares the engine with a reference evaluator bit for
// bit, under qemu too. So these functions use only + - * / (each correctly
// rounded by IEEE 754) and exact scalings by powers of two, and the rule
// engine is compiled with -ffp-contract=off.
#pragma once
#include <array>
#include <bitset>
#include <cstddef>

#include "rules/accumulator.h"
#include "rules/ast.h"

namespace co::rules {

// Natural logarithm of a finite x > 0 (within a few ulp).
double model_log(double x);
// sign(x) * ln(1 + |x|): log1p made odd, so negative sums have a value too.
double model_log1p(double x);
// e^x (within a few ulp); 0 and +inf outside the double range.
double model_exp(double x);
// ln(p / (1 - p)) for 0 < p < 1: the score at which the probability is p.
double model_logit(double p);
// 1 / (1 + e^-z), computed on the side where e^x does not overflow.
double model_sigmoid(double z);

// A feature's raw input: the measure as a number, or none (an empty
// avg/min/max/completion, recency "never"); a property match is 1 or 0.
bool feature_input(const Condition &c, const Measure &m, double *x);

// A feature's value: `measured` transformed (`missing` when the measure has none).
double feature_value(const Feature &f, bool has_value, double measured);

// model_log1p, each whole number from 0 to 1023 (the counts most log1p
// features read) computed once: its series costs more than the rest of a
// feature's reading. The same bits as model_log1p.
class Log1pTable {
 public:
  double operator()(double x) {
    if (!(x >= 0 && x < kSize) || static_cast<double>(static_cast<int>(x)) != x) return model_log1p(x);
    auto i = static_cast<size_t>(x);
    if (!known_[i]) {
      values_[i] = model_log1p(x);
      known_[i] = true;
    }
    return values_[i];
  }

 private:
  static constexpr int kSize = 1024;
  std::bitset<kSize> known_;
  std::array<double, kSize> values_{};
};

}  // namespace co::rules
