// The [variants.<name>] tables that `beyond sweep` and the arch_compare experiment share: each
// variant is a label and a list of "key=value" overrides of one base config.
#pragma once
#include <string>
#include <vector>

#include "core/config.h"

namespace beyond {

struct Variant {
  std::string name, label;             // label defaults to the name
  std::vector<std::string> overrides;  // "table.key=value", applied to the base config
};

// The variants in the order the string list `order_key` gives (default: as the tables appear);
// InputError when there are none, when the order names a missing table, or when a table is left
// out of the order. Reads each table's label and overrides; other keys are the caller's.
std::vector<Variant> read_variants(Config& c, const std::string& order_key);

}  // namespace beyond
