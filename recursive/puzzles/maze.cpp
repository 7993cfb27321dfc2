#include "recursive/puzzles/maze.h"

#include <cmath>
#include <deque>
#include <ostream>

#include "core/errors.h"
#include "recursive/puzzles/csv.h"
#include "recursive/puzzles/dihedral.h"
#include "recursive/puzzles/random.h"

namespace beyond {

namespace {

// Distances from one cell and the number of shortest paths to each cell (capped at 2: only
// "unique or not" matters), over the 4-neighbourhood of non-wall cells.
struct Bfs {
  std::vector<int> dist, ways, parent;
};

template <class Open>
Bfs bfs(int size, int from, Open open) {
  const int n = size * size;
  Bfs b{std::vector<int>(n, -1), std::vector<int>(n, 0), std::vector<int>(n, -1)};
  std::deque<int> queue{from};
  b.dist[from] = 0;
  b.ways[from] = 1;
  while (!queue.empty()) {
    const int cell = queue.front();
    queue.pop_front();
    const int r = cell / size, c = cell % size;
    const int next[4] = {r > 0 ? cell - size : -1, r + 1 < size ? cell + size : -1, c > 0 ? cell - 1 : -1,
                         c + 1 < size ? cell + 1 : -1};
    for (int nb : next) {
      if (nb < 0 || !open(nb)) continue;
      if (b.dist[nb] < 0) {
        b.dist[nb] = b.dist[cell] + 1;
        b.parent[nb] = cell;
        queue.push_back(nb);
      }
      if (b.dist[nb] == b.dist[cell] + 1) b.ways[nb] = std::min(2, b.ways[nb] + b.ways[cell]);
    }
  }
  return b;
}

Bfs bfs_grid(const std::string& grid, int size, int from) {
  return bfs(size, from, [&](int cell) { return grid[cell] != '#'; });
}

std::string row_col(int cell, int size) {
  return "row " + std::to_string(cell / size + 1) + ", column " + std::to_string(cell % size + 1);
}

void draw_path(Maze& m, const std::vector<int>& path) {
  m.answer = m.question;
  for (size_t i = 1; i + 1 < path.size(); ++i) m.answer[path[i]] = 'o';
  m.path_length = static_cast<int>(path.size()) - 1;
}

// A perfect maze: randomised depth-first search over the lattice of odd (row, col) cells.
std::string carve_perfect_maze(int size, std::mt19937_64& rng) {
  const int m = (size - 1) / 2;  // lattice cells per side
  std::string grid(size * size, '#');
  auto at = [&](int i, int j) { return (2 * i + 1) * size + 2 * j + 1; };
  std::vector<char> visited(m * m, 0);
  std::vector<int> stack{static_cast<int>(uniform_below(rng, m * m))};
  visited[stack.back()] = 1;
  grid[at(stack.back() / m, stack.back() % m)] = ' ';
  while (!stack.empty()) {
    const int cur = stack.back(), i = cur / m, j = cur % m;
    int options[4], k = 0;
    if (i > 0 && !visited[cur - m]) options[k++] = cur - m;
    if (i + 1 < m && !visited[cur + m]) options[k++] = cur + m;
    if (j > 0 && !visited[cur - 1]) options[k++] = cur - 1;
    if (j + 1 < m && !visited[cur + 1]) options[k++] = cur + 1;
    if (k == 0) {
      stack.pop_back();
      continue;
    }
    const int nxt = options[uniform_below(rng, k)], ni = nxt / m, nj = nxt % m;
    grid[(at(i, j) + at(ni, nj)) / 2] = ' ';  // the wall between the two cells
    grid[at(ni, nj)] = ' ';
    visited[nxt] = 1;
    stack.push_back(nxt);
  }
  return grid;
}

}  // namespace

Maze Maze::parse(const std::string& question, const std::string& answer, const std::string& where) {
  const int len = static_cast<int>(question.size());
  const int k = static_cast<int>(std::lround(std::sqrt(static_cast<double>(len))));
  if (k < 2 || k * k != len)
    throw InputError(where + ": question has " + std::to_string(len) + " characters, not a square grid");
  if (answer.size() != question.size())
    throw InputError(where + ": answer has " + std::to_string(answer.size()) + " characters, the question " + std::to_string(len));
  Maze m;
  m.size = k;
  m.question = question;
  for (int i = 0; i < len; ++i) {
    const char q = question[i], a = answer[i];
    if (q != '#' && q != ' ' && q != 'S' && q != 'G')
      throw InputError(where + ": bad character '" + std::string(1, q) + "' in the question at " + row_col(i, k) +
                       " (expected one of '#', ' ', 'S', 'G')");
    if (a != q && !(q == ' ' && a == 'o'))
      throw InputError(where + ": the answer changes the question at " + row_col(i, k) + " ('" + std::string(1, q) + "' -> '" +
                       std::string(1, a) + "')");
    if (q == 'S' || q == 'G') {
      int& slot = q == 'S' ? m.start : m.goal;
      if (slot >= 0) throw InputError(where + ": more than one '" + std::string(1, q) + "' in the question");
      slot = i;
    }
  }
  if (m.start < 0 || m.goal < 0) throw InputError(where + ": the question needs one 'S' and one 'G'");
  const int shortest = bfs_grid(question, k, m.start).dist[m.goal];
  if (shortest < 0) throw InputError(where + ": 'G' cannot be reached from 'S'");
  // The marked cells are a shortest path iff S reaches G through them alone in `shortest` moves
  // and there are exactly shortest - 1 of them.
  int marked = 0;
  for (char a : answer) marked += a == 'o';
  const int along = bfs(k, m.start, [&](int cell) { return answer[cell] == 'o' || answer[cell] == 'G'; }).dist[m.goal];
  if (marked != shortest - 1 || along != shortest)
    throw InputError(where + ": the answer's 'o' cells are not a shortest path from S to G (" + std::to_string(marked) +
                     " marked, the shortest path has " + std::to_string(shortest - 1) + " cells between S and G)");
  m.answer = answer;
  m.path_length = shortest;
  return m;
}

Maze generate_maze(const MazeGenerateOptions& options, std::mt19937_64& rng) {
  const int k = options.size;
  if (k < kMinMazeSize || k > kMaxMazeSize)
    throw InputError("maze size " + std::to_string(k) + " out of range [" + std::to_string(kMinMazeSize) + ", " +
                     std::to_string(kMaxMazeSize) + "]");
  if (!(options.loop_fraction >= 0.0 && options.loop_fraction <= 1.0))
    throw InputError("maze loop fraction " + std::to_string(options.loop_fraction) + " out of range [0, 1]");
  const int min_path = options.min_path < 0 ? k : std::max(1, options.min_path);
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::string grid = carve_perfect_maze(k, rng);
    std::vector<int> cells;
    for (int i = 0; i < k * k; ++i) {
      if (grid[i] == ' ' && (i / k) % 2 == 1 && (i % k) % 2 == 1) cells.push_back(i);
    }
    const int start = cells[uniform_below(rng, cells.size())];
    const auto from_start = bfs_grid(grid, k, start);
    std::vector<int> goals;
    for (int c : cells) {
      if (from_start.dist[c] >= min_path) goals.push_back(c);
    }
    if (goals.empty()) continue;
    const int goal = goals[uniform_below(rng, goals.size())];

    // Inner walls with a passage on both sides (left/right or above/below), in random order.
    std::vector<int> walls;
    for (int r = 1; r + 1 < k; ++r) {
      for (int c = 1; c + 1 < k; ++c) {
        const int i = r * k + c;
        if (grid[i] != '#') continue;
        const bool across = grid[i - 1] != '#' && grid[i + 1] != '#' && grid[i - k] == '#' && grid[i + k] == '#';
        const bool down = grid[i - k] != '#' && grid[i + k] != '#' && grid[i - 1] == '#' && grid[i + 1] == '#';
        if (across || down) walls.push_back(i);
      }
    }
    shuffle_in_place(walls.begin(), walls.end(), rng);
    const auto target = static_cast<size_t>(std::lround(options.loop_fraction * static_cast<double>(walls.size())));
    size_t opened = 0;
    for (size_t w = 0; w < walls.size() && opened < target; ++w) {
      grid[walls[w]] = ' ';
      const auto b = bfs_grid(grid, k, start);
      if (b.ways[goal] == 1 && b.dist[goal] >= min_path) {
        ++opened;
      } else {
        grid[walls[w]] = '#';  // it would tie or shorten the answer
      }
    }
    Maze m;
    m.size = k;
    m.start = start;
    m.goal = goal;
    grid[start] = 'S';
    grid[goal] = 'G';
    m.question = grid;
    draw_path(m, maze_shortest_path(grid, k, start, goal));
    return m;
  }
  throw InputError("no " + std::to_string(k) + "x" + std::to_string(k) + " maze with a path of at least " +
                   std::to_string(min_path) + " moves found in 50 tries; lower the minimum path length");
}

std::vector<int> maze_shortest_path(const std::string& grid, int size, int from, int to) {
  const auto b = bfs_grid(grid, size, from);
  if (b.dist[to] < 0) return {};
  std::vector<int> path;
  for (int cell = to; cell >= 0; cell = b.parent[cell]) path.push_back(cell);
  return {path.rbegin(), path.rend()};
}

std::vector<int64_t> maze_tokens(const std::string& grid) {
  const std::string glyphs = kMazeGlyphs;
  std::vector<int64_t> out(grid.size());
  for (size_t i = 0; i < grid.size(); ++i) {
    const auto pos = glyphs.find(grid[i]);
    if (pos == std::string::npos) throw InputError("bad maze glyph '" + std::string(1, grid[i]) + "'");
    out[i] = static_cast<int64_t>(pos) + 1;
  }
  return out;
}

std::string pretty_maze(const std::string& grid, int size) {
  std::string out;
  for (int r = 0; r < size; ++r) {
    for (int c = 0; c < size; ++c) {
      const char g = grid[r * size + c];
      out += g == '#' ? "##" : std::string(1, g) + " ";
    }
    out += "\n";
  }
  return out;
}

std::vector<Maze> load_maze_csv(const std::string& path, int64_t limit) {
  const auto lines = read_numbered_lines(path);
  check_puzzle_csv_header(lines, path);
  std::vector<Maze> out;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].text.empty()) continue;
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
    const std::string where = file_line(path, lines[i].number);
    const auto fields = split_csv_row(lines[i].text, 4, where);
    out.push_back(Maze::parse(fields[1], fields[2], where));
  }
  if (out.empty()) throw InputError(path + ": no mazes in the file");
  return out;
}

void write_maze_csv(std::ostream& out, const std::vector<Maze>& mazes, const std::string& source) {
  out << kPuzzleCsvHeader << "\n";
  for (const auto& m : mazes) out << source << "," << m.question << "," << m.answer << "," << m.path_length << "\n";
}

std::string maze_dihedral(const std::string& grid, int k, int id) {
  std::string out(grid.size(), ' ');
  for (int r = 0; r < k; ++r)
    for (int c = 0; c < k; ++c) {
      const auto [sr, sc] = dihedral_source(id, k, k, r, c);
      out[static_cast<size_t>(r * k + c)] = grid[static_cast<size_t>(sr * k + sc)];
    }
  return out;
}

}  // namespace beyond
