#include "experiments/variants.h"

#include <algorithm>

namespace beyond {

std::vector<Variant> read_variants(Config& c, const std::string& order_key) {
  const auto order = c.get_string_list(order_key, c.keys("variants"));
  if (order.empty()) throw c.error(order_key, "no variants ([variants.<name>] tables)");
  std::vector<Variant> variants;
  for (const auto& name : order) {
    const std::string k = "variants." + name;
    if (!c.has(k)) throw c.error(order_key, order_key + " names '" + name + "' but there is no [" + k + "] table");
    variants.push_back({name, c.get_string(k + ".label", name), c.get_string_list(k + ".overrides", {})});
  }
  for (const auto& name : c.keys("variants"))
    if (std::find(order.begin(), order.end(), name) == order.end())
      throw c.error("variants." + name, "variant '" + name + "' is not listed in " + order_key);
  return variants;
}

}  // namespace beyond
