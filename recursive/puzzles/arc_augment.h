// ARC augmentations (TRM/HRM `build_arc_dataset.py`): one of the 8 dihedral transforms plus a
// permutation of the colours 1-9 (black stays black), applied to every grid of a task. Each
// variant of a task gets its own puzzle id and so its own learned embedding; at evaluation the
// prediction for a variant is mapped back with the exact inverse before voting.
// Plain C++, no torch.
#pragma once
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "recursive/puzzles/arc.h"

namespace beyond {

// Dihedral transform `id` of a rows x cols grid (recursive/puzzles/dihedral.h numbers the 8; ids 1,
// 3, 6 and 7 swap rows and cols).
ArcGrid arc_dihedral(const ArcGrid& grid, int id);
// The id that undoes `id`: {0, 3, 2, 1, 4, 5, 6, 7}.
int inverse_dihedral_id(int id);

struct ArcAugmentation {
  int dihedral = 0;
  std::array<uint8_t, kArcColours> colours{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};  // new colour of colour c; colours[0] == 0

  bool is_identity() const;
  // Colours first, then the dihedral transform (the two commute).
  ArcGrid apply(const ArcGrid& grid) const;
  // The exact inverse: invert(apply(g)) == g for every grid g.
  ArcGrid invert(const ArcGrid& grid) const;
  ArcPair apply(const ArcPair& pair) const;
  // TRM's variant suffix "t<dihedral>|||<the 10 digits of colours>", e.g. "t3|||0457126983".
  std::string name() const;
  // A uniformly random dihedral id and a uniformly random permutation of colours 1-9.
  static ArcAugmentation random(std::mt19937_64& rng);
};

// The task with every grid (train and test pairs) augmented; id and path stay the task's own.
ArcTask augment_task(const ArcTask& task, const ArcAugmentation& aug);

// Variant 0 is the identity; then up to `count` random augmentations whose augmented task differs
// from every earlier variant's (compared over all grids of the task, train and test, as the
// reference's puzzle hash does), trying at most 5 * count times. A symmetric task may get fewer.
std::vector<ArcAugmentation> make_arc_variants(const ArcTask& task, int count, std::mt19937_64& rng);

}  // namespace beyond
