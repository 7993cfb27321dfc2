#include "recursive/puzzles/arc_encoding.h"

#include <algorithm>

#include "core/errors.h"
#include "recursive/puzzles/random.h"

namespace beyond {

namespace {

bool is_colour_token(int64_t t) { return t >= kArcColourOffset && t < kArcColourOffset + kArcColours; }

}  // namespace

std::vector<int64_t> encode_arc_grid(const ArcGrid& grid, int canvas, int row, int col) {
  if (row < 0 || col < 0 || row + grid.rows > canvas || col + grid.cols > canvas)
    throw InputError("ARC grid " + std::to_string(grid.rows) + "x" + std::to_string(grid.cols) + " at (" +
                     std::to_string(row) + ", " + std::to_string(col) + ") does not fit a " + std::to_string(canvas) +
                     "x" + std::to_string(canvas) + " canvas");
  std::vector<int64_t> tokens(static_cast<size_t>(canvas * canvas), kArcPad);
  auto at = [&](int r, int c) -> int64_t& { return tokens[static_cast<size_t>(r * canvas + c)]; };
  for (int r = 0; r < grid.rows; ++r)
    for (int c = 0; c < grid.cols; ++c) at(row + r, col + c) = grid.at(r, c) + kArcColourOffset;
  // The end markers tell the model the grid's shape; the corner (below and right) stays PAD.
  const int below = row + grid.rows, right = col + grid.cols;
  if (below < canvas)
    for (int c = col; c < right; ++c) at(below, c) = kArcEos;
  if (right < canvas)
    for (int r = row; r < below; ++r) at(r, right) = kArcEos;
  return tokens;
}

ArcGrid crop_arc_grid(const std::vector<int64_t>& tokens, int canvas) {
  if (tokens.size() != static_cast<size_t>(canvas * canvas))
    throw InputError("crop_arc_grid: " + std::to_string(tokens.size()) + " tokens, not " + std::to_string(canvas) + "x" +
                     std::to_string(canvas));
  // Row by row, the width of the colour run from column 0 can only shrink; keep the best area.
  int width = canvas, best_rows = 0, best_cols = 0;
  for (int r = 0; r < canvas && width > 0; ++r) {
    int run = 0;
    while (run < width && is_colour_token(tokens[static_cast<size_t>(r * canvas + run)])) ++run;
    width = run;
    if ((r + 1) * width > best_rows * best_cols) best_rows = r + 1, best_cols = width;
  }
  ArcGrid grid;
  grid.rows = best_rows;
  grid.cols = best_cols;
  for (int r = 0; r < best_rows; ++r)
    for (int c = 0; c < best_cols; ++c)
      grid.cells.push_back(static_cast<uint8_t>(tokens[static_cast<size_t>(r * canvas + c)] - kArcColourOffset));
  return grid;
}

ArcOffset random_arc_offset(const ArcGrid& input, const ArcGrid& output, int canvas, std::mt19937_64& rng) {
  const int rows = std::max(input.rows, output.rows), cols = std::max(input.cols, output.cols);
  if (rows > canvas || cols > canvas)
    throw InputError("ARC pair of up to " + std::to_string(rows) + "x" + std::to_string(cols) + " does not fit a " +
                     std::to_string(canvas) + "x" + std::to_string(canvas) + " canvas");
  ArcOffset offset;
  offset.row = static_cast<int>(uniform_below(rng, static_cast<uint64_t>(canvas - rows + 1)));
  offset.col = static_cast<int>(uniform_below(rng, static_cast<uint64_t>(canvas - cols + 1)));
  return offset;
}

}  // namespace beyond
