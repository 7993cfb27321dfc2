// Sudoku loaders on small temporary files: both layouts, and one test per malformed-line error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "recursive/puzzles/sudoku_io.h"

using namespace beyond;
namespace fs = std::filesystem;

namespace {

std::string temp_file(const std::string& name, const std::string& text) {
  const auto dir = fs::temp_directory_path() / ("beyond_puzzle_io_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// The InputError message of load_sudoku(path), or "" when it loads.
std::string load_error(const std::string& path, bool check_unique = false) {
  try {
    SudokuLoadOptions options;
    options.check_unique = check_unique;
    load_sudoku(path, options);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const char* kWiki = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79";
const char* kWikiSolution = "534678912672195348198342567859761423426853791713924856961537284287419635345286179";
const char* kCsvHeader = "source,question,answer,rating\n";

}  // namespace

TEST(SudokuIo, LineFileWithCommentsBlanksAndCrlf) {
  std::string wiki0 = kWiki;
  std::replace(wiki0.begin(), wiki0.end(), '.', '0');
  const auto path = temp_file("lines.txt", std::string("# a header comment\n#\n") + kWiki + "\r\n\n" + wiki0 + "  \n");
  const auto examples = load_sudoku(path);
  ASSERT_EQ(examples.size(), 2u);
  for (const auto& e : examples) {
    EXPECT_EQ(e.puzzle.to_string(), kWiki);
    EXPECT_EQ(e.solution.to_string(), kWikiSolution);
    EXPECT_EQ(e.rating, 1);  // our node count: singles solve it
    EXPECT_EQ(e.source, "lines.txt");
  }
  SudokuLoadOptions options;
  options.read.limit = 1;
  EXPECT_EQ(load_sudoku(path, options).size(), 1u);
  // A 4x4 file: the shape follows from the length.
  const auto small = load_sudoku(temp_file("small.txt", "...221.43.2.....\n"));
  EXPECT_EQ(small[0].puzzle.shape, (SudokuShape{2, 2}));
}

TEST(SudokuIo, LineFileErrorsNameFileAndLine) {
  const std::string good = std::string(kWiki) + "\n";
  std::string e = load_error(temp_file("short.txt", good + std::string(kWiki).substr(1) + "\n"));
  EXPECT_NE(e.find("short.txt:2: 80 characters, expected 81"), std::string::npos) << e;
  e = load_error(temp_file("first.txt", "123\n"));
  EXPECT_NE(e.find("first.txt:1: 3 characters is no sudoku size"), std::string::npos) << e;
  std::string bad = kWiki;
  bad[10] = 'x';
  e = load_error(temp_file("char.txt", "# c\n" + good + bad + "\n"));
  EXPECT_NE(e.find("char.txt:3: bad character 'x' at position 11 (row 2, column 2)"), std::string::npos) << e;
  std::string conflict = kWiki;
  conflict[2] = '5';  // a second 5 in row 1
  e = load_error(temp_file("conflict.txt", conflict + "\n"));
  EXPECT_NE(e.find("conflict.txt:1: the givens conflict: row 1 has two 5s"), std::string::npos) << e;
  // Consistent givens but (row 1, column 3) has no digit left: no solution.
  e = load_error(temp_file("none.txt", "12........3...4.\n"));
  EXPECT_NE(e.find("none.txt:1: the puzzle has no solution"), std::string::npos) << e;
  e = load_error(temp_file("many.txt", "1...............\n"));
  EXPECT_NE(e.find("many.txt:1: the puzzle has more than one solution"), std::string::npos) << e;
  // skip_non_unique leaves such puzzles out and keeps the rest.
  SudokuLoadOptions skip;
  skip.skip_non_unique = true;
  const auto kept = load_sudoku(temp_file("some.txt", "1...............\n12........3...4.\n...221.43.2.....\n"), skip);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].puzzle.to_string(), "...221.43.2.....");
  EXPECT_THROW(load_sudoku(temp_file("conflict2.txt", "11..............\n"), skip), InputError);  // still an error
  e = load_error(temp_file("empty.txt", "# only a comment\n\n"));
  EXPECT_NE(e.find("empty.txt: no puzzles"), std::string::npos) << e;
  e = load_error("/nonexistent/puzzles.txt");
  EXPECT_NE(e.find("/nonexistent/puzzles.txt: cannot open"), std::string::npos) << e;
  // A 9x9 file with a 4x4 line in it.
  e = load_error(temp_file("mixed.txt", good + "1.3...2.......4.\n"));
  EXPECT_NE(e.find("mixed.txt:2: 16 characters, expected 81"), std::string::npos) << e;
}

TEST(SudokuIo, HrmCsv) {
  const auto path = temp_file("hrm.csv", std::string(kCsvHeader) + "puzzles1_unbiased," + kWiki + "," + kWikiSolution + ",3\n" +
                                             "forum," + kWiki + "," + kWikiSolution + ",17\r\n");
  const auto examples = load_sudoku(path);
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(examples[0].source, "puzzles1_unbiased");
  EXPECT_EQ(examples[0].rating, 3);  // the file's rating, not ours
  EXPECT_EQ(examples[1].rating, 17);
  EXPECT_EQ(examples[1].solution.to_string(), kWikiSolution);
  // Round trip through the writer.
  std::ostringstream out;
  write_sudoku_csv(out, examples);
  const auto again = load_sudoku(temp_file("again.csv", out.str()));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[1].puzzle, examples[1].puzzle);
  EXPECT_EQ(again[1].solution, examples[1].solution);
  EXPECT_EQ(again[1].source, "forum");
  // read_sudoku_file keeps the raw records.
  const auto records = read_sudoku_file(path);
  EXPECT_EQ(records[1].where, path + ":3");
}

TEST(SudokuIo, HrmCsvErrors) {
  const std::string row = std::string("s,") + kWiki + "," + kWikiSolution + ",0\n";
  auto csv = [&](const std::string& name, const std::string& body) { return temp_file(name, kCsvHeader + body); };
  std::string e = load_error(temp_file("header.csv", "source,question,answer\n" + row));
  EXPECT_NE(e.find("header.csv:1: expected the header 'source,question,answer,rating'"), std::string::npos) << e;
  e = load_error(csv("fields.csv", row + "s," + kWiki + "," + kWikiSolution + "\n"));
  EXPECT_NE(e.find("fields.csv:3: 3 fields, expected 4"), std::string::npos) << e;
  e = load_error(csv("rating.csv", std::string("s,") + kWiki + "," + kWikiSolution + ",hard\n"));
  EXPECT_NE(e.find("rating.csv:2: rating 'hard' is not an integer"), std::string::npos) << e;
  e = load_error(csv("qlen.csv", row + "s," + kWiki + ".," + kWikiSolution + ",0\n"));
  EXPECT_NE(e.find("qlen.csv:3: question: 82 characters, expected 81"), std::string::npos) << e;
  e = load_error(csv("blank.csv", std::string("s,") + kWiki + "," + kWiki + ",0\n"));
  EXPECT_NE(e.find("blank.csv:2: answer has blanks"), std::string::npos) << e;
  std::string invalid = kWikiSolution;
  std::swap(invalid[79], invalid[80]);  // a valid-looking string with two broken columns
  e = load_error(csv("invalid.csv", std::string("s,") + kWiki + "," + invalid + ",0\n"));
  EXPECT_NE(e.find("invalid.csv:2: answer is not a valid sudoku: column"), std::string::npos) << e;
  std::string relabelled = kWikiSolution;  // a valid grid that does not keep the givens
  for (char& ch : relabelled) ch = ch == '1' ? '2' : ch == '2' ? '1' : ch;
  e = load_error(csv("givens.csv", std::string("s,") + kWiki + "," + relabelled + ",0\n"));
  EXPECT_NE(e.find("givens.csv:2: answer changes the given at row"), std::string::npos) << e;
  e = load_error(csv("achar.csv", std::string("s,") + kWiki + ",x" + std::string(kWikiSolution).substr(1) + ",0\n"));
  EXPECT_NE(e.find("achar.csv:2: answer: bad character 'x' at position 1"), std::string::npos) << e;
  // With check_unique, a question with two solutions is rejected even with a valid answer.
  const std::string open_question(81, '.');
  const auto multi = csv("multi.csv", "s," + open_question + "," + kWikiSolution + ",0\n");
  EXPECT_EQ(load_error(multi), "");
  e = load_error(multi, true);
  EXPECT_NE(e.find("multi.csv:2: the puzzle has more than one solution"), std::string::npos) << e;
}
