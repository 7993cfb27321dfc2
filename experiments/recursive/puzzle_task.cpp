#include "experiments/recursive/puzzle_task.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace beyond {

HeldOutSet make_held_out(const std::vector<PuzzleExample>& examples, std::vector<std::string> groups,
                         const std::vector<std::string>& bucket_order) {
  std::vector<int64_t> in, out;
  for (const auto& e : examples) {
    in.insert(in.end(), e.inputs.begin(), e.inputs.end());
    out.insert(out.end(), e.labels.begin(), e.labels.end());
  }
  const auto n = static_cast<int64_t>(examples.size());
  HeldOutSet h{at::tensor(in, at::kLong).view({n, -1}), at::tensor(out, at::kLong).view({n, -1}), std::move(groups), {}};
  for (const auto& b : bucket_order)
    if (std::count(h.group.begin(), h.group.end(), b)) h.group_order.push_back(b);
  return h;
}

}  // namespace beyond
