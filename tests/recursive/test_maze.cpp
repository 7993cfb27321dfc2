// Maze generator: the label is the unique shortest path, checked with a BFS written here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

#include "core/errors.h"
#include "recursive/puzzles/maze.h"
#include "recursive/puzzles/random.h"

using namespace beyond;

namespace {

// Distances from `from` over non-wall cells, and the number of shortest paths to each (exact,
// as doubles, so nothing caps them).
struct Reference {
  std::vector<int> dist;
  std::vector<double> paths;
};

Reference reference_bfs(const std::string& g, int k, int from) {
  Reference r{std::vector<int>(k * k, -1), std::vector<double>(k * k, 0.0)};
  std::queue<int> q;
  q.push(from);
  r.dist[from] = 0;
  r.paths[from] = 1;
  while (!q.empty()) {
    const int cell = q.front();
    q.pop();
    const int row = cell / k, col = cell % k;
    const int dr[4] = {0, 0, 1, -1}, dc[4] = {1, -1, 0, 0};
    for (int i = 0; i < 4; ++i) {
      const int nr = row + dr[i], nc = col + dc[i];
      if (nr < 0 || nc < 0 || nr >= k || nc >= k || g[nr * k + nc] == '#') continue;
      const int nb = nr * k + nc;
      if (r.dist[nb] < 0) {
        r.dist[nb] = r.dist[cell] + 1;
        q.push(nb);
      }
      if (r.dist[nb] == r.dist[cell] + 1) r.paths[nb] += r.paths[cell];
    }
  }
  return r;
}

int count_of(const std::string& s, char ch) { return static_cast<int>(std::count(s.begin(), s.end(), ch)); }

// Open cells and open-open adjacencies: a connected maze is a tree iff edges == cells - 1.
std::pair<int, int> cells_and_edges(const std::string& g, int k) {
  int cells = 0, edges = 0;
  for (int r = 0; r < k; ++r) {
    for (int c = 0; c < k; ++c) {
      if (g[r * k + c] == '#') continue;
      ++cells;
      if (c + 1 < k && g[r * k + c + 1] != '#') ++edges;
      if (r + 1 < k && g[(r + 1) * k + c] != '#') ++edges;
    }
  }
  return {cells, edges};
}

void check_maze(const Maze& m, int k, int min_path) {
  ASSERT_EQ(m.size, k);
  ASSERT_EQ(m.question.size(), static_cast<size_t>(k * k));
  ASSERT_EQ(m.answer.size(), m.question.size());
  EXPECT_EQ(count_of(m.question, 'S'), 1);
  EXPECT_EQ(count_of(m.question, 'G'), 1);
  EXPECT_EQ(count_of(m.question, 'o'), 0);
  EXPECT_EQ(m.question[m.start], 'S');
  EXPECT_EQ(m.question[m.goal], 'G');
  for (int i = 0; i < k; ++i) {  // the border is wall
    ASSERT_EQ(m.question[i], '#');
    ASSERT_EQ(m.question[(k - 1) * k + i], '#');
    ASSERT_EQ(m.question[i * k], '#');
    ASSERT_EQ(m.question[i * k + k - 1], '#');
  }
  for (size_t i = 0; i < m.question.size(); ++i) {
    ASSERT_NE(std::string("# SG").find(m.question[i]), std::string::npos);
    if (m.answer[i] != m.question[i]) {
      ASSERT_TRUE(m.question[i] == ' ' && m.answer[i] == 'o') << i;
    }
  }
  const auto ref = reference_bfs(m.question, k, m.start);
  ASSERT_GT(ref.dist[m.goal], 0);
  EXPECT_EQ(m.path_length, ref.dist[m.goal]);
  EXPECT_GE(m.path_length, min_path);
  EXPECT_EQ(ref.paths[m.goal], 1.0);  // the label is the only shortest path
  // The 'o' cells form a simple path S -> G: every 'o' has two path neighbours, S and G one each,
  // and there are exactly distance - 1 of them.
  EXPECT_EQ(count_of(m.answer, 'o'), ref.dist[m.goal] - 1);
  auto on_path = [&](int r, int c) { return r >= 0 && c >= 0 && r < k && c < k && m.answer[r * k + c] != '#' && m.answer[r * k + c] != ' '; };
  for (int r = 0; r < k; ++r) {
    for (int c = 0; c < k; ++c) {
      const char g = m.answer[r * k + c];
      if (g != 'o' && g != 'S' && g != 'G') continue;
      const int degree = on_path(r - 1, c) + on_path(r + 1, c) + on_path(r, c - 1) + on_path(r, c + 1);
      EXPECT_EQ(degree, g == 'o' ? 2 : 1) << "row " << r << " col " << c;
    }
  }
  // Walking the path from S reaches G in path_length steps.
  std::string walk = m.answer;
  int cell = m.start, steps = 0;
  while (cell != m.goal && steps <= k * k) {
    walk[cell] = '#';
    const int r = cell / k, c = cell % k;
    int next = -1;
    for (int nb : {cell - k, cell + k, cell - 1, cell + 1}) {
      const int nr = nb / k, nc = nb % k;
      if (nb >= 0 && nb < k * k && std::abs(nr - r) + std::abs(nc - c) == 1 && (walk[nb] == 'o' || walk[nb] == 'G')) next = nb;
    }
    ASSERT_GE(next, 0) << "the path breaks at row " << r << " col " << c;
    cell = next;
    ++steps;
  }
  EXPECT_EQ(steps, m.path_length);
}

}  // namespace

TEST(Maze, LabelIsTheUniqueShortestPath) {
  for (int k : {11, 12, 15, 20, 30}) {
    for (int seed = 0; seed < 6; ++seed) {
      std::mt19937_64 rng(item_seed(k, seed));
      MazeGenerateOptions options;
      options.size = k;
      options.min_path = seed % 3 == 1 ? 0 : seed % 3 == 2 ? 2 * k : -1;  // -1: at least k
      options.loop_fraction = seed % 2 == 0 ? 0.0 : 0.3;
      SCOPED_TRACE("k " + std::to_string(k) + " seed " + std::to_string(seed));
      check_maze(generate_maze(options, rng), k, options.min_path < 0 ? k : options.min_path);
    }
  }
}

TEST(Maze, LoopsOnlyWhenAsked) {
  int with_cycles = 0;
  for (int seed = 0; seed < 5; ++seed) {
    for (double loops : {0.0, 0.3}) {
      std::mt19937_64 rng(seed);
      MazeGenerateOptions options;
      options.size = 21;
      options.loop_fraction = loops;
      const auto m = generate_maze(options, rng);
      const auto [cells, edges] = cells_and_edges(m.question, 21);
      // Every open cell is reachable from S.
      const auto ref = reference_bfs(m.question, 21, m.start);
      EXPECT_EQ(std::count_if(ref.dist.begin(), ref.dist.end(), [](int d) { return d >= 0; }), cells);
      if (loops == 0.0) {
        EXPECT_EQ(edges, cells - 1);  // a perfect maze is a tree
      } else {
        with_cycles += edges > cells - 1;
      }
    }
  }
  EXPECT_EQ(with_cycles, 5);
}

TEST(Maze, ReproducibleAndSeeded) {
  MazeGenerateOptions options;
  options.size = 17;
  std::mt19937_64 a(9), b(9), c(10);
  const auto ma = generate_maze(options, a), mb = generate_maze(options, b), mc = generate_maze(options, c);
  EXPECT_EQ(ma.answer, mb.answer);
  EXPECT_NE(ma.answer, mc.answer);
  // A fixed value: changes of the algorithm or of the RNG use show up here.
  std::mt19937_64 rng(item_seed(1, 0));
  options.size = 11;
  EXPECT_EQ(generate_maze(options, rng).answer,
            "###########"
            "#S        #"
            "#o##### # #"
            "#ooo#     #"
            "###o# ### #"
            "#ooo  # # #"
            "#o##### # #"
            "#ooooooG# #"
            "# ##### # #"
            "#         #"
            "###########");
}

TEST(Maze, BadOptions) {
  std::mt19937_64 rng(1);
  MazeGenerateOptions options;
  for (int k : {10, 31, 0}) {
    options.size = k;
    EXPECT_THROW(generate_maze(options, rng), InputError) << k;
  }
  options.size = 11;
  options.loop_fraction = 1.5;
  EXPECT_THROW(generate_maze(options, rng), InputError);
  options.loop_fraction = 0.2;
  options.min_path = 500;  // longer than any 11x11 maze allows
  try {
    generate_maze(options, rng);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at least 500 moves"), std::string::npos) << e.what();
  }
}

TEST(Maze, TokensAndPretty) {
  EXPECT_EQ(maze_tokens("# SGo"), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_THROW(maze_tokens("x"), InputError);
  EXPECT_EQ(pretty_maze("#S G", 2), "##S \n  G \n");
}

TEST(Maze, ParseChecksTheAnswer) {
  std::mt19937_64 rng(4);
  MazeGenerateOptions options;
  options.size = 13;
  const auto m = generate_maze(options, rng);
  const auto back = Maze::parse(m.question, m.answer, "m.csv:2");
  EXPECT_EQ(back.start, m.start);
  EXPECT_EQ(back.goal, m.goal);
  EXPECT_EQ(back.path_length, m.path_length);

  auto error = [](const std::string& q, const std::string& a) -> std::string {
    try {
      Maze::parse(q, a, "m.csv:2");
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error(m.question.substr(1), m.answer.substr(1)).find("m.csv:2: question has 168 characters, not a square"), std::string::npos);
  std::string a = m.answer;
  a[a.find('o')] = ' ';  // a gap in the path
  EXPECT_NE(error(m.question, a).find("not a shortest path"), std::string::npos) << error(m.question, a);
  a = m.answer;
  a[0] = 'o';  // paints a wall
  EXPECT_NE(error(m.question, a).find("changes the question at row 1, column 1"), std::string::npos) << error(m.question, a);
  std::string q = m.question;
  q[q.find(' ')] = 'x';
  EXPECT_NE(error(q, q).find("bad character 'x'"), std::string::npos);
  q = m.question;
  q[q.find(' ')] = 'S';
  EXPECT_NE(error(q, q).find("more than one 'S'"), std::string::npos);
  q = m.question;
  q[m.goal] = ' ';
  EXPECT_NE(error(q, q).find("one 'S' and one 'G'"), std::string::npos);
}

TEST(Maze, CsvRoundTripAndErrors) {
  const auto dir = std::filesystem::temp_directory_path() / ("beyond_maze_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<Maze> mazes;
  for (int i = 0; i < 3; ++i) {
    std::mt19937_64 rng(item_seed(7, i));
    MazeGenerateOptions options;
    options.size = 11 + i;
    mazes.push_back(generate_maze(options, rng));
  }
  std::ostringstream out;
  write_maze_csv(out, mazes, "test");
  const auto path = (dir / "mazes.csv").string();
  std::ofstream(path) << out.str();
  const auto back = load_maze_csv(path);
  ASSERT_EQ(back.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(back[i].answer, mazes[i].answer);
    EXPECT_EQ(back[i].path_length, mazes[i].path_length);
  }
  EXPECT_EQ(load_maze_csv(path, 2).size(), 2u);
  const auto bad = (dir / "bad.csv").string();
  std::ofstream(bad) << "source,question,answer,rating\n" << "test," << mazes[0].question << "," << mazes[0].question << ",3\n";
  try {
    load_maze_csv(bad);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2: the answer's 'o' cells are not a shortest path"), std::string::npos) << e.what();
  }
  std::ofstream(bad) << "question,answer\n";
  EXPECT_THROW(load_maze_csv(bad), InputError);
}

// Every dihedral transform keeps the answer the unique shortest path of the transformed maze,
// matches a hand-written rotation on a 3x3 grid, and is undone by its listed inverse.
TEST(Maze, DihedralTransformsKeepTheLabel) {
  // "abcdefghi" as a 3x3 grid; numpy's rot90 (counter-clockwise) gives rows "cfi", "beh", "adg".
  EXPECT_EQ(maze_dihedral("abcdefghi", 3, 1), "cfibehadg");
  EXPECT_EQ(maze_dihedral("abcdefghi", 3, 4), "cbafedihg");
  EXPECT_EQ(maze_dihedral("abcdefghi", 3, 6), "adgbehcfi");
  const int inverse[8] = {0, 3, 2, 1, 4, 5, 6, 7};
  MazeGenerateOptions opt;
  opt.size = 13;
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 3; ++trial) {
    const Maze m = generate_maze(opt, rng);
    for (int id = 0; id < 8; ++id) {
      const std::string q = maze_dihedral(m.question, m.size, id), a = maze_dihedral(m.answer, m.size, id);
      EXPECT_EQ(maze_dihedral(q, m.size, inverse[id]), m.question) << "id " << id;
      const int s = static_cast<int>(q.find('S')), g = static_cast<int>(q.find('G'));
      const Reference from_s = reference_bfs(q, m.size, s);
      EXPECT_EQ(from_s.paths[g], 1.0) << "id " << id;
      EXPECT_EQ(count_of(a, 'o'), from_s.dist[g] - 1) << "id " << id;
      EXPECT_NO_THROW(Maze::parse(q, a, "dihedral " + std::to_string(id)));
    }
  }
}
