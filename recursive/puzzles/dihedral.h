// The 8 symmetries of a rectangle in TRM's numbering (numpy semantics), shared by the maze and ARC
// augmentations: 0 identity, 1 rot90 (counter-clockwise), 2 rot180, 3 rot270, 4 flip left-right,
// 5 flip up-down, 6 transpose, 7 anti-transpose. Ids 1, 3, 6 and 7 swap rows and columns.
// Inverses: {0, 3, 2, 1, 4, 5, 6, 7}.
#pragma once
#include <utility>

namespace beyond {

inline bool dihedral_swaps_sides(int id) { return id == 1 || id == 3 || id == 6 || id == 7; }

// The input cell (row, col) that output cell (r, c) of transform `id` reads, for an h x w input.
// numpy's rot90 (counter-clockwise) reads in(c, w-1-r).
inline std::pair<int, int> dihedral_source(int id, int h, int w, int r, int c) {
  switch (id) {
    case 1: return {c, w - 1 - r};
    case 2: return {h - 1 - r, w - 1 - c};
    case 3: return {h - 1 - c, r};
    case 4: return {r, w - 1 - c};
    case 5: return {h - 1 - r, c};
    case 6: return {c, r};
    case 7: return {h - 1 - c, w - 1 - r};
    default: return {r, c};
  }
}

}  // namespace beyond
