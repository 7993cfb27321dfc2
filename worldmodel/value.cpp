#include "worldmodel/value.h"

#include <algorithm>
#include <limits>

namespace beyond::wm {

const char* op_text(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Mul: return "*";
    case BinaryOp::FloorDiv: return "//";
    case BinaryOp::Mod: return "%";
  }
  return "?";
}

void raise_python(const char* python_exception) { throw PyException(Outcome::Raised, python_exception); }
void raise_step_limit() { throw PyException(Outcome::StepLimit, "StepLimitExceeded"); }
void raise_overflow() { throw PyException(Outcome::Overflow, "OverflowError"); }
void raise_depth_limit() { throw PyException(Outcome::DepthLimit, "RecursionError"); }

// ---------------------------------------------------------------------------------------------
// Heap

List* Heap::new_list(std::vector<Value> items) {
  check_length(static_cast<int64_t>(items.size()));
  spend(kElementCost * static_cast<int64_t>(items.size() + 1));
  lists_.push_back(std::make_unique<List>(List{std::move(items)}));
  return lists_.back().get();
}

void Heap::check_length(int64_t n) const {
  if (n > max_list_length_) raise_step_limit();
}

void Heap::spend(int64_t units) {
  work_left_ -= units;
  if (work_left_ < 0) raise_step_limit();
}

void Heap::grow(List& list, int64_t extra) {
  check_length(static_cast<int64_t>(list.items.size()) + extra);
  spend(kElementCost * extra);
}

// ---------------------------------------------------------------------------------------------
// Integers: int64 with Python's floor division; leaving int64 is OverflowError (never a wrap).

static int64_t add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) raise_overflow();
  return r;
}

static int64_t sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) raise_overflow();
  return r;
}

static int64_t mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) raise_overflow();
  return r;
}

static int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) raise_python("ZeroDivisionError");
  if (a == std::numeric_limits<int64_t>::min() && b == -1) raise_overflow();
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

static int64_t floor_mod(int64_t a, int64_t b) {
  if (b == 0) raise_python("ZeroDivisionError");
  if (b == -1) return 0;  // INT64_MIN % -1 is undefined in C++, 0 in Python
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

static int64_t arithmetic(BinaryOp op, int64_t a, int64_t b) {
  switch (op) {
    case BinaryOp::Add: return add(a, b);
    case BinaryOp::Sub: return sub(a, b);
    case BinaryOp::Mul: return mul(a, b);
    case BinaryOp::FloorDiv: return floor_div(a, b);
    case BinaryOp::Mod: return floor_mod(a, b);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Lists: concatenation and repetition

static std::vector<Value> repeated(const std::vector<Value>& items, int64_t times, Heap& heap) {
  if (times <= 0 || items.empty()) return {};
  const auto n = static_cast<int64_t>(items.size());
  if (times > std::numeric_limits<int64_t>::max() / n) raise_step_limit();
  heap.check_length(n * times);
  heap.spend(Heap::kElementCost * n * times);
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(n * times));
  for (int64_t t = 0; t < times; ++t) out.insert(out.end(), items.begin(), items.end());
  return out;
}

static Value concatenate(const List& a, const List& b, Heap& heap) {
  heap.check_length(static_cast<int64_t>(a.items.size() + b.items.size()));
  std::vector<Value> items = a.items;
  items.insert(items.end(), b.items.begin(), b.items.end());
  return Value::of(heap.new_list(std::move(items)));
}

Value binary(BinaryOp op, const Value& a, const Value& b, Heap& heap) {
  if (a.is_number() && b.is_number()) return Value::integer(arithmetic(op, a.number, b.number));
  if (op == BinaryOp::Add && a.is_list() && b.is_list()) return concatenate(*a.list, *b.list, heap);
  if (op == BinaryOp::Mul && a.is_list() && b.is_number())
    return Value::of(heap.new_list(repeated(a.list->items, b.number, heap)));
  if (op == BinaryOp::Mul && a.is_number() && b.is_list())
    return Value::of(heap.new_list(repeated(b.list->items, a.number, heap)));
  raise_python("TypeError");
}

Value in_place(BinaryOp op, const Value& target, const Value& b, Heap& heap) {
  if (!target.is_list()) return binary(op, target, b, heap);
  List& list = *target.list;
  if (op == BinaryOp::Add) {  // list.extend: any list, itself included
    if (!b.is_list()) raise_python("TypeError");
    const std::vector<Value> extra = b.list->items;
    heap.grow(list, static_cast<int64_t>(extra.size()));
    list.items.insert(list.items.end(), extra.begin(), extra.end());
    return target;
  }
  if (op == BinaryOp::Mul) {
    if (!b.is_number()) raise_python("TypeError");
    list.items = repeated(list.items, b.number, heap);
    return target;
  }
  raise_python("TypeError");
}

Value negate(const Value& v) {
  if (!v.is_number()) raise_python("TypeError");
  return Value::integer(sub(0, v.number));
}

Value unary_plus(const Value& v) {
  if (!v.is_number()) raise_python("TypeError");
  return Value::integer(v.number);
}

bool truthy(const Value& v) {
  switch (v.type) {
    case Value::Type::Bool:
    case Value::Type::Int: return v.number != 0;
    case Value::Type::List: return !v.list->items.empty();
    default: return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Comparisons, as list_richcompare: equal lengths and elementwise ==, where an element is always
// equal to itself (so a self-containing list equals itself); ordering at the first difference.

static bool ordered(CompareOp op, int64_t a, int64_t b) {
  switch (op) {
    case CompareOp::Lt: return a < b;
    case CompareOp::Le: return a <= b;
    case CompareOp::Gt: return a > b;
    case CompareOp::Ge: return a >= b;
    case CompareOp::Eq: return a == b;
    case CompareOp::Ne: return a != b;
  }
  return false;
}

static bool compare_at(CompareOp op, const Value& a, const Value& b, Heap& heap, int depth);

static bool same_or_equal(const Value& a, const Value& b, Heap& heap, int depth) {
  if (a.is_list() && b.is_list() && a.list == b.list) return true;
  return compare_at(CompareOp::Eq, a, b, heap, depth);
}

static bool compare_lists(CompareOp op, const List& a, const List& b, Heap& heap, int depth) {
  if (depth > kMaxValueNesting) raise_depth_limit();
  const bool equality = op == CompareOp::Eq || op == CompareOp::Ne;
  if (equality && a.items.size() != b.items.size()) return op == CompareOp::Ne;
  const size_t n = std::min(a.items.size(), b.items.size());
  for (size_t i = 0; i < n; ++i) {
    heap.spend(1);
    if (!same_or_equal(a.items[i], b.items[i], heap, depth + 1)) {
      if (equality) return op == CompareOp::Ne;
      return compare_at(op, a.items[i], b.items[i], heap, depth + 1);
    }
  }
  return ordered(op, static_cast<int64_t>(a.items.size()), static_cast<int64_t>(b.items.size()));
}

static bool compare_at(CompareOp op, const Value& a, const Value& b, Heap& heap, int depth) {
  if (a.is_number() && b.is_number()) return ordered(op, a.number, b.number);
  if (a.is_list() && b.is_list()) return compare_lists(op, *a.list, *b.list, heap, depth);
  const bool same_kind = a.type == b.type;  // here: None with None
  if (op == CompareOp::Eq) return same_kind;
  if (op == CompareOp::Ne) return !same_kind;
  raise_python("TypeError");
}

bool compare(CompareOp op, const Value& a, const Value& b, Heap& heap) { return compare_at(op, a, b, heap, 0); }

// ---------------------------------------------------------------------------------------------
// repr, with Python's "[...]" for a list inside its own repr

static void append_repr(std::string& out, const Value& v, Heap& heap, std::vector<const List*>& open) {
  const size_t before = out.size();
  switch (v.type) {
    case Value::Type::Unbound: out += "<unbound>"; break;
    case Value::Type::None: out += "None"; break;
    case Value::Type::Bool: out += v.number ? "True" : "False"; break;
    case Value::Type::Int: out += std::to_string(v.number); break;
    case Value::Type::List: {
      if (std::find(open.begin(), open.end(), v.list) != open.end()) {
        out += "[...]";
        break;
      }
      if (static_cast<int>(open.size()) >= kMaxValueNesting) raise_depth_limit();
      open.push_back(v.list);
      out += '[';
      for (size_t i = 0; i < v.list->items.size(); ++i) {
        if (i > 0) out += ", ";
        append_repr(out, v.list->items[i], heap, open);
      }
      out += ']';
      open.pop_back();
      heap.spend(2);
      return;
    }
  }
  heap.spend(static_cast<int64_t>(out.size() - before));
}

std::string repr(const Value& v, Heap& heap) {
  std::string out;
  std::vector<const List*> open;
  append_repr(out, v, heap, open);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Items

static size_t checked_index(const List& list, const Value& index) {
  if (!index.is_number()) raise_python("TypeError");
  const auto n = static_cast<int64_t>(list.items.size());
  const int64_t i = index.number < 0 ? index.number + n : index.number;
  if (i < 0 || i >= n) raise_python("IndexError");
  return static_cast<size_t>(i);
}

Value get_item(const Value& container, const Value& index) {
  if (!container.is_list()) raise_python("TypeError");
  return container.list->items[checked_index(*container.list, index)];
}

void set_item(const Value& container, const Value& index, const Value& v) {
  if (!container.is_list()) raise_python("TypeError");
  container.list->items[checked_index(*container.list, index)] = v;
}

void append(const Value& receiver, const Value& v, Heap& heap) {
  const Value item = v;  // v may be an element of the list that push_back reallocates
  heap.grow(*receiver.list, 1);
  receiver.list->items.push_back(item);
}

// ---------------------------------------------------------------------------------------------
// Builtins

Value builtin_len(const std::vector<Value>& args) {
  if (args.size() != 1 || !args[0].is_list()) raise_python("TypeError");
  return Value::integer(static_cast<int64_t>(args[0].list->items.size()));
}

Value builtin_abs(const std::vector<Value>& args) {
  if (args.size() != 1 || !args[0].is_number()) raise_python("TypeError");
  const int64_t n = args[0].number;
  return Value::integer(n < 0 ? sub(0, n) : n);
}

Value builtin_min_max(bool is_max, const std::vector<Value>& args, Heap& heap) {
  if (args.empty()) raise_python("TypeError");
  if (args.size() == 1 && !args[0].is_list()) raise_python("TypeError");  // not iterable
  const std::vector<Value>& items = args.size() == 1 ? args[0].list->items : args;
  if (items.empty()) raise_python("ValueError");
  // Python keeps the first of equal extremes: it replaces only on a strict < (min) or > (max).
  Value best = items[0];
  for (size_t i = 1; i < items.size(); ++i) {
    heap.spend(1);
    if (compare(is_max ? CompareOp::Gt : CompareOp::Lt, items[i], best, heap)) best = items[i];
  }
  return best;
}

RangeSpec make_range(const std::vector<Value>& args) {
  if (args.empty() || args.size() > 3) raise_python("TypeError");
  for (const auto& a : args)
    if (!a.is_number()) raise_python("TypeError");
  RangeSpec r;
  if (args.size() == 1) {
    r.stop = args[0].number;
  } else {
    r.start = args[0].number;
    r.stop = args[1].number;
    if (args.size() == 3) r.step = args[2].number;
  }
  if (r.step == 0) raise_python("ValueError");
  return r;
}

}  // namespace beyond::wm
