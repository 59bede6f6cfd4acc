#include "rules/model_math.h"

#include <algorithm>
#include <cmath>

namespace co::rules {
namespace {

// ln 2 split so that k * kLn2Hi is exact for every |k| below 2^11.
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kInvLn2 = 1.44269504088896338700e+00;
constexpr double kSqrtHalf = 0.70710678118654752440;

}  // namespace

// x = m * 2^k with m in [sqrt(1/2), sqrt(2)), then ln m = 2 atanh(f) with
// f = (m - 1) / (m + 1), |f| <= 0.172: its series to f^23 is below an ulp.
double model_log(double x) {
  int k = 0;
  double m = std::frexp(x, &k);  // exact
  if (m < kSqrtHalf) {
    m *= 2;
    --k;
  }
  double f = (m - 1) / (m + 1);  // m - 1 is exact here
  double s = f * f;
  double p = 1.0 / 23;
  for (int n = 10; n >= 1; --n) p = p * s + 1.0 / (2 * n + 1);
  double r = 2 * f + 2 * f * s * p;
  double dk = static_cast<double>(k);
  return dk * kLn2Hi + (dk * kLn2Lo + r);
}

// For small |x| the product log(u) * |x| / (u - 1) cancels the rounding of
// u = 1 + |x| (Goldberg's method), so log1p keeps its accuracy near 0.
double model_log1p(double x) {
  double a = std::fabs(x);
  if (!std::isfinite(a)) return x;
  double u = 1 + a;
  double r = u == 1 ? a : model_log(u) * (a / (u - 1));
  return x < 0 ? -r : r;
}

// e^x = 2^k * e^r with k = round(x / ln 2), |r| <= 0.35: its Taylor series to
// r^15 is below an ulp.
double model_exp(double x) {
  if (std::isnan(x)) return x;
  if (x > 709.8) return HUGE_VAL;
  if (x < -745.2) return 0;
  double k = std::floor(x * kInvLn2 + 0.5);
  double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = 1;
  for (int n = 15; n >= 1; --n) p = 1 + p * r / n;
  return std::ldexp(p, static_cast<int>(k));
}

double model_logit(double p) {
  return model_log(p) - model_log(1 - p);
}

double model_sigmoid(double z) {
  if (z >= 0) return 1 / (1 + model_exp(-z));
  double e = model_exp(z);
  return e / (1 + e);
}

bool feature_input(const Condition &c, const Measure &m, double *x) {
  if (c.type == Type::property) {
    *x = m.match ? 1 : 0;
    return true;
  }
  *x = m.number;
  return m.has_value && !std::isinf(m.number);
}

double feature_value(const Feature &f, bool has_value, double measured) {
  double x = has_value ? measured : f.missing;
  switch (f.transform) {
    case Transform::log1p:
      return model_log1p(x);
    case Transform::cap:
      return std::min(x, f.cap);
    default:
      return x;
  }
}

}  // namespace co::rules
