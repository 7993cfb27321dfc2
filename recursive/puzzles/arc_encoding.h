// ARC grids as model tokens (TRM/HRM): a canvas x canvas sequence (30x30 in the reference),
//   PAD 0 outside the grid, EOS 1 on the row just below the grid (under its columns) and on the
//   column just right of it (beside its rows), colour c as c + 2 (2..11).
// Training pairs may be translated inside the canvas (input and output by the same offset); test
// inputs sit at the top-left. A prediction is read back by cropping the largest top-left rectangle
// holding only colour tokens.
// Plain C++, no torch.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "recursive/puzzles/arc.h"

namespace beyond {

inline constexpr int64_t kArcPad = 0, kArcEos = 1, kArcColourOffset = 2, kArcVocab = 12;

// The grid's tokens on a canvas x canvas board with its top-left cell at (row, col). EOS cells
// that would fall outside the canvas are left out (a grid touching the edge has no border there).
// Requires row + grid.rows <= canvas and col + grid.cols <= canvas (InputError otherwise).
std::vector<int64_t> encode_arc_grid(const ArcGrid& grid, int canvas, int row = 0, int col = 0);

// The largest top-left rectangle (by area; the first found on ties, scanning rows downwards) whose
// cells are all colour tokens 2..11, as a grid of colours 0..9. Empty (0x0) when token (0, 0) is
// not a colour. `tokens` has canvas * canvas entries.
ArcGrid crop_arc_grid(const std::vector<int64_t>& tokens, int canvas);

struct ArcOffset {
  int row = 0, col = 0;
};
// A uniformly random offset that keeps both grids inside the canvas:
// row in [0, canvas - max(rows)], col in [0, canvas - max(cols)].
ArcOffset random_arc_offset(const ArcGrid& input, const ArcGrid& output, int canvas, std::mt19937_64& rng);

}  // namespace beyond
