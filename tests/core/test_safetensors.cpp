#include "core/safetensors.h"

#include "core/errors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#ifndef BEYOND_PYTHON
#define BEYOND_PYTHON ""
#endif
#ifndef BEYOND_SOURCE_DIR
#define BEYOND_SOURCE_DIR "."
#endif

namespace st = beyond::safetensors;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test, removed afterwards.
class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = fs::temp_directory_path() / ("beyond_safetensors_" + std::to_string(::getpid()) + "_" + test);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Everything in the test directory, to prove no "<path>.tmp" is left behind.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file built by hand: an explicit header length, then whatever bytes follow it.
std::string with_length(uint64_t n, const std::string& rest) { return u64_le(n) + rest; }
// A file with a correct header length.
std::string make_file(const std::string& header, const std::string& data = "") {
  return u64_le(header.size()) + header + data;
}

// Same dtype, shape and bytes (NaN payloads and -0.0 included).
bool bit_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  at::Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

void expect_same(const st::Tensors& got, const st::Tensors& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, w] : want) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(got.count(name));
    const at::Tensor& g = got.at(name);
    EXPECT_TRUE(g.device().is_cpu());
    EXPECT_TRUE(g.is_contiguous());
    EXPECT_TRUE(bit_equal(g, w)) << "got " << g << "\nwant " << w;
  }
}

// Runs fn, expecting an InputError whose one-line message starts with `name` and holds `phrase`.
template <class F>
void expect_input_error(F fn, const std::string& name, const std::string& phrase) {
  try {
    fn();
    ADD_FAILURE() << "no InputError; wanted one containing: " << phrase;
  } catch (const beyond::InputError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(name + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(phrase), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

// The interop recipe; tests/python/safetensors_interop.py builds the same tensors.
st::Tensors recipe() {
  return {
      {"f32", at::arange(24, at::kFloat).reshape({2, 3, 4}) / 8 - 1},
      {"f64", at::arange(6, at::kDouble).reshape({3, 2}) / 4 + 1e10},
      {"i64", (at::arange(10, at::kLong) - 5) * int64_t{1'000'000'007}},
      {"bf16", (at::arange(16, at::kFloat).reshape({4, 4}) / 4 - 2).to(at::kBFloat16)},
      {"bool", at::arange(7, at::kLong).remainder(3).eq(0)},
      {"empty", at::zeros({0, 3}, at::kFloat)},
      {"scalar", at::scalar_tensor(3.5, at::kFloat)},
  };
}
const st::Metadata kRecipeMetadata = {
    {"format", "beyond-interop"}, {"step", "42"}, {"note", "h\xC3\xA9llo \xE2\x9C\x93"}};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs the interop script; returns its exit status.
int run_script(const std::string& command, const std::string& file) {
  std::string script = std::string(BEYOND_SOURCE_DIR) + "/tests/python/safetensors_interop.py";
  std::string line =
      shell_quote(BEYOND_PYTHON) + " " + shell_quote(script) + " " + command + " " + shell_quote(file);
  int status = std::system(line.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(Safetensors, RoundTripIsBitExact) {
  at::manual_seed(0);
  at::Tensor special = at::tensor({0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                                   -std::numeric_limits<float>::infinity(), std::nanf("0x123"), 1e-45f});
  at::Tensor wide = at::randn({3, 5}, at::kDouble);
  st::Tensors tensors = {
      {"f32", at::randn({4, 3})},
      {"f32_special", special},
      {"f16", at::randn({5}).to(at::kHalf)},
      {"bf16", at::randn({2, 2, 2}).to(at::kBFloat16)},
      {"f64", wide},
      {"i64", at::tensor(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -1, 0, 1 << 30,
                                              std::numeric_limits<int64_t>::max()})},
      {"i32", at::arange(-3, 3, at::kInt)},
      {"i16", at::arange(-300, 300, 7, at::kShort)},
      {"i8", at::arange(-128, 128, at::kChar)},
      {"u8", at::arange(0, 256, at::kByte)},
      {"bool", at::randn({9}) > 0},
      {"f8_e4m3", at::randn({4}).to(at::kFloat8_e4m3fn)},
      {"f8_e5m2", at::randn({4}).to(at::kFloat8_e5m2)},
      {"empty_1d", at::empty({0}, at::kFloat)},
      {"empty_3d", at::empty({3, 0, 2}, at::kLong)},
      {"scalar", at::scalar_tensor(-7, at::kInt)},
      {"transposed", wide.t()},                       // non-contiguous input
      {"sliced", at::arange(20, at::kFloat).slice(0, 5, 11)},  // non-zero storage offset
      {"", at::ones({1})},                            // an empty name is legal
  };
  st::Metadata metadata = {{"step", "12"}, {"config", "[model]\nd_model = 64\n"}, {"empty", ""},
                           {"unicode", "\xE2\x9C\x93"}};
  std::string p = path("round.safetensors");
  st::save(p, tensors, metadata);

  st::File file = st::load(p);
  expect_same(file.tensors, tensors);
  EXPECT_EQ(file.metadata, metadata);

  st::File parsed = st::parse(read_bytes(p), "in-memory");
  expect_same(parsed.tensors, tensors);
  EXPECT_EQ(parsed.metadata, metadata);
}

TEST_F(Safetensors, EmptyFileRoundTrips) {
  std::string p = path("nothing.safetensors");
  st::save(p, {});
  EXPECT_EQ(read_bytes(p), u64_le(8) + "{}      ");
  st::File file = st::load(p);
  EXPECT_TRUE(file.tensors.empty());
  EXPECT_TRUE(file.metadata.empty());
}

// Decodes the bytes by hand, independently of our reader.
TEST_F(Safetensors, LayoutMatchesTheSpec) {
  st::Tensors tensors = {
      {"w", at::tensor({1.5f, -2.0f})},
      {"step", at::scalar_tensor(7, at::kLong)},
      {"mask", at::tensor({1, 2, 255}, at::kByte)},
      {"b", at::ones({1}, at::kHalf)},
  };
  std::string p = path("layout.safetensors");
  st::save(p, tensors, {{"version", "1"}});
  std::string bytes = read_bytes(p);

  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 21);

  // Compact JSON, metadata first, then widest dtype first and names in order within a width.
  const std::string want_json =
      R"({"__metadata__":{"version":"1"},)"
      R"("step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("b":{"dtype":"F16","shape":[1],"data_offsets":[16,18]},)"
      R"("mask":{"dtype":"U8","shape":[3],"data_offsets":[18,21]}})";
  std::string header = bytes.substr(8, n);
  ASSERT_LT(header.size() - want_json.size(), 8u);
  EXPECT_EQ(header, want_json + std::string(header.size() - want_json.size(), ' '));

  const std::string want_data = std::string("\x07\0\0\0\0\0\0\0", 8)  // I64 7
                                + std::string("\0\0\xC0\x3F", 4)      // F32 1.5
                                + std::string("\0\0\0\xC0", 4)        // F32 -2.0
                                + std::string("\0\x3C", 2)            // F16 1.0
                                + std::string("\x01\x02\xFF", 3);     // U8
  EXPECT_EQ(bytes.substr(8 + n), want_data);
}

TEST_F(Safetensors, AcceptsWhitespaceAroundTheHeader) {
  std::string p = path("spaces.safetensors");
  std::string entry = R"({"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})";
  write_bytes(p, make_file("  \n" + entry + " \t\n ", std::string("\x05\0\0\0", 4)));
  st::File file = st::load(p);
  ASSERT_EQ(file.tensors.count("a"), 1u);
  EXPECT_EQ(file.tensors["a"].item<int32_t>(), 5);
}

TEST_F(Safetensors, RejectsCorruptFiles) {
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
    return "\"" + name + R"(":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" +
           offsets + "}";
  };
  const std::string a8 = entry("a", "F32", "[2]", "[0,8]");
  const std::string eight(8, '\0');
  struct Case {
    std::string name;
    std::string bytes;
    std::string phrase;
  };
  const std::vector<Case> cases = {
      {"short", "\x01\x02\x03", "too short"},
      {"header_past_end", with_length(100, "{}"), "truncated file: header length 100"},
      {"header_too_large", with_length(100'000'001, "{}"), "header length 100000001 is too large"},
      {"header_length_max", with_length(std::numeric_limits<uint64_t>::max(), "{}"), "is too large"},
      {"not_json", make_file(R"({"a": )"), "header is not valid JSON"},
      {"truncated_json", make_file("{" + a8), "header is not valid JSON"},
      {"bad_utf8", make_file("{\"\xFF\":1}"), "header is not valid UTF-8"},
      {"byte_order_mark", make_file("\xEF\xBB\xBF{}"), "byte-order mark"},
      {"array", make_file("[1,2]"), "header is not a JSON object"},
      {"duplicate", make_file("{" + a8 + "," + a8 + "}", eight), "duplicate key 'a'"},
      {"duplicate_field",
       make_file(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight),
       "duplicate key 'dtype'"},
      {"unknown_dtype", make_file("{" + entry("a", "F7", "[2]", "[0,8]") + "}", eight),
       "tensor 'a': unsupported dtype 'F7'"},
      {"control_char_name", make_file("{" + entry("a\\nb", "F7", "[2]", "[0,8]") + "}", eight),
       "tensor 'a\\x0Ab': unsupported dtype"},
      {"unmapped_dtype", make_file("{" + entry("a", "C64", "[1]", "[0,8]") + "}", eight),
       "tensor 'a': unsupported dtype 'C64'"},
      {"negative_shape", make_file("{" + entry("a", "F32", "[-2]", "[0,8]") + "}", eight),
       "tensor 'a': 'shape' must hold non-negative integers"},
      {"fractional_shape", make_file("{" + entry("a", "F32", "[2.0]", "[0,8]") + "}", eight),
       "tensor 'a': 'shape' must hold non-negative integers"},
      {"shape_not_list", make_file("{" + entry("a", "F32", "2", "[0,8]") + "}", eight),
       "tensor 'a': 'shape' is not a list"},
      {"one_offset", make_file("{" + entry("a", "F32", "[2]", "[8]") + "}", eight),
       "tensor 'a': 'data_offsets' must be two non-negative integers"},
      {"negative_offset", make_file("{" + entry("a", "F32", "[2]", "[-8,0]") + "}", eight),
       "tensor 'a': 'data_offsets' must be two non-negative integers"},
      {"reversed_offsets", make_file("{" + entry("a", "F32", "[0]", "[8,0]") + "}", eight),
       "tensor 'a': 'data_offsets' begin 8 is after end 0"},
      {"missing_dtype", make_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", eight),
       "tensor 'a': missing 'dtype'"},
      {"extra_field",
       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", eight),
       "tensor 'a': unexpected key 'x'"},
      {"entry_not_object", make_file(R"({"a":[1]})"), "tensor 'a': entry is not a JSON object"},
      {"too_deep", make_file(R"({"a":)" + std::string(100, '[') + std::string(100, ']') + "}"),
       "nested too deeply"},
      {"gap", make_file("{" + a8 + "," + entry("b", "F32", "[2]", "[12,20]") + "}", std::string(20, '\0')),
       "tensor 'b' starts at byte 12, leaving a gap after tensor 'a'"},
      {"gap_at_start", make_file("{" + entry("a", "F32", "[2]", "[4,12]") + "}", std::string(12, '\0')),
       "tensor 'a' starts at byte 4, leaving a gap after the header"},
      {"overlap", make_file("{" + a8 + "," + entry("b", "F32", "[2]", "[4,12]") + "}", std::string(12, '\0')),
       "tensor 'b' starts at byte 4, an overlap with tensor 'a'"},
      {"trailing_bytes", make_file("{" + a8 + "}", std::string(12, '\0')),
       "4 trailing bytes after the last tensor"},
      {"data_past_end", make_file("{" + a8 + "}", std::string(4, '\0')),
       "truncated file: tensor 'a' ends at byte 8"},
      {"nbytes_mismatch", make_file("{" + entry("a", "F32", "[3]", "[0,8]") + "}", eight),
       "tensor 'a': size mismatch: F32 [3] needs 12 bytes but data_offsets span 8"},
      {"shape_overflow",
       make_file("{" + entry("a", "F32", "[4611686018427387904,4]", "[0,8]") + "}", eight),
       "tensor 'a': shape [4611686018427387904,4] overflows"},
      {"metadata_not_string", make_file(R"({"__metadata__":{"step":42}})"),
       "'__metadata__' value 'step' is not a string"},
      {"metadata_not_object", make_file(R"({"__metadata__":"x"})"), "'__metadata__' is not a JSON object"},
      {"bad_bool", make_file("{" + entry("a", "BOOL", "[2]", "[0,2]") + "}", std::string("\x00\x02", 2)),
       "tensor 'a': BOOL data holds a byte other than 0 or 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string p = path(c.name + ".safetensors");
    write_bytes(p, c.bytes);
    expect_input_error([&] { st::load(p); }, p, c.phrase);
    expect_input_error([&] { st::parse(c.bytes, c.name); }, c.name, c.phrase);
  }
}

TEST_F(Safetensors, MissingFileIsAnInputError) {
  std::string p = path("absent.safetensors");
  expect_input_error([&] { st::load(p); }, p, "no such file");
  expect_input_error([&] { st::load(dir_.string()); }, dir_.string(), "not a regular file");
}

TEST_F(Safetensors, UnsupportedDtypeOrNameIsRefusedBeforeWriting) {
  std::string p = path("bad.safetensors");
  expect_input_error([&] { st::save(p, {{"c", at::ones({2}, at::kComplexFloat)}}); }, p,
                     "tensor 'c': unsupported dtype");
  expect_input_error([&] { st::save(p, {{"__metadata__", at::ones({2})}}); }, p, "reserved");
  EXPECT_TRUE(listing().empty());
  EXPECT_THROW(st::dtype_from_string("U16"), beyond::InputError);
  EXPECT_EQ(st::dtype_to_string(at::kBFloat16), "BF16");
}

TEST_F(Safetensors, SaveReplacesAnExistingFileAndLeavesNoTmp) {
  std::string p = path("ckpt.safetensors");
  st::save(p, {{"x", at::zeros({3})}}, {{"step", "1"}});
  st::save(p, {{"y", at::ones({2}, at::kLong)}}, {{"step", "2"}});
  st::File file = st::load(p);
  EXPECT_EQ(file.metadata.at("step"), "2");
  expect_same(file.tensors, {{"y", at::ones({2}, at::kLong)}});
  EXPECT_EQ(listing(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST_F(Safetensors, FailedSaveThrowsRunErrorAndLeavesNoTmp) {
  // Into a directory that does not exist: the temporary file cannot be created.
  std::string missing = path("no_such_dir/ckpt.safetensors");
  try {
    st::save(missing, {{"x", at::zeros({3})}});
    ADD_FAILURE() << "no RunError";
  } catch (const beyond::RunError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(missing), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::strerror(ENOENT)), std::string::npos) << msg;
  }
  EXPECT_TRUE(listing().empty());

  // Over a non-empty directory: the rename fails after the data is written; the tmp must go.
  std::string dir_target = path("target");
  fs::create_directories(dir_target + "/inside");
  EXPECT_THROW(st::save(dir_target, {{"x", at::zeros({3})}}), beyond::RunError);
  EXPECT_EQ(listing(), std::vector<std::string>{"target"});

  // A failed save must never damage the last good file.
  std::string good = path("good.safetensors");
  st::save(good, {{"x", at::arange(3, at::kFloat)}});
  fs::create_directories(good + ".tmp");  // blocks the temporary file
  EXPECT_THROW(st::save(good, {{"x", at::zeros({3})}}), beyond::RunError);
  expect_same(st::load(good).tensors, {{"x", at::arange(3, at::kFloat)}});
}

TEST_F(Safetensors, PythonReadsOurFiles) {
  if (std::string(BEYOND_PYTHON).empty()) GTEST_SKIP() << "BEYOND_PYTHON is not set";
  std::string p = path("from_cpp.safetensors");
  st::save(p, recipe(), kRecipeMetadata);
  EXPECT_EQ(run_script("check", p), 0);
}

TEST_F(Safetensors, WeReadPythonFiles) {
  if (std::string(BEYOND_PYTHON).empty()) GTEST_SKIP() << "BEYOND_PYTHON is not set";
  std::string p = path("from_python.safetensors");
  ASSERT_EQ(run_script("write", p), 0);
  st::File file = st::load(p);
  expect_same(file.tensors, recipe());
  EXPECT_EQ(file.metadata, kRecipeMetadata);
}

}  // namespace
