#include "recursive/puzzles/arc_augment.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "recursive/puzzles/dihedral.h"
#include "recursive/puzzles/random.h"

namespace beyond {

namespace {

// A grid's exact content (shape and cells) as a string key, for comparing tasks.
std::string grid_key(const ArcGrid& g) {
  std::string key = std::to_string(g.rows) + "x" + std::to_string(g.cols) + ":";
  key.append(g.cells.begin(), g.cells.end());
  return key;
}

// All pairs of the task, train and test alike, in sorted order: like the reference's puzzle hash,
// two tasks are the same when they hold the same (input, output) pairs in any order.
std::vector<std::string> task_key(const ArcTask& task) {
  std::vector<std::string> pairs;
  for (const auto* list : {&task.train, &task.test})
    for (const auto& p : *list) pairs.push_back(grid_key(p.input) + "|" + grid_key(p.output));
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

ArcGrid map_colours(const ArcGrid& grid, const std::array<uint8_t, kArcColours>& to) {
  ArcGrid out = grid;
  for (auto& cell : out.cells) cell = to[cell];
  return out;
}

}  // namespace

ArcGrid arc_dihedral(const ArcGrid& grid, int id) {
  if (id < 0 || id > 7) throw std::invalid_argument("arc_dihedral: id " + std::to_string(id) + " is not 0-7");
  const int h = grid.rows, w = grid.cols;
  const bool swaps = dihedral_swaps_sides(id);
  ArcGrid out;
  out.rows = swaps ? w : h;
  out.cols = swaps ? h : w;
  out.cells.resize(grid.cells.size());
  for (int r = 0; r < out.rows; ++r)
    for (int c = 0; c < out.cols; ++c) {
      const auto [sr, sc] = dihedral_source(id, h, w, r, c);
      out.at(r, c) = grid.at(sr, sc);
    }
  return out;
}

int inverse_dihedral_id(int id) {
  static constexpr int kInverse[8] = {0, 3, 2, 1, 4, 5, 6, 7};
  if (id < 0 || id > 7) throw std::invalid_argument("inverse_dihedral_id: id " + std::to_string(id) + " is not 0-7");
  return kInverse[id];
}

bool ArcAugmentation::is_identity() const {
  for (int c = 0; c < kArcColours; ++c)
    if (colours[c] != c) return false;
  return dihedral == 0;
}

ArcGrid ArcAugmentation::apply(const ArcGrid& grid) const { return arc_dihedral(map_colours(grid, colours), dihedral); }

ArcGrid ArcAugmentation::invert(const ArcGrid& grid) const {
  std::array<uint8_t, kArcColours> back{};
  for (int c = 0; c < kArcColours; ++c) back[colours[c]] = static_cast<uint8_t>(c);
  return map_colours(arc_dihedral(grid, inverse_dihedral_id(dihedral)), back);
}

ArcPair ArcAugmentation::apply(const ArcPair& pair) const {
  ArcPair out = pair;
  out.input = apply(pair.input);
  if (pair.has_output) out.output = apply(pair.output);
  return out;
}

std::string ArcAugmentation::name() const {
  std::string out = "t";
  out += std::to_string(dihedral);
  out += "|||";
  for (uint8_t c : colours) out += static_cast<char>('0' + c);
  return out;
}

ArcAugmentation ArcAugmentation::random(std::mt19937_64& rng) {
  ArcAugmentation aug;
  aug.dihedral = static_cast<int>(uniform_below(rng, 8));
  shuffle_in_place(aug.colours.begin() + 1, aug.colours.end(), rng);
  return aug;
}

ArcTask augment_task(const ArcTask& task, const ArcAugmentation& aug) {
  ArcTask out = task;
  for (auto* list : {&out.train, &out.test})
    for (auto& p : *list) p = aug.apply(p);
  return out;
}

std::vector<ArcAugmentation> make_arc_variants(const ArcTask& task, int count, std::mt19937_64& rng) {
  std::vector<ArcAugmentation> variants{ArcAugmentation{}};
  std::set<std::vector<std::string>> seen{task_key(task)};
  for (int attempt = 0; attempt < 5 * count && static_cast<int>(variants.size()) <= count; ++attempt) {
    const auto aug = ArcAugmentation::random(rng);
    if (seen.insert(task_key(augment_task(task, aug))).second) variants.push_back(aug);
  }
  return variants;
}

}  // namespace beyond
