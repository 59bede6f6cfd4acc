#include "output.h"

#include <cmath>
#include <cstdio>
#include <utility>

namespace co::cli {

std::string print_json(const cJSON *v, bool pretty) {
  tools::JsonText s = tools::json_text(v, pretty);
  return s ? std::string(s.get()) : "null";
}

int output(const Options &opt, const Json &result, void (*human)(const cJSON *)) {
  if (opt.json) {
    printf("%s\n", print_json(result.get()).c_str());
  } else {
    human(result.get());
  }
  return kOk;
}

namespace {

std::string number_text(double d) {
  char buf[64];
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
    snprintf(buf, sizeof buf, "%.0f", d);
  } else {
    snprintf(buf, sizeof buf, "%.6g", d);
  }
  return buf;
}

bool all_scalars(const cJSON *arr) {
  for (const cJSON *e = arr->child; e; e = e->next) {
    if (!is_scalar(e)) return false;
  }
  return true;
}

// An aligned block of "key: value" lines; nested objects flatten to dotted
// keys, arrays of objects print one compact JSON per line beneath their key.
void flatten(const cJSON *obj, const std::string &prefix, std::vector<std::pair<std::string, std::string>> &rows) {
  for (const cJSON *v = obj->child; v; v = v->next) {
    std::string key = prefix + v->string;
    if (cJSON_IsObject(v) && v->child) {
      flatten(v, key + ".", rows);
    } else if (cJSON_IsArray(v) && !all_scalars(v)) {
      rows.emplace_back(key, "");
      for (const cJSON *e = v->child; e; e = e->next) rows.emplace_back("", "  " + print_json(e));
    } else {
      rows.emplace_back(key, cJSON_IsObject(v) ? "-" : text_of(v));
    }
  }
}

}  // namespace

bool is_scalar(const cJSON *v) { return !cJSON_IsObject(v) && !cJSON_IsArray(v); }

std::string text_of(const cJSON *v) {
  if (!v || cJSON_IsNull(v)) return "-";
  if (cJSON_IsTrue(v)) return "yes";
  if (cJSON_IsFalse(v)) return "no";
  if (cJSON_IsString(v)) return *v->valuestring ? v->valuestring : "-";
  if (cJSON_IsNumber(v)) return number_text(v->valuedouble);
  if (cJSON_IsArray(v) && all_scalars(v)) {
    if (!v->child) return "-";
    std::string s;
    for (const cJSON *e = v->child; e; e = e->next) s += (s.empty() ? "" : ", ") + text_of(e);
    return s;
  }
  return print_json(v);
}

void print_block(const cJSON *obj) {
  std::vector<std::pair<std::string, std::string>> rows;
  if (cJSON_IsObject(obj)) flatten(obj, "", rows);
  size_t width = 0;
  for (const auto &r : rows) width = r.first.size() > width ? r.first.size() : width;
  for (const auto &r : rows) {
    if (r.first.empty()) {
      printf("%s\n", r.second.c_str());
    } else {
      printf("%s:%*s %s\n", r.first.c_str(), static_cast<int>(width - r.first.size()), "", r.second.c_str());
    }
  }
}

void print_table(const Row &headers, const std::vector<Row> &rows) {
  std::vector<size_t> width(headers.size(), 0);
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const Row &r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = r[i].size() > width[i] ? r[i].size() : width[i];
  }
  auto line = [&](const Row &r) {
    std::string s;
    for (size_t i = 0; i < headers.size(); ++i) {
      const std::string &cell = i < r.size() ? r[i] : std::string();
      s += cell;
      if (i + 1 < headers.size()) s += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    printf("%s\n", s.c_str());
  };
  line(headers);
  for (const Row &r : rows) line(r);
}

void print_tree(const cJSON *v, int indent) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (cJSON_IsObject(v)) {
    for (const cJSON *c = v->child; c; c = c->next) {
      if (is_scalar(c) || (cJSON_IsArray(c) && all_scalars(c)) || (cJSON_IsObject(c) && !c->child)) {
        printf("%s%s: %s\n", pad.c_str(), c->string, cJSON_IsObject(c) ? "-" : text_of(c).c_str());
      } else {
        printf("%s%s:\n", pad.c_str(), c->string);
        print_tree(c, indent + 2);
      }
    }
  } else if (cJSON_IsArray(v)) {
    for (const cJSON *e = v->child; e; e = e->next) {
      if (is_scalar(e)) {
        printf("%s- %s\n", pad.c_str(), text_of(e).c_str());
      } else {
        printf("%s-\n", pad.c_str());
        print_tree(e, indent + 2);
      }
    }
  } else {
    printf("%s%s\n", pad.c_str(), text_of(v).c_str());
  }
}

void print_listing(const cJSON *r, const Row &headers, const std::vector<Row> &rows, const char *empty) {
  if (rows.empty()) {
    printf("%s\n", empty);
  } else {
    print_table(headers, rows);
  }
  if (const cJSON *total = field(r, "total")) printf("\ntotal: %s\n", text_of(total).c_str());
}

std::string cohort_id(const cJSON *e) {
  if (cJSON_IsString(e)) return e->valuestring;
  if (cJSON_IsNumber(e)) return number_text(e->valuedouble);
  const cJSON *id = field(e, "id");
  if (!id) id = field(e, "cohort_id");
  return id ? text_of(id) : print_json(e);
}

bool contains_id(const cJSON *arr, const std::string &id) {
  if (!cJSON_IsArray(arr)) return false;
  for (const cJSON *e = arr->child; e; e = e->next) {
    if (cohort_id(e) == id) return true;
  }
  return false;
}

std::string ids_text(const cJSON *arr) {
  if (!cJSON_IsArray(arr) || !arr->child) return "-";
  std::string s;
  for (const cJSON *e = arr->child; e; e = e->next) s += (s.empty() ? "" : ", ") + cohort_id(e);
  return s;
}

}  // namespace co::cli
