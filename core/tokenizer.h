// Tokenizers shared by every text family: character-level (vocabulary from a corpus, as
// nanoGPT's shakespeare_char) and byte-level BPE with a trainer. Both can carry special tokens
// (BOS, EOS, PAD, MASK), whose ids follow the regular vocabulary, and both save to / load from
// a JSON file next to the checkpoints.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace beyond {

// Names of the special tokens, as written in configs and tokenizer files.
inline const std::vector<std::string> kSpecialTokens = {"<|bos|>", "<|eos|>", "<|pad|>", "<|mask|>"};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;  // "char" | "bpe"
  // Text -> ids. Special-token names in the text are NOT recognised (they encode as plain text).
  // The char tokenizer throws InputError for a character outside its vocabulary, naming it
  // and its byte offset; byte-level BPE encodes any byte string.
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  // Ids -> text; special tokens decode to their names ("<|eos|>"). Throws InputError for an
  // id outside the vocabulary.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // The text of one id (for streaming output token by token).
  virtual std::string token_text(int64_t id) const = 0;
  // Regular tokens plus special tokens.
  virtual int64_t vocab_size() const = 0;

  // Id of a special token ("<|eos|>"), or -1 when this tokenizer has none.
  int64_t special_id(const std::string& name) const;
  int64_t bos() const { return special_id("<|bos|>"); }
  int64_t eos() const { return special_id("<|eos|>"); }
  int64_t pad() const { return special_id("<|pad|>"); }
  int64_t mask() const { return special_id("<|mask|>"); }
  const std::vector<std::string>& specials() const { return specials_; }

  // JSON file with "kind", the vocabulary or merges, and "specials". Written atomically.
  virtual void save(const std::string& path) const = 0;
  // Reads either kind; InputError naming the file for a missing or malformed file.
  static std::unique_ptr<Tokenizer> load(const std::string& path);

 protected:
  std::vector<std::string> specials_;  // in id order, after the regular vocabulary
  int64_t base_vocab_ = 0;             // ids below this are regular tokens
};

// One token per Unicode code point seen in the corpus (UTF-8), ids in sorted code-point order.
class CharTokenizer : public Tokenizer {
 public:
  // InputError if the corpus is not valid UTF-8 (naming the byte offset) or is empty.
  static CharTokenizer from_corpus(const std::string& corpus, const std::vector<std::string>& specials = {});
  explicit CharTokenizer(std::vector<std::string> chars, std::vector<std::string> specials = {});

  std::string kind() const override { return "char"; }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string token_text(int64_t id) const override;
  int64_t vocab_size() const override;
  void save(const std::string& path) const override;
  const std::vector<std::string>& chars() const { return chars_; }

 private:
  std::vector<std::string> chars_;              // each one UTF-8 encoded code point
  std::unordered_map<uint32_t, int64_t> index_;  // code point -> id, for encode
};

// Byte-level BPE: ids 0..255 are the bytes, then one id per learned merge, then the specials.
// Text is first split into chunks (a leading space stays with the word that follows, as in
// GPT-2) and merges never cross chunks.
class BPETokenizer : public Tokenizer {
 public:
  // Learns merges until the regular vocabulary has `vocab_size` tokens (>= 256).
  static BPETokenizer train(const std::string& corpus, int64_t vocab_size, const std::vector<std::string>& specials = {});
  BPETokenizer(std::vector<std::pair<int64_t, int64_t>> merges, std::vector<std::string> specials = {});

  std::string kind() const override { return "bpe"; }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string token_text(int64_t id) const override;
  int64_t vocab_size() const override;
  void save(const std::string& path) const override;
  const std::vector<std::pair<int64_t, int64_t>>& merges() const { return merges_; }

 private:
  std::vector<std::pair<int64_t, int64_t>> merges_;  // merge i creates id 256 + i
  std::vector<std::string> token_bytes_;             // bytes of every regular id
  std::unordered_map<uint64_t, int64_t> ranks_;      // pair (a << 32 | b) -> merge index, for encode
};

}  // namespace beyond
