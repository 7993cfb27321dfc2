// PyLite's runtime values (None, bool, int64, list) and the Python semantics of every operation
// on them: arithmetic with floor division and overflow checks, comparisons (lists elementwise and
// lexicographic), truth, repr, len/min/max/abs. Errors are thrown as PyException with CPython's
// exception class name, so the interpreter turns them into trace events.
#pragma once
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "worldmodel/trace.h"

namespace beyond::wm {

enum class BinaryOp { Add, Sub, Mul, FloorDiv, Mod };
enum class CompareOp { Lt, Le, Gt, Ge, Eq, Ne };

const char* op_text(BinaryOp op);  // "+", "//", ...

struct List;

// A value is 16 bytes: lists live in the run's Heap and are shared by pointer, so aliasing
// (`b = a; b.append(1)`) and self-reference behave as in Python.
struct Value {
  enum class Type : uint8_t { Unbound, None, Bool, Int, List };
  Type type = Type::Unbound;  // Unbound: a local not yet assigned (never a Python value)
  union {
    int64_t number = 0;  // Bool (0/1) and Int
    List* list;
  };

  static Value none() { return make(Type::None); }
  static Value boolean(bool b) { return make(Type::Bool, b ? 1 : 0); }
  static Value integer(int64_t n) { return make(Type::Int, n); }
  static Value of(List* l) {
    Value v = make(Type::List);
    v.list = l;
    return v;
  }
  bool bound() const { return type != Type::Unbound; }
  bool is_list() const { return type == Type::List; }
  bool is_number() const { return type == Type::Int || type == Type::Bool; }  // bools are ints in Python

 private:
  static Value make(Type type, int64_t n = 0) {
    Value v;
    v.type = type;
    v.number = n;
    return v;
  }
};

struct List {
  std::vector<Value> items;
};

// A Python exception, or one of the interpreter's limits, unwinding the PyLite call stack.
struct PyException : std::exception {
  PyException(Outcome outcome, std::string name) : outcome(outcome), name(std::move(name)) {}
  const char* what() const noexcept override { return name.c_str(); }
  Outcome outcome;
  std::string name;  // "TypeError", ... or "StepLimitExceeded" / "OverflowError" / "RecursionError"
};

[[noreturn]] void raise_python(const char* python_exception);  // Outcome::Raised
[[noreturn]] void raise_step_limit();
[[noreturn]] void raise_overflow();
[[noreturn]] void raise_depth_limit();

// Owns a run's lists (freed together when the run ends, so reference cycles cost nothing) and
// bounds the work done inside single lines: list lengths, and the budget of work units of
// InterpreterLimits::max_work (a list element created costs 16, an element compared or a repr
// character 1).
class Heap {
 public:
  Heap(int64_t max_list_length, int64_t max_work) : max_list_length_(max_list_length), work_left_(max_work) {}
  List* new_list(std::vector<Value> items = {});
  void check_length(int64_t n) const;     // StepLimit when a list would grow past the limit
  void spend(int64_t units);              // StepLimit when the work budget is spent
  void grow(List& list, int64_t extra);  // check_length + spend for `extra` new elements

  static constexpr int64_t kElementCost = 16;

 private:
  std::vector<std::unique_ptr<List>> lists_;
  int64_t max_list_length_;
  int64_t work_left_;
};

// Nested lists deeper than this (a repr or comparison recursing into them) end the run as
// Python's RecursionError would.
constexpr int kMaxValueNesting = 900;

bool truthy(const Value& v);
std::string repr(const Value& v, Heap& heap);

// Python's binary operators; the result may be a new list (concatenation, repetition).
Value binary(BinaryOp op, const Value& a, const Value& b, Heap& heap);
// `target op= b`: lists extend / repeat in place (the result is `target` itself), else binary().
Value in_place(BinaryOp op, const Value& target, const Value& b, Heap& heap);
Value negate(const Value& v);
Value unary_plus(const Value& v);

bool compare(CompareOp op, const Value& a, const Value& b, Heap& heap);  // TypeError on int < list

// xs[i]: TypeError for a non-list or a non-int index, IndexError out of range.
Value get_item(const Value& container, const Value& index);
void set_item(const Value& container, const Value& index, const Value& v);
void append(const Value& receiver, const Value& v, Heap& heap);  // receiver is a list (checked by the caller)

Value builtin_len(const std::vector<Value>& args);
Value builtin_abs(const std::vector<Value>& args);
Value builtin_min_max(bool is_max, const std::vector<Value>& args, Heap& heap);

// range(a[, b[, c]])'s start, stop and step (TypeError / ValueError as Python's range()).
struct RangeSpec {
  int64_t start = 0, stop = 0, step = 1;
};
RangeSpec make_range(const std::vector<Value>& args);

}  // namespace beyond::wm
