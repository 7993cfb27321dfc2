#include "core/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"

#ifndef BEYOND_SOURCE_DIR
#define BEYOND_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using beyond::BPETokenizer;
using beyond::CharTokenizer;
using beyond::InputError;
using beyond::Tokenizer;
using Merges = std::vector<std::pair<int64_t, int64_t>>;

namespace {

const char* kEnglish =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
    "it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had "
    "everything before us, we had nothing before us, we were all going direct to Heaven, we were all going "
    "direct the other way - in short, the period was so far like the present period, that some of its "
    "noisiest authorities insisted on its being received, for good or for evil, in the superlative degree "
    "of comparison only.\n"
    "There were a king with a large jaw and a queen with a plain face, on the throne of England; there were "
    "a king with a large jaw and a queen with a fair face, on the throne of France. In both countries it was "
    "clearer than crystal to the lords of the State preserves of loaves and fishes, that things in general "
    "were settled for ever.\n";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The Tiny Shakespeare corpus, or "" when this machine does not have it.
std::string shakespeare() {
  for (const fs::path& p : {fs::path(BEYOND_SOURCE_DIR) / "../shared/data/text/tinyshakespeare.txt",
                           fs::path("/work/shared/data/text/tinyshakespeare.txt")})
    if (fs::exists(p)) return read_file(p);
  return "";
}

std::string random_bytes(std::mt19937& rng, size_t max_len) {
  std::string s(std::uniform_int_distribution<size_t>(0, max_len)(rng), '\0');
  for (auto& c : s) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
  return s;
}

std::string random_from(std::mt19937& rng, const std::vector<std::string>& pieces, size_t max_len) {
  std::string s;
  const size_t n = std::uniform_int_distribution<size_t>(0, max_len)(rng);
  for (size_t i = 0; i < n; ++i) s += pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
  return s;
}

// ---- independent references for BPE (ASCII only: std::regex works on chars) --------------------

// GPT-2's pre-tokenisation pattern without contractions, with ASCII classes.
std::vector<std::string> reference_chunks(const std::string& text) {
  static const std::regex pattern(R"( ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+)");
  std::vector<std::string> chunks;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern); it != std::sregex_iterator(); ++it)
    chunks.push_back(it->str());
  return chunks;
}

std::vector<int64_t> apply_merge(const std::vector<int64_t>& syms, std::pair<int64_t, int64_t> pair, int64_t id) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < syms.size(); ++i) {
    if (i + 1 < syms.size() && syms[i] == pair.first && syms[i + 1] == pair.second) {
      out.push_back(id);
      ++i;
    } else {
      out.push_back(syms[i]);
    }
  }
  return out;
}

std::vector<int64_t> bytes_of(const std::string& s) {
  std::vector<int64_t> out;
  for (const char c : s) out.push_back(static_cast<unsigned char>(c));
  return out;
}

// Applies every merge in rank order to one chunk: the textbook definition of BPE encoding.
std::vector<int64_t> naive_encode_chunk(const std::string& chunk, const Merges& merges) {
  std::vector<int64_t> syms = bytes_of(chunk);
  for (size_t i = 0; i < merges.size(); ++i) syms = apply_merge(syms, merges[i], 256 + static_cast<int64_t>(i));
  return syms;
}

std::vector<int64_t> naive_encode(const std::string& text, const Merges& merges) {
  std::vector<int64_t> ids;
  for (const auto& chunk : reference_chunks(text))
    for (const int64_t id : naive_encode_chunk(chunk, merges)) ids.push_back(id);
  return ids;
}

// Recounts every pair of every chunk occurrence before each merge.
Merges naive_train(const std::string& corpus, int64_t vocab_size) {
  std::vector<std::vector<int64_t>> words;
  for (const auto& chunk : reference_chunks(corpus)) words.push_back(bytes_of(chunk));
  Merges merges;
  while (256 + static_cast<int64_t>(merges.size()) < vocab_size) {
    std::map<std::pair<int64_t, int64_t>, int64_t> counts;
    for (const auto& w : words)
      for (size_t i = 0; i + 1 < w.size(); ++i) ++counts[{w[i], w[i + 1]}];
    std::pair<int64_t, int64_t> best;
    int64_t best_count = 0;
    for (const auto& [pair, count] : counts)  // map order: the first maximum is the smallest pair
      if (count > best_count) best = pair, best_count = count;
    if (best_count < 2) break;
    const int64_t id = 256 + static_cast<int64_t>(merges.size());
    for (auto& w : words) w = apply_merge(w, best, id);
    merges.push_back(best);
  }
  return merges;
}

// A fresh directory per test, removed afterwards.
class TokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = fs::temp_directory_path() / ("beyond_tokenizer_" + std::to_string(::getpid()) + "_" + test);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// The message of the InputError that f throws ("" and a failure if it throws none).
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InputError";
  return "";
}

// ---- CharTokenizer ------------------------------------------------------------------------------

TEST(CharTokenizer, VocabularyIsSortedSetOfCodePoints) {
  // Pieces of 1 to 4 UTF-8 bytes, with their code points, so the expected order is independent of
  // how the tokenizer decodes.
  const std::vector<std::pair<std::string, uint32_t>> pieces = {
      {"a", 0x61},           {"Z", 0x5A},           {"\n", 0x0A},         {" ", 0x20},
      {"\xC3\xA9", 0xE9},    {"\xCE\xA9", 0x3A9},   {"\xE4\xB8\xAD", 0x4E2D}, {"\xE2\x82\xAC", 0x20AC},
      {"\xF0\x9F\x98\x80", 0x1F600}, {std::string(1, '\0'), 0}, {"~", 0x7E}};
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::string corpus;
    std::set<std::pair<uint32_t, std::string>> expected;
    const int n = 1 + trial * 3;
    for (int i = 0; i < n; ++i) {
      const auto& [text, cp] = pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
      corpus += text;
      expected.insert({cp, text});
    }
    const auto tok = CharTokenizer::from_corpus(corpus);
    std::vector<std::string> want;
    for (const auto& [cp, text] : expected) want.push_back(text);
    EXPECT_EQ(tok.chars(), want) << "trial " << trial;
    EXPECT_EQ(tok.vocab_size(), static_cast<int64_t>(want.size()));
  }
}

TEST(CharTokenizer, ShakespeareGivesNanoGptVocabulary) {
  const std::string text = shakespeare();
  if (text.empty()) GTEST_SKIP() << "tinyshakespeare.txt not found";
  const auto tok = CharTokenizer::from_corpus(text);
  // nanoGPT's data/shakespeare_char/prepare.py: sorted(set(text)).
  const std::string nanogpt = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  ASSERT_EQ(tok.vocab_size(), 65);
  for (size_t i = 0; i < nanogpt.size(); ++i) EXPECT_EQ(tok.chars()[i], std::string(1, nanogpt[i]));
  const std::string head = text.substr(0, 1000);
  const auto ids = tok.encode(head);
  ASSERT_EQ(ids.size(), head.size());
  for (size_t i = 0; i < head.size(); ++i) EXPECT_EQ(ids[i], static_cast<int64_t>(nanogpt.find(head[i])));
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

TEST(CharTokenizer, RoundTripsRandomStringsOfItsVocabulary) {
  const std::vector<std::string> pieces = {"a", "b", " ", "\n", "\t", "\xC3\xA9", "\xE4\xB8\xAD",
                                           "\xF0\x9F\x98\x80", std::string(1, '\0'), "\x7F"};
  std::string corpus;
  for (const auto& p : pieces) corpus += p;
  const auto tok = CharTokenizer::from_corpus(corpus, {"<|eos|>"});
  for (int seed = 0; seed < 200; ++seed) {
    std::mt19937 rng(seed);
    const std::string text = random_from(rng, pieces, 100);
    const auto ids = tok.encode(text);
    for (const int64_t id : ids) ASSERT_TRUE(id >= 0 && id < static_cast<int64_t>(pieces.size()));
    ASSERT_EQ(tok.decode(ids), text) << "seed " << seed;
    std::string streamed;
    for (const int64_t id : ids) streamed += tok.token_text(id);
    ASSERT_EQ(streamed, text);
  }
}

TEST(CharTokenizer, UnknownCharacterNamesItAndItsByteOffset) {
  const auto tok = CharTokenizer::from_corpus("abc \xC3\xA9");
  EXPECT_EQ(input_error([&] { tok.encode("abc abc abc abc aZ"); }),
            "character 'Z' (U+005A) at byte 17 is not in the char tokenizer's vocabulary (5 characters)");
  // Non-printable characters appear only as U+XXXX, keeping the message on one line.
  EXPECT_EQ(input_error([&] { tok.encode("\xC3\xA9\n"); }),
            "character U+000A at byte 2 is not in the char tokenizer's vocabulary (5 characters)");
  EXPECT_EQ(input_error([&] { tok.encode("a\xE4\xB8\xAD"); }),
            "character '\xE4\xB8\xAD' (U+4E2D) at byte 1 is not in the char tokenizer's vocabulary (5 characters)");
  EXPECT_NE(input_error([&] { tok.encode("ab\xC3"); }).find("byte 2"), std::string::npos);
}

TEST(CharTokenizer, RejectsInvalidOrEmptyCorpus) {
  EXPECT_NE(input_error([] { CharTokenizer::from_corpus("hello \xFF"); }).find("byte 6"), std::string::npos);
  // Truncated sequence, overlong encoding of '/', UTF-16 surrogate, beyond U+10FFFF.
  EXPECT_NE(input_error([] { CharTokenizer::from_corpus("ab\xE4\xB8"); }).find("byte 2"), std::string::npos);
  EXPECT_NE(input_error([] { CharTokenizer::from_corpus("a\xC0\xAF"); }).find("byte 1"), std::string::npos);
  EXPECT_NE(input_error([] { CharTokenizer::from_corpus("\xED\xA0\x80"); }).find("byte 0"), std::string::npos);
  EXPECT_NE(input_error([] { CharTokenizer::from_corpus("\xF4\x90\x80\x80"); }).find("byte 0"), std::string::npos);
  EXPECT_NE(input_error([] { CharTokenizer::from_corpus(""); }).find("empty"), std::string::npos);
}

TEST(CharTokenizer, SpecialTokensFollowTheVocabulary) {
  const auto tok = CharTokenizer::from_corpus("hello", {"<|eos|>", "<|bos|>"});
  ASSERT_EQ(tok.chars().size(), 4u);  // e h l o
  EXPECT_EQ(tok.eos(), 4);
  EXPECT_EQ(tok.bos(), 5);
  EXPECT_EQ(tok.pad(), -1);
  EXPECT_EQ(tok.mask(), -1);
  EXPECT_EQ(tok.vocab_size(), 6);
  EXPECT_EQ(tok.decode({1, 0, 4, 5, 3}), "he<|eos|><|bos|>o");
  EXPECT_EQ(tok.token_text(4), "<|eos|>");
  // Special names in text are plain text, so here they are unknown characters.
  EXPECT_THROW(tok.encode("<|eos|>"), InputError);
  EXPECT_NE(input_error([&] { tok.decode({0, 6}); }).find("token id 6"), std::string::npos);
  EXPECT_NE(input_error([&] { tok.token_text(-1); }).find("token id -1"), std::string::npos);
  EXPECT_NE(input_error([] { CharTokenizer::from_corpus("a", {"<|end|>"}); }).find("<|end|>"), std::string::npos);
  EXPECT_NE(input_error([] { CharTokenizer::from_corpus("a", {"<|pad|>", "<|pad|>"}); }).find("specials[1]"),
            std::string::npos);
  EXPECT_THROW(CharTokenizer({"a", "a"}), InputError);
  EXPECT_THROW(CharTokenizer({"ab"}), InputError);
  EXPECT_THROW(CharTokenizer({""}), InputError);
}

// ---- BPETokenizer -------------------------------------------------------------------------------

TEST(BPETokenizer, LearnsHandComputedMerges) {
  // Chunks: "aaab" once, " aaab" twice. Counts: (a,a) 6 (two per chunk), (a,b) 3, (' ',a) 2.
  //   merge 256 = (a,a): "aaab" -> [256 a b]
  //   then (256,a) 3 and (a,b) 3 tie; the smaller pair wins: 257 = (a,b) -> [256 257]
  //   258 = (256,257) with 3; then (' ',258) occurs twice: 259. Nothing occurs twice any more.
  const auto tok = BPETokenizer::train("aaab aaab aaab", 1000);
  const Merges expected = {{'a', 'a'}, {'a', 'b'}, {256, 257}, {' ', 258}};
  EXPECT_EQ(tok.merges(), expected);
  EXPECT_EQ(tok.vocab_size(), 260);
  EXPECT_EQ(tok.token_text(258), "aaab");
  EXPECT_EQ(tok.token_text(259), " aaab");
  EXPECT_EQ(tok.encode("aaab aaab"), (std::vector<int64_t>{258, 259}));
  // vocab_size caps the merges.
  EXPECT_EQ(BPETokenizer::train("aaab aaab aaab", 257).merges(), (Merges{{'a', 'a'}}));
  EXPECT_TRUE(BPETokenizer::train("aaab aaab aaab", 256).merges().empty());
  // Merges never cross chunks: "ab" and "." are different chunks, and "ab." never merges.
  const auto split = BPETokenizer::train("ab.ab.ab.ab.", 1000);
  EXPECT_EQ(split.merges(), (Merges{{'a', 'b'}}));
  EXPECT_THROW(BPETokenizer::train("abc", 255), InputError);
  // UTF-8 characters are letters: "été" (C3 A9 74 C3 A9) and " été" are whole chunks.
  //   256 = (C3,A9) with 4; then (256,t) and (t,256) tie at 2: 257 = (t,256); 258 = (256,257).
  const auto ete = BPETokenizer::train("\xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9", 1000);
  EXPECT_EQ(ete.merges(), (Merges{{0xC3, 0xA9}, {'t', 256}, {256, 257}}));
  EXPECT_EQ(ete.encode("\xC3\xA9t\xC3\xA9"), (std::vector<int64_t>{258}));
}

TEST(BPETokenizer, TrainingMatchesNaiveRecountingTrainer) {
  // Small alphabets make long merge chains, many ties and overlapping pairs ("aaa").
  const std::vector<std::string> pieces = {"a", "a", "b", "c", " ", " ", "  ", "\n", "1", "2", ".", ",", "\t"};
  for (int seed = 0; seed < 30; ++seed) {
    std::mt19937 rng(seed);
    const std::string corpus = random_from(rng, pieces, 400);
    const Merges expected = naive_train(corpus, 256 + 60);
    ASSERT_EQ(BPETokenizer::train(corpus, 256 + 60).merges(), expected) << "seed " << seed;
  }
  const std::string english(kEnglish);
  EXPECT_EQ(BPETokenizer::train(english, 400).merges(), naive_train(english, 400));
}

TEST(BPETokenizer, EncodeMatchesNaiveMergesInRankOrder) {
  const auto tok = BPETokenizer::train(std::string(kEnglish) + "aaaa bbbb 1234 12 12 ...!! \n\n  \t ", 420);
  ASSERT_GT(tok.merges().size(), 100u);
  // ASCII text, chunked by the reference regex.
  const std::vector<std::string> pieces = {"a", "e", "t", "h", "s", " ", " ", "  ", "\n", "\t", "1", "2",
                                           ".", ",", "!", "the", "was", " of", "W", "\r", "\v"};
  for (int seed = 0; seed < 300; ++seed) {
    std::mt19937 rng(seed);
    const std::string text = random_from(rng, pieces, 40);
    ASSERT_EQ(tok.encode(text), naive_encode(text, tok.merges())) << "seed " << seed << " text '" << text << "'";
  }
  ASSERT_EQ(tok.encode(kEnglish), naive_encode(kEnglish, tok.merges()));
  // Runs of letters (bytes >= 0x80 count as letters) are a single chunk.
  const auto utf8 = BPETokenizer::train("\xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE4\xB8\xAD \xE4\xB8\xAD", 300);
  ASSERT_FALSE(utf8.merges().empty());
  for (int seed = 0; seed < 100; ++seed) {
    std::mt19937 rng(seed);
    const std::string word = random_from(rng, {"\xC3\xA9", "t", "\xE4\xB8\xAD", "\xC3", "\xFF", "aa"}, 30);
    ASSERT_EQ(utf8.encode(word), word.empty() ? std::vector<int64_t>{} : naive_encode_chunk(word, utf8.merges()))
        << "seed " << seed;
  }
}

TEST(BPETokenizer, RoundTripsArbitraryBytes) {
  std::mt19937 corpus_rng(1);
  std::string corpus = kEnglish;
  for (int i = 0; i < 50; ++i) corpus += random_bytes(corpus_rng, 40) + " \xC3\xA9t\xC3\xA9 \xE4\xB8\xAD ";
  const auto tok = BPETokenizer::train(corpus, 600, {"<|eos|>"});
  ASSERT_GT(tok.merges().size(), 100u);
  for (int seed = 0; seed < 500; ++seed) {
    std::mt19937 rng(seed);
    // Raw bytes (NULs, invalid UTF-8), and text mixed with raw bytes.
    std::string text = random_bytes(rng, 200);
    if (seed % 2) text = std::string(kEnglish).substr(seed % 300, seed % 97) + text + std::string("\0 the\xFF", 6);
    const auto ids = tok.encode(text);
    for (const int64_t id : ids) ASSERT_TRUE(id >= 0 && id < 256 + static_cast<int64_t>(tok.merges().size()));
    ASSERT_EQ(tok.decode(ids), text) << "seed " << seed;
  }
  // One long chunk of letters (the encoder must not be quadratic in chunk length).
  const std::string long_word(200000, 'e');
  EXPECT_EQ(tok.decode(tok.encode(long_word)), long_word);
}

TEST(BPETokenizer, CompressesEnglish) {
  const auto tok = BPETokenizer::train(kEnglish, 400);
  const std::string held_out = "It was the season of hope, and the best of the age of wisdom was before us.";
  const auto ids = tok.encode(held_out);
  EXPECT_LT(ids.size(), held_out.size() * 2 / 3) << ids.size() << " tokens for " << held_out.size() << " bytes";
  EXPECT_EQ(tok.decode(ids), held_out);
}

TEST(BPETokenizer, SpecialTokensFollowTheMerges) {
  const auto tok = BPETokenizer::train("aaab aaab aaab", 1000, {"<|bos|>", "<|eos|>", "<|pad|>", "<|mask|>"});
  EXPECT_EQ(tok.bos(), 260);
  EXPECT_EQ(tok.eos(), 261);
  EXPECT_EQ(tok.pad(), 262);
  EXPECT_EQ(tok.mask(), 263);
  EXPECT_EQ(tok.vocab_size(), 264);
  EXPECT_EQ(tok.decode({258, 261, 'x', 263}), "aaab<|eos|>x<|mask|>");
  EXPECT_EQ(tok.token_text(260), "<|bos|>");
  // Special names in text encode as plain bytes.
  const auto ids = tok.encode("<|eos|>");
  EXPECT_TRUE(std::none_of(ids.begin(), ids.end(), [](int64_t id) { return id >= 260; }));
  EXPECT_EQ(tok.decode(ids), "<|eos|>");
  EXPECT_NE(input_error([&] { tok.decode({97, 264}); }).find("token id 264"), std::string::npos);
  EXPECT_NE(input_error([&] { tok.decode({-5}); }).find("token id -5"), std::string::npos);
  const auto plain = BPETokenizer::train("aaab aaab aaab", 1000);
  EXPECT_EQ(plain.eos(), -1);
  EXPECT_THROW(plain.decode({260}), InputError);
  EXPECT_THROW(BPETokenizer::train("abc", 300, {"<|unk|>"}), InputError);
  EXPECT_THROW(BPETokenizer::train("abc", 300, {"<|eos|>", "<|eos|>"}), InputError);
}

TEST(BPETokenizer, ConstructorValidatesMerges) {
  EXPECT_NO_THROW(BPETokenizer(Merges{{97, 98}, {256, 99}}));
  EXPECT_NE(input_error([] { BPETokenizer(Merges{{97, 98}, {257, 99}}); }).find("merges[1]"), std::string::npos);
  EXPECT_THROW(BPETokenizer(Merges{{-1, 98}}), InputError);
  EXPECT_THROW(BPETokenizer(Merges{{97, 256}}), InputError);
  EXPECT_NE(input_error([] { BPETokenizer(Merges{{97, 98}, {97, 98}}); }).find("repeats merges[0]"),
            std::string::npos);
}

TEST(BPETokenizer, ShakespeareVocab512TrainsQuickly) {
  const std::string text = shakespeare();
  if (text.empty()) GTEST_SKIP() << "tinyshakespeare.txt not found";
  const auto start = std::chrono::steady_clock::now();
  const auto tok = BPETokenizer::train(text, 512, {"<|eos|>"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("BPE training on Tiny Shakespeare (%zu bytes, vocab 512): %.3f s\n", text.size(), seconds);
  EXPECT_LT(seconds, 5.0);
  EXPECT_EQ(tok.merges().size(), 256u);
  EXPECT_EQ(tok.eos(), 512);
  const auto ids = tok.encode(text);
  EXPECT_LT(ids.size(), text.size() * 6 / 10);
  EXPECT_EQ(tok.decode(ids), text);
  // A sample checked against the naive definition (whole-text naive encoding would be slow).
  const std::string sample = text.substr(0, 3000);
  EXPECT_EQ(tok.encode(sample), naive_encode(sample, tok.merges()));
}

// ---- save / load --------------------------------------------------------------------------------

TEST_F(TokenizerFiles, SaveLoadRoundTrip) {
  const std::string text = std::string(kEnglish) + "\xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\n";
  const auto bpe = BPETokenizer::train(text, 350, {"<|eos|>", "<|pad|>"});
  bpe.save(path("bpe.json"));
  EXPECT_FALSE(fs::exists(path("bpe.json.tmp")));
  const auto loaded_bpe = Tokenizer::load(path("bpe.json"));
  ASSERT_EQ(loaded_bpe->kind(), "bpe");
  EXPECT_EQ(dynamic_cast<const BPETokenizer&>(*loaded_bpe).merges(), bpe.merges());
  EXPECT_EQ(loaded_bpe->specials(), bpe.specials());
  EXPECT_EQ(loaded_bpe->vocab_size(), bpe.vocab_size());
  EXPECT_EQ(loaded_bpe->eos(), bpe.eos());
  EXPECT_EQ(loaded_bpe->encode(text), bpe.encode(text));

  const auto chr = CharTokenizer::from_corpus(text, {"<|mask|>"});
  chr.save(path("char.json"));
  const auto loaded_char = Tokenizer::load(path("char.json"));
  ASSERT_EQ(loaded_char->kind(), "char");
  EXPECT_EQ(dynamic_cast<const CharTokenizer&>(*loaded_char).chars(), chr.chars());
  EXPECT_EQ(loaded_char->mask(), chr.mask());
  EXPECT_EQ(loaded_char->encode(text), chr.encode(text));
  EXPECT_EQ(loaded_char->decode(chr.encode(text)), text);

  // Saving over an existing file replaces it.
  bpe.save(path("char.json"));
  EXPECT_EQ(Tokenizer::load(path("char.json"))->kind(), "bpe");
}

TEST_F(TokenizerFiles, LoadsHandWrittenFiles) {
  write_file(path("bpe.json"), R"({"format": 1, "kind": "bpe", "merges": [[97, 98], [256, 256]], "specials": ["<|eos|>"]})");
  const auto bpe = Tokenizer::load(path("bpe.json"));
  EXPECT_EQ(bpe->encode("ababab"), (std::vector<int64_t>{257, 256}));
  EXPECT_EQ(bpe->eos(), 258);
  write_file(path("char.json"), R"({"format": 1, "kind": "char", "chars": ["\n", "a", "é"], "specials": []})");
  const auto chr = Tokenizer::load(path("char.json"));
  EXPECT_EQ(chr->encode("\xC3\xA9\na"), (std::vector<int64_t>{2, 0, 1}));
}

TEST_F(TokenizerFiles, MalformedFilesNameTheFileAndField) {
  struct Case {
    std::string name, content, expected;  // expected: a part of the message
  };
  const std::string ok_specials = R"("specials": [])";
  const std::vector<Case> cases = {
      {"not_json", "{\"kind\": ", "not valid JSON"},
      {"array", "[1, 2]", "object"},
      {"no_kind", R"({"format": 1, "chars": ["a"], "specials": []})", "'kind'"},
      {"kind_type", R"({"format": 1, "kind": 3, "chars": ["a"], "specials": []})", "'kind'"},
      {"unknown_kind", R"({"format": 1, "kind": "wordpiece", "specials": []})", "wordpiece"},
      {"no_format", R"({"kind": "char", "chars": ["a"], "specials": []})", "'format'"},
      {"bad_format", R"({"format": 99, "kind": "char", "chars": ["a"], "specials": []})", "'format'"},
      {"format_type", R"({"format": "1", "kind": "char", "chars": ["a"], "specials": []})", "'format'"},
      {"extra_field", R"({"format": 1, "kind": "char", "chars": ["a"], "merges": [], "specials": []})", "merges"},
      {"no_chars", R"({"format": 1, "kind": "char", "specials": []})", "'chars'"},
      {"chars_type", R"({"format": 1, "kind": "char", "chars": "abc", "specials": []})", "'chars'"},
      {"char_type", R"({"format": 1, "kind": "char", "chars": ["a", 98], "specials": []})", "chars[1]"},
      {"dup_chars", R"({"format": 1, "kind": "char", "chars": ["a", "b", "a"], "specials": []})", "chars[2]"},
      {"two_code_points", R"({"format": 1, "kind": "char", "chars": ["a", "bc"], "specials": []})", "chars[1]"},
      {"empty_char", R"({"format": 1, "kind": "char", "chars": [""], "specials": []})", "chars[0]"},
      {"no_merges", R"({"format": 1, "kind": "bpe", "specials": []})", "'merges'"},
      {"merges_type", R"({"format": 1, "kind": "bpe", "merges": {}, "specials": []})", "'merges'"},
      {"merge_arity", R"({"format": 1, "kind": "bpe", "merges": [[97, 98, 99]], "specials": []})", "merges[0]"},
      {"merge_float", R"({"format": 1, "kind": "bpe", "merges": [[97, 98], [97.5, 98]], "specials": []})",
       "merges[1]"},
      {"merge_string", R"({"format": 1, "kind": "bpe", "merges": [["a", "b"]], "specials": []})", "merges[0]"},
      {"merge_future_id", R"({"format": 1, "kind": "bpe", "merges": [[97, 98], [256, 257]], "specials": []})",
       "merges[1]"},
      {"merge_negative", R"({"format": 1, "kind": "bpe", "merges": [[-3, 98]], "specials": []})", "merges[0]"},
      {"merge_huge", R"({"format": 1, "kind": "bpe", "merges": [[18446744073709551615, 98]], "specials": []})",
       "merges[0]"},
      {"dup_merge", R"({"format": 1, "kind": "bpe", "merges": [[97, 98], [97, 98]], "specials": []})",
       "merges[1]"},
      {"no_specials", R"({"format": 1, "kind": "bpe", "merges": []})", "'specials'"},
      {"specials_type", R"({"format": 1, "kind": "bpe", "merges": [], "specials": "<|eos|>"})", "'specials'"},
      {"special_type", R"({"format": 1, "kind": "bpe", "merges": [], "specials": [1]})", "specials[0]"},
      {"unknown_special", R"({"format": 1, "kind": "bpe", "merges": [], "specials": ["<|unk|>"]})", "specials[0]"},
      {"dup_special", R"({"format": 1, "kind": "char", "chars": ["a"], "specials": ["<|eos|>", "<|eos|>"]})",
       "specials[1]"},
  };
  for (const auto& c : cases) {
    const std::string file = path(c.name + ".json");
    write_file(file, c.content);
    const std::string message = input_error([&] { Tokenizer::load(file); });
    EXPECT_NE(message.find(file), std::string::npos) << c.name << ": " << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.name << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << c.name << ": " << message;
    if (std::getenv("BEYOND_SHOW_MESSAGES")) std::printf("%s\n", message.c_str());
  }
  const std::string missing = path("missing.json");
  EXPECT_NE(input_error([&] { Tokenizer::load(missing); }).find(missing), std::string::npos);
  EXPECT_NE(input_error([&] { Tokenizer::load(dir_.string()); }).find(dir_.string()), std::string::npos);
}

}  // namespace
