// Mazes in HRM's layout (Maze-Hard, `dataset/build_maze_dataset.py`): a k x k grid as a k*k string
// over the glyphs "# SGo": '#' wall, ' ' open, 'S' start, 'G' goal, 'o' a cell of the shortest path.
// The question has no 'o'; the answer is the question with every path cell between S and G marked
// 'o' (S and G stay). Model tokens are PAD 0 and glyph index + 1: '#' 1, ' ' 2, 'S' 3, 'G' 4, 'o' 5.
// Plain C++, no torch.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <random>
#include <string>
#include <vector>

namespace beyond {

inline constexpr const char* kMazeGlyphs = "# SGo";
inline constexpr int kMinMazeSize = 11, kMaxMazeSize = 30;

struct Maze {
  int size = 0;          // k
  std::string question;  // k*k glyphs, row-major
  std::string answer;    // the question with the shortest path drawn
  int start = -1, goal = -1;  // cell indices (row * k + col)
  int path_length = 0;   // moves from S to G

  // Checks a question/answer pair read from a file: square, glyphs, one S and one G, the answer
  // only adds 'o' to open cells and draws a shortest S-G path. InputError prefixed with `where`.
  static Maze parse(const std::string& question, const std::string& answer, const std::string& where);
};

struct MazeGenerateOptions {
  int size = 15;               // k, 11..30
  double loop_fraction = 0.2;  // share of the inner walls between two passages to try to open
  int min_path = -1;           // the S-G shortest path has at least this many moves (-1: k)
};

// 1. A perfect maze (one route between any two cells) by a randomised depth-first search: cells at
//    odd (row, col), walls between them, a wall border. For an even k the last inner row and column
//    stay wall, so a 30x30 maze has a double wall at the bottom and right.
// 2. S and G on two random cells at least min_path moves apart (by default the side length k,
//    so that no maze is trivial; HRM's Maze-Hard asks for more than 110 at 30x30).
// 3. Loops: random inner walls between two passages are opened, each kept only when the S-G
//    shortest path stays unique and at least min_path long, so the answer is always well defined
//    while the solver still has to compare routes.
// InputError for a size outside 11..30 or a min_path no maze of this size reaches.
Maze generate_maze(const MazeGenerateOptions& options, std::mt19937_64& rng);

// BFS over open cells (anything but '#', 4-neighbourhood): the cells of a shortest path from `from`
// to `to` inclusive, empty when there is none. Ties go to the first neighbour in the order up,
// down, left, right.
std::vector<int> maze_shortest_path(const std::string& grid, int size, int from, int to);

// Dihedral transform `id` of a k x k grid (recursive/puzzles/dihedral.h numbers the 8).
// A maze's unique shortest path maps onto the transformed maze's unique shortest path.
std::string maze_dihedral(const std::string& grid, int size, int id);

// Model tokens: PAD 0, glyph index in "# SGo" + 1.
std::vector<int64_t> maze_tokens(const std::string& grid);

// Two characters per cell so the maze looks square on a terminal: "##" wall, "  " open, "S ", "G ", "o ".
std::string pretty_maze(const std::string& grid, int size);

// HRM's CSV (`source,question,answer,rating`; we write the path length as the rating and ignore
// the column on reading, recomputing the length from the maze). Rows whose
// question is not a square over the glyphs, or whose answer is not a shortest path, are InputErrors
// naming file:line.
std::vector<Maze> load_maze_csv(const std::string& path, int64_t limit = 0);
void write_maze_csv(std::ostream& out, const std::vector<Maze>& mazes, const std::string& source);

}  // namespace beyond
