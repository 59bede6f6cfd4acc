// How results print: human-readable by default (aligned "key: value" blocks,
// small tables, indented trees), the raw result JSON with --json.
#pragma once
#include <string>
#include <vector>

#include "cohortctl.h"

namespace co::cli {

using Row = std::vector<std::string>;

// The result as one line of JSON with --json, else as `human` prints it; kOk.
int output(const Options &opt, const Json &result, void (*human)(const cJSON *));

// One value as text: null "-", booleans yes/no, arrays of scalars joined.
std::string text_of(const cJSON *v);
bool is_scalar(const cJSON *v);
// An object as an aligned block of "key: value" lines.
void print_block(const cJSON *obj);
void print_table(const Row &headers, const std::vector<Row> &rows);
// A tree of unknown shape (explain, preview): indented, YAML-like.
void print_tree(const cJSON *v, int indent);
// A listing's table (or what to say when it is empty), then its total.
void print_listing(const cJSON *r, const Row &headers, const std::vector<Row> &rows, const char *empty);

// The id of a cohort entry that is either "1001" or {"id": "1001", ...}.
std::string cohort_id(const cJSON *e);
bool contains_id(const cJSON *arr, const std::string &id);
// The ids of a list of cohort entries, comma-separated ("-" for none).
std::string ids_text(const cJSON *arr);

}  // namespace co::cli
