// Text data: the split, windows as slices of the corpus, fixed validation batches, the cache.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "core/text_data.h"

namespace fs = std::filesystem;
using namespace beyond;

namespace {

struct Corpus {
  std::string dir, path, text;
  Corpus() {
    dir = (fs::temp_directory_path() / ("beyond_text_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir);
    path = dir + "/corpus.txt";
    for (int i = 0; i < 400; ++i) text += "line " + std::to_string(i) + ": the quick brown fox\n";
    std::ofstream(path) << text;
  }
  ~Corpus() { fs::remove_all(dir); }
};

}  // namespace

TEST(TextData, SplitWindowsAndCache) {
  Corpus c;
  const auto tok = CharTokenizer::from_corpus(c.text);
  const auto data = TextData::load(c.path, tok, 0.1, c.dir + "/cache");
  const auto ids = tok.encode(c.text);
  const auto n = static_cast<int64_t>(ids.size()), n_val = n / 10;
  ASSERT_EQ(data.train.size(0) + data.val.size(0), n);
  EXPECT_EQ(data.val.size(0), n_val);
  // The validation split is the last 10% of the token stream.
  for (int64_t i = 0; i < n_val; i += 97) EXPECT_EQ(data.val[i].item<int64_t>(), ids[n - n_val + i]);
  EXPECT_DOUBLE_EQ(data.val_tokens_per_char, 1.0);

  // Every window is a contiguous slice of the training stream, targets shifted by one.
  const auto [x, y] = data.random_windows("train", 8, 16, 42);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{8, 16}));
  const std::string train_text = tok.decode(std::vector<int64_t>(ids.begin(), ids.end() - n_val));
  for (int64_t b = 0; b < 8; ++b) {
    std::vector<int64_t> row(x[b].data_ptr<int64_t>(), x[b].data_ptr<int64_t>() + 16);
    row.push_back(y[b][15].item<int64_t>());
    EXPECT_NE(train_text.find(tok.decode(row)), std::string::npos);
    EXPECT_TRUE(at::equal(x[b].narrow(0, 1, 15), y[b].narrow(0, 0, 15)));
  }
  // Seeds decide windows; fixed validation batches do not depend on anything else.
  EXPECT_TRUE(at::equal(data.random_windows("train", 8, 16, 42).first, x));
  EXPECT_FALSE(at::equal(data.random_windows("train", 8, 16, 43).first, x));
  const auto v1 = data.fixed_val_batches(3, 4, 16), v2 = data.fixed_val_batches(3, 4, 16);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(at::equal(v1[i].first, v2[i].first));

  // The token cache is written once and read back identically.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(c.dir + "/cache")) ++files;
  EXPECT_EQ(files, 1u);
  const auto again = TextData::load(c.path, tok, 0.1, c.dir + "/cache");
  EXPECT_TRUE(at::equal(again.train, data.train));
}

TEST(TextData, BitsPerCharacterUsesCharactersNotTokens) {
  Corpus c;
  const auto tok = BPETokenizer::train(c.text, 300);
  const auto data = TextData::load(c.path, tok, 0.1, c.dir + "/cache");
  EXPECT_LT(data.val_tokens_per_char, 0.9);  // merges make tokens longer than one character
  EXPECT_GT(data.val_tokens_per_char, 0.05);
}

TEST(TextData, MissingOrEmptyFileIsAnInputError) {
  Corpus c;
  const auto tok = CharTokenizer::from_corpus("ab");
  EXPECT_THROW(TextData::load(c.dir + "/nope.txt", tok, 0.1, c.dir + "/cache"), InputError);
  std::ofstream(c.dir + "/empty.txt").close();
  try {
    TextData::load(c.dir + "/empty.txt", tok, 0.1, c.dir + "/cache");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("empty.txt"), std::string::npos);
  }
}
