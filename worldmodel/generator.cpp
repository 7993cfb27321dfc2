// The random program generator: builds a PyLite program top-down as text, tracking which names
// are bound on every path and how long each list is at least, then keeps it only if a run on
// random inputs stays inside the bounds (generate_example).
#include "worldmodel/generator.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "core/config.h"
#include "core/errors.h"
#include "worldmodel/interpreter.h"

namespace beyond::wm {

namespace {

// Names the trace tokenizer knows: single lowercase letters and xs ys zs ws; f and g are the functions.
const std::vector<std::string> kIntParams = {"n", "m", "k"};
const std::vector<std::string> kListParams = {"xs", "ys"};
const std::vector<std::string> kIntLocals = {"a", "b", "c", "d", "e", "h", "p", "q"};
const std::vector<std::string> kListLocals = {"zs", "ws"};
const std::vector<std::string> kCounters = {"i", "j", "r", "s"};  // range variables and while counters
const std::vector<std::string> kElements = {"x", "y", "z", "w"};  // for x in xs
constexpr int kMaxDepth = 4;  // one counter and one element name per nesting level
constexpr int kMaxLines = 64;  // the tokenizer's line tokens <L1>..<L64>

void validate(const GeneratorOptions& o) {
  const auto fail = [](const std::string& what) { throw InputError("generator: " + what); };
  const auto range = [&](const char* name, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      fail(std::string(name) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
  };
  range("n_statements", o.n_statements, 1, 40);
  range("max_depth", o.max_depth, 0, kMaxDepth);
  range("max_loop_iters", o.max_loop_iters, 1, 50);
  range("n_vars", o.n_vars, 1, static_cast<int64_t>(kIntLocals.size()));
  range("n_params", o.n_params, 1, 3);
  range("value_digits", o.value_digits, 1, 15);  // int64 keeps products of two such values
  range("digits", o.digits, 1, o.value_digits);
  range("max_list_len", o.max_list_len, 1, 50);
  range("fuel", o.fuel, 1, 100000000);
  range("max_trace_events", o.max_trace_events, 1, 100000000);
  range("max_attempts", o.max_attempts, 1, 100000000);
  if (!(o.p_if >= 0 && o.p_loop >= 0 && o.p_if + o.p_loop <= 1))
    fail("p_if and p_loop must be >= 0 with p_if + p_loop <= 1, got " + std::to_string(o.p_if) + " and " + std::to_string(o.p_loop));
  if (o.allow_recursion && (o.max_depth < 1 || o.n_statements < 2))
    fail("allow_recursion needs max_depth >= 1 and n_statements >= 2 (the base case is an if with a return)");
}

int64_t power_of_ten(int digits) {
  int64_t p = 1;
  for (int i = 0; i < digits; ++i) p *= 10;
  return p;
}

// Deterministic draws: std's distributions differ between standard libraries, these do not.
class Dice {
 public:
  explicit Dice(std::mt19937_64& rng) : rng_(rng) {}
  int64_t uniform(int64_t lo, int64_t hi) {  // inclusive
    return lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo + 1));
  }
  double unit() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }
  // An index drawn with the given weights (all >= 0, some > 0).
  size_t weighted(const std::vector<double>& weights) {
    double total = 0;
    for (double w : weights) total += w;
    double u = unit() * total;
    for (size_t i = 0; i < weights.size(); ++i) {
      if (u < weights[i]) return i;
      u -= weights[i];
    }
    for (size_t i = weights.size(); i-- > 0;)
      if (weights[i] > 0) return i;
    return 0;
  }

 private:
  std::mt19937_64& rng_;
};

// Python's operator precedence, loosest first.
enum Prec { kOr, kAnd, kNot, kCompare, kSum, kProduct, kUnary, kAtom };

struct Expr {
  std::string text;
  int prec = kAtom;
};

std::string at_least(const Expr& e, int prec) { return e.prec >= prec ? e.text : "(" + e.text + ")"; }

// A left-associative binary operator: the right operand binds tighter.
Expr binary(const Expr& l, const std::string& op, const Expr& r, int prec) {
  return {at_least(l, prec) + " " + op + " " + at_least(r, prec + 1), prec};
}

// Both operands above comparison level, so no accidental chain `a < b < c`.
Expr compare(const Expr& l, const std::string& op, const Expr& r) {
  return {at_least(l, kSum) + " " + op + " " + at_least(r, kSum), kCompare};
}

Expr negate(const Expr& e) {
  const std::string operand = at_least(e, kUnary);
  return {"-" + (operand[0] == '-' ? "(" + operand + ")" : operand), kUnary};
}

Expr call(const std::string& function, const std::vector<Expr>& args) {
  std::string text = function + "(";
  for (size_t i = 0; i < args.size(); ++i) text += (i ? ", " : "") + args[i].text;
  return {text + ")", kAtom};
}

Expr name(const std::string& n) { return {n, kAtom}; }

bool is_literal(const Expr& e) { return e.text.find_first_not_of("-0123456789") == std::string::npos; }

// What is known at a program point, on every path reaching it.
struct Scope {
  std::set<std::string> ints;            // bound int names
  std::map<std::string, int> lists;      // bound list names -> the least length they can have
};

// Where both a and b can be (the join after an if/else).
Scope meet(const Scope& a, const Scope& b) {
  Scope out;
  for (const auto& n : a.ints)
    if (b.ints.count(n)) out.ints.insert(n);
  for (const auto& [n, len] : a.lists)
    if (auto it = b.lists.find(n); it != b.lists.end()) out.lists[n] = std::min(len, it->second);
  return out;
}

// The enclosing blocks of a statement.
struct Block {
  int depth = 0;                         // enclosing compound statements
  bool in_loop = false;                  // break and continue allowed
  std::vector<std::string> loop_names;   // counters and elements of enclosing loops (never assigned)
  std::set<std::string> iterated;        // lists an enclosing for walks (no append: it would never end)
  bool top_level() const { return depth == 0; }
};

// One candidate program and its input.
class ProgramBuilder {
 public:
  ProgramBuilder(const GeneratorOptions& options, std::mt19937_64& rng) : o_(options), dice_(rng) {}

  std::pair<std::string, std::string> build() {
    if (o_.allow_calls) write_helper();
    write_entry();
    std::string source;
    for (const auto& line : lines_) source += line + "\n";
    return {source, entry_call()};
  }

 private:
  const GeneratorOptions& o_;
  Dice dice_;
  std::vector<std::string> lines_;

  // The function being written.
  bool in_helper_ = false;
  int depth_cap_ = 0;
  std::vector<std::string> int_targets_, list_targets_;  // names an assignment may bind
  int helper_calls_left_ = 0, recursive_calls_left_ = 0;
  bool calls_here_ = true;  // false where an expression runs many times (while tests) or in a call's arguments

  // Signatures.
  int helper_arity_ = 0;
  int helper_calls_made_ = 0;
  std::vector<std::pair<std::string, bool>> entry_params_;  // name, is a list
  int recursive_calls_made_ = 0;

  void emit(const Block& b, const std::string& text) { lines_.push_back(std::string(4 * (b.depth + 1), ' ') + text); }

  int64_t literal_bound() const { return power_of_ten(o_.digits) - 1; }

  // A literal with at most `digits` digits, small ones more often; negative sometimes.
  Expr literal(bool allow_negative = true) {
    const int64_t hi = dice_.chance(0.5) ? std::min<int64_t>(9, literal_bound()) : literal_bound();
    const int64_t v = dice_.uniform(0, hi);
    if (allow_negative && v != 0 && dice_.chance(0.15)) return {"-" + std::to_string(v), kUnary};
    return {std::to_string(v), kAtom};
  }

  Expr positive_literal(int64_t lo, int64_t hi) { return {std::to_string(dice_.uniform(lo, std::max(lo, hi))), kAtom}; }

  std::vector<std::string> readable_ints(const Scope& s) const { return {s.ints.begin(), s.ints.end()}; }

  std::vector<std::string> lists_with(const Scope& s, int min_len) const {
    std::vector<std::string> out;
    for (const auto& [n, len] : s.lists)
      if (len >= min_len) out.push_back(n);
    return out;
  }

  // An index into `list` that is in range, or with allow_errors sometimes any int.
  Expr index(const Scope& s, const std::string& list) {
    const int known = s.lists.at(list);
    if (known == 0 || (o_.allow_errors && dice_.chance(0.1))) return int_atom(s, false);
    switch (dice_.uniform(0, 2)) {
      case 0: return {std::to_string(dice_.uniform(-known, known - 1)), kAtom};
      case 1: {
        const auto ints = readable_ints(s);
        if (ints.empty()) break;
        return binary(name(dice_.pick(ints)), "%", call("len", {name(list)}), kProduct);
      }
      default: break;
    }
    return binary(call("len", {name(list)}), "-", positive_literal(1, known), kSum);
  }

  Expr helper_call(const Scope& s) {
    --helper_calls_left_;
    ++helper_calls_made_;
    std::vector<Expr> args;
    const bool before = calls_here_;
    calls_here_ = false;
    for (int i = 0; i < helper_arity_; ++i) args.push_back(dice_.chance(0.3) ? int_expr(s, 1) : int_atom(s, true));
    calls_here_ = before;
    return call("g", args);
  }

  // f on a strictly smaller first argument (the base case returned for n below 1).
  Expr recursive_call(const Scope& s) {
    --recursive_calls_left_;
    ++recursive_calls_made_;
    const bool before = calls_here_;
    calls_here_ = false;
    std::vector<Expr> args;
    for (size_t i = 0; i < entry_params_.size(); ++i) {
      const auto& [param, is_list] = entry_params_[i];
      if (i == 0)
        args.push_back(dice_.chance(0.7) ? binary(name(param), "-", {"1"}, kSum) : binary(name(param), "//", {"2"}, kProduct));
      else
        args.push_back(is_list ? name(param) : int_atom(s, true));  // lists are passed on, never aliased twice
    }
    calls_here_ = before;
    return call("f", args);
  }

  bool can_call_helper(const Block&) const { return calls_here_ && !in_helper_ && helper_calls_left_ > 0; }
  bool can_recurse(const Block& b) const {
    return calls_here_ && !in_helper_ && recursive_calls_left_ > 0 && b.top_level();
  }

  // A literal, name, len/index/min/max, or a call. `nested`: no builtin around builtins.
  Expr int_atom(const Scope& s, bool allow_literal, const Block* b = nullptr, bool nested = false) {
    const auto ints = readable_ints(s);
    const auto lists = lists_with(s, 0), nonempty = lists_with(s, 1);
    // With allow_errors, now and then a list that may be empty (and then any index).
    const auto indexable = o_.allow_errors && dice_.chance(nonempty.empty() ? 0.3 : 0.1) ? lists : nonempty;
    enum { kLiteral, kName, kLen, kIndex, kMinMax, kHelper, kRecurse, kBuiltin };
    std::vector<double> w(8, 0.0);
    w[kLiteral] = allow_literal || ints.empty() ? 3 : 0;
    w[kName] = ints.empty() ? 0 : 6;
    w[kLen] = lists.empty() ? 0 : 0.8;
    w[kIndex] = indexable.empty() ? 0 : 1.5;
    w[kMinMax] = nonempty.empty() ? 0 : 0.5;
    w[kHelper] = b && can_call_helper(*b) ? 1.2 : 0;
    w[kRecurse] = b && can_recurse(*b) ? 2 : 0;
    w[kBuiltin] = nested ? 0 : 0.6;
    switch (dice_.weighted(w)) {
      case kName: return name(dice_.pick(ints));
      case kLen: return call("len", {name(dice_.pick(lists))});
      case kIndex: {
        const auto& list = dice_.pick(indexable);
        return {list + "[" + index(s, list).text + "]", kAtom};
      }
      case kMinMax: return call(dice_.chance(0.5) ? "min" : "max", {name(dice_.pick(nonempty))});
      case kHelper: return helper_call(s);
      case kRecurse: return recursive_call(s);
      case kBuiltin: {
        if (dice_.chance(0.4)) return call("abs", {binary(int_atom(s, false, b, true), "-", int_atom(s, true, b, true), kSum)});
        return call(dice_.chance(0.5) ? "min" : "max", {int_atom(s, true, b, true), int_atom(s, true, b, true)});
      }
      default: return literal();
    }
  }

  // The divisor of // and %: a non-zero literal, or with allow_errors sometimes a name that may be 0.
  Expr divisor(const Scope& s) {
    const auto ints = readable_ints(s);
    if (o_.allow_errors && !ints.empty() && dice_.chance(0.25)) {
      const Expr n = name(dice_.pick(ints));
      return dice_.chance(0.5) ? n : binary(n, "%", positive_literal(2, 3), kProduct);  // zero one time in 2 or 3
    }
    const Expr d = positive_literal(2, dice_.chance(0.7) ? std::min<int64_t>(9, literal_bound()) : literal_bound());
    return dice_.chance(0.15) ? negate(d) : d;
  }

  Expr int_expr(const Scope& s, int level, const Block* b = nullptr) {
    if (level <= 0 || dice_.chance(0.35)) return int_atom(s, true, b);
    static const std::vector<std::string> ops = {"+", "-", "*", "//", "%"};
    const size_t op = dice_.weighted({3, 2.5, 1.5, 1, 1, 0.3});
    if (op == ops.size()) return negate(int_atom(s, false, b));
    Expr left = int_expr(s, level - 1, b);
    Expr right = op <= 1   ? int_expr(s, level - 1, b)
                 : op == 2 ? (dice_.chance(0.6) ? positive_literal(2, std::min<int64_t>(5, literal_bound())) : int_atom(s, false, b))
                           : divisor(s);
    if (right.text == left.text) right = positive_literal(2, std::min<int64_t>(9, literal_bound()));  // not `a - a`
    if (is_literal(left) && is_literal(right) && !s.ints.empty()) left = name(dice_.pick(readable_ints(s)));  // not `3 - 5`
    return binary(left, ops[op], right, op <= 1 ? kSum : kProduct);
  }

  // An int expression that mentions a name (a condition on literals alone could be folded away
  // by CPython's compiler, which would change the trace).
  Expr named_expr(const Scope& s, const Block& b) {
    const auto ints = readable_ints(s);
    const auto lists = lists_with(s, 0);
    Expr e = !ints.empty() && (lists.empty() || dice_.chance(0.8)) ? name(dice_.pick(ints))
             : !lists.empty()                                      ? call("len", {name(dice_.pick(lists))})
                                                                   : int_atom(s, false, &b);
    if (!dice_.chance(0.3)) return e;
    const Expr k = positive_literal(2, std::min<int64_t>(9, literal_bound()));
    return dice_.chance(0.5) ? binary(e, "%", k, kProduct) : binary(e, "+", k, kSum);
  }

  Expr condition(const Scope& s, const Block& b, int level) {
    static const std::vector<std::string> ops = {"<", "<=", ">", ">=", "==", "!="};
    const size_t kind = level > 0 ? dice_.weighted({6, 0.6, 0.6, 1, 1}) : dice_.weighted({6, 0.6});
    const auto& ints = s.ints;
    switch (kind) {
      case 1:
        if (!ints.empty()) {
          const int64_t lo = dice_.uniform(-3, 3);
          return {std::to_string(lo) + " <= " + dice_.pick(readable_ints(s)) + " < " + std::to_string(lo + dice_.uniform(1, 6)), kCompare};
        }
        break;
      case 2: return {"not " + at_least(condition(s, b, level - 1), kNot), kNot};
      case 3: return binary(condition(s, b, level - 1), "and", condition(s, b, level - 1), kAnd);
      case 4: return binary(condition(s, b, level - 1), "or", condition(s, b, level - 1), kOr);
      default: break;
    }
    const Expr left = named_expr(s, b);
    Expr right = dice_.chance(0.6) ? literal() : int_expr(s, 1, &b);
    if (right.text == left.text) right = literal();
    return compare(left, dice_.pick(ops), right);
  }

  // --- statements -----------------------------------------------------------------------------

  void assign_int(Scope& s, const Block& b) {
    std::vector<std::string> fresh, bound;
    for (const auto& t : int_targets_) (s.ints.count(t) ? bound : fresh).push_back(t);
    const bool augmented = !bound.empty() && (fresh.empty() || dice_.chance(0.45));
    if (augmented) {
      const auto& target = dice_.pick(bound);
      const size_t op = dice_.weighted({3, 2, 0.7});
      if (op == 2) {
        emit(b, target + " *= " + positive_literal(2, std::min<int64_t>(3, literal_bound())).text);
        return;
      }
      Expr step = int_expr(s, 1, &b);
      if (step.text == target) step = positive_literal(1, std::min<int64_t>(9, literal_bound()));  // not `a -= a`
      emit(b, target + (op == 0 ? " += " : " -= ") + step.text);
      return;
    }
    const auto& target = fresh.empty() || dice_.chance(0.2) ? dice_.pick(int_targets_) : fresh.front();
    emit(b, target + " = " + int_expr(s, 2, &b).text);
    s.ints.insert(target);
  }

  // A list local that is bound nowhere yet: a literal of up to 3 items.
  void new_list(Scope& s, const Block& b, const std::string& target) {
    const int len = static_cast<int>(dice_.uniform(0, std::min(3, o_.max_list_len)));
    std::string text = "[";
    for (int i = 0; i < len; ++i) text += (i ? ", " : "") + literal().text;
    emit(b, target + " = " + text + "]");
    s.lists[target] = len;
  }

  void simple_statement(Scope& s, const Block& b) {
    std::vector<std::string> fresh_lists, appendable;
    for (const auto& t : list_targets_)
      if (!s.lists.count(t)) fresh_lists.push_back(t);
    for (const auto& [n, len] : s.lists)
      if (!b.iterated.count(n)) appendable.push_back(n);
    const auto nonempty = lists_with(s, 1);
    const auto settable = o_.allow_errors && dice_.chance(nonempty.empty() ? 0.3 : 0.1) ? lists_with(s, 0) : nonempty;
    enum { kAssign, kNewList, kAppend, kSetItem, kPass };
    const size_t kind = dice_.weighted({6, fresh_lists.empty() ? 0 : 1.5, appendable.empty() ? 0.0 : 2.0,
                                        settable.empty() ? 0.0 : 1.0, 0.15});
    switch (kind) {
      case kNewList: new_list(s, b, fresh_lists.front()); break;
      case kAppend: {
        const auto& list = dice_.pick(appendable);
        emit(b, list + ".append(" + int_expr(s, 1, &b).text + ")");
        s.lists[list] += 1;
        break;
      }
      case kSetItem: {
        const auto& list = dice_.pick(settable);
        emit(b, list + "[" + index(s, list).text + "] = " + int_expr(s, 1, &b).text);
        break;
      }
      case kPass: emit(b, "pass"); break;
      default: assign_int(s, b); break;
    }
  }

  // A statement that leaves the branch: break / continue in a loop, sometimes an early return.
  bool jump_statement(const Scope& s, const Block& b) {
    if (b.in_loop && dice_.chance(0.25)) {
      emit(b, dice_.chance(0.5) ? "break" : "continue");
      return true;
    }
    if (dice_.chance(0.06)) {
      emit(b, "return " + int_expr(s, 1, &b).text);
      return true;
    }
    return false;
  }

  // Emits statements using exactly `n` simple statements (compound ones take their bodies' share).
  void block(Scope& s, const Block& b, int n) {
    while (n > 0) {
      const double u = dice_.unit();
      const bool nest = b.depth < depth_cap_;
      if (nest && u < o_.p_if)
        n -= if_statement(s, b, n);
      else if (nest && u < o_.p_if + o_.p_loop)
        n -= loop_statement(s, b, n);
      else {
        simple_statement(s, b);
        --n;
      }
    }
  }

  // How many of `n` statements go into a compound statement's bodies.
  int body_share(int n) { return static_cast<int>(dice_.uniform(1, std::max(1, std::min(n, n / 2 + 1)))); }

  Block inner(const Block& b) const {
    Block in = b;
    in.depth += 1;
    return in;
  }

  // A branch body of n statements, sometimes ending in a jump. Returns the scope at its end.
  Scope branch(const Scope& s, const Block& b, int n) {
    Scope in = s;
    block(in, b, n - 1);
    if (!jump_statement(in, b)) block(in, b, 1);
    return in;
  }

  int if_statement(Scope& s, const Block& b, int n) {
    const int total = body_share(n);
    int branches = 1;
    while (branches < std::min(total, 3) && dice_.chance(0.45)) ++branches;
    const bool has_else = branches >= 2 && dice_.chance(0.5);
    std::vector<int> sizes(branches, 1);
    for (int left = total - branches; left > 0; --left) sizes[dice_.uniform(0, branches - 1)] += 1;

    // Sometimes guard an unknown-length list, so the branch may index it.
    Scope then_scope = s;
    Expr test;
    std::vector<std::string> unknown;
    for (const auto& [l, len] : s.lists)
      if (len == 0) unknown.push_back(l);
    if (!unknown.empty() && dice_.chance(0.3)) {
      const auto& list = dice_.pick(unknown);
      const int at_least_len = static_cast<int>(dice_.uniform(1, 2));
      test = compare(call("len", {name(list)}), at_least_len == 1 ? ">" : ">=", {at_least_len == 1 ? "0" : "2"});
      then_scope.lists[list] = at_least_len;
    } else {
      test = condition(s, b, 1);
    }
    emit(b, "if " + test.text + ":");
    std::vector<Scope> ends = {branch(then_scope, inner(b), sizes[0])};
    for (int i = 1; i < branches; ++i) {
      if (i == branches - 1 && has_else)
        emit(b, "else:");
      else
        emit(b, "elif " + condition(s, b, 1).text + ":");
      ends.push_back(branch(s, inner(b), sizes[i]));
    }
    if (has_else) {
      Scope joined = ends[0];
      for (const auto& e : ends) joined = meet(joined, e);
      s = joined;
    }
    return total;
  }

  std::string free_name(const std::vector<std::string>& pool, const Block& b) const {
    for (const auto& n : pool)
      if (std::find(b.loop_names.begin(), b.loop_names.end(), n) == b.loop_names.end()) return n;
    return pool.back();  // unreachable: max_depth <= pool size
  }

  Block loop_body(const Block& b, const std::string& loop_name) const {
    Block in = inner(b);
    in.in_loop = true;
    in.loop_names.push_back(loop_name);
    return in;
  }

  // range(...) with at most max_loop_iters items.
  std::string range_args(const Scope& s) {
    const int64_t k = dice_.uniform(1, o_.max_loop_iters);
    const auto ints = readable_ints(s);
    switch (dice_.weighted({3, 1.5, 1, 1, ints.empty() ? 0.0 : 2.0})) {
      case 1: {
        const int64_t lo = dice_.uniform(1, 3);
        return std::to_string(lo) + ", " + std::to_string(lo + k);
      }
      case 2: return std::to_string(k) + ", 0, -1";
      case 3: return "0, " + std::to_string(2 * k) + ", 2";
      case 4: return "min(" + dice_.pick(ints) + ", " + std::to_string(k) + ")";
      default: return std::to_string(k);
    }
  }

  int loop_statement(Scope& s, const Block& b, int n) {
    const int total = body_share(n);
    const auto walkable = in_helper_ ? std::vector<std::string>{} : lists_with(s, 0);
    const size_t kind = dice_.weighted({3, total >= 2 ? 2.0 : 0.0, walkable.empty() ? 0.0 : 1.5});
    if (kind == 2) {  // for x in xs
      const auto& list = dice_.pick(walkable);
      const auto element = free_name(kElements, b);
      emit(b, "for " + element + " in " + list + ":");
      Block body = loop_body(b, element);
      body.iterated.insert(list);
      Scope in = s;
      in.ints.insert(element);
      branch(in, body, total);
      return total;
    }
    const auto counter = free_name(kCounters, b);
    Block body = loop_body(b, counter);
    if (kind == 0) {  // for i in range(...)
      emit(b, "for " + counter + " in range(" + range_args(s) + "):");
      Scope in = s;
      in.ints.insert(counter);
      branch(in, body, total);
      return total;
    }
    // while: the counter moves toward the bound first thing in the body, so continue cannot skip it.
    const int64_t k = dice_.uniform(1, o_.max_loop_iters);
    const auto ints = readable_ints(s);
    const std::string bound = !ints.empty() && dice_.chance(0.4) ? "min(" + dice_.pick(ints) + ", " + std::to_string(k) + ")"
                                                                  : std::to_string(k);
    std::string test, step;
    switch (dice_.uniform(0, 2)) {
      case 0:
        emit(b, counter + " = 0");
        test = counter + " < " + bound, step = counter + " += 1";
        break;
      case 1:
        emit(b, counter + " = " + bound);
        test = counter + " > 0", step = counter + " -= 1";
        break;
      default:
        emit(b, counter + " = 0");
        test = counter + " < " + std::to_string(2 * k), step = counter + " += 2";
        break;
    }
    s.ints.insert(counter);
    if (dice_.chance(0.2)) {
      const bool before = calls_here_;
      calls_here_ = false;  // the test runs every iteration: no recursion there
      test = binary({test, kCompare}, "and", condition(s, b, 0), kAnd).text;
      calls_here_ = before;
    }
    emit(b, "while " + test + ":");
    emit(body, step);
    if (total > 2) branch(s, body, total - 2);
    return total;
  }

  // --- functions ------------------------------------------------------------------------------

  void write_helper() {
    in_helper_ = true;
    depth_cap_ = std::min(1, o_.max_depth);
    helper_arity_ = static_cast<int>(dice_.uniform(1, 2));
    Scope s;
    for (int i = 0; i < helper_arity_; ++i) s.ints.insert(kIntParams[i]);
    lines_.push_back(helper_arity_ == 1 ? "def g(n):" : "def g(n, m):");
    int_targets_ = {kIntLocals.begin(), kIntLocals.begin() + std::min(o_.n_vars, 2)};
    list_targets_.clear();
    const Block top;
    block(s, top, static_cast<int>(dice_.uniform(0, 2)));
    emit(top, "return " + int_expr(s, 2, &top).text);
    lines_.push_back("");
    in_helper_ = false;
  }

  void write_entry() {
    depth_cap_ = o_.max_depth;
    const int n_params = static_cast<int>(dice_.uniform(1, o_.n_params));
    size_t n_ints = 0, n_lists = 0;
    Scope s;
    std::string signature;
    for (int i = 0; i < n_params; ++i) {
      const bool list = o_.allow_lists && n_lists < kListParams.size() && !(i == 0 && o_.allow_recursion) && dice_.chance(0.35);
      const auto& param = list ? kListParams[n_lists++] : kIntParams[n_ints++];
      entry_params_.emplace_back(param, list);
      if (list)
        s.lists[param] = 0;
      else
        s.ints.insert(param);
      signature += (i ? ", " : "") + param;
    }
    lines_.push_back("def f(" + signature + "):");
    int_targets_.clear();
    for (const auto& [param, list] : entry_params_)
      if (!list && !(o_.allow_recursion && param == entry_params_[0].first)) int_targets_.push_back(param);
    int_targets_.insert(int_targets_.end(), kIntLocals.begin(), kIntLocals.begin() + o_.n_vars);
    list_targets_.clear();
    if (o_.allow_lists) list_targets_ = kListLocals;
    helper_calls_left_ = o_.allow_calls ? 2 : 0;

    const Block top;
    int n = static_cast<int>(dice_.uniform((o_.n_statements + 1) / 2, o_.n_statements));
    if (o_.allow_recursion) {
      n = std::max(n, 2);
      base_case(s, top);
      n -= 1;
      recursive_calls_left_ = dice_.chance(0.2) ? 2 : 1;
    }
    block(s, top, n - 1);
    emit(top, "return " + final_value(s, top).text);
  }

  // `if n <= 0: return ...` ahead of any recursive call, so every call is on a smaller n >= 0.
  void base_case(const Scope& s, const Block& top) {
    const auto& n = entry_params_[0].first;
    static const std::vector<std::string> guards = {" <= 0:", " < 1:", " <= 1:", " < 2:"};
    emit(top, "if " + n + dice_.pick(guards));
    const bool before = calls_here_;
    calls_here_ = false;
    emit(inner(top), "return " + int_expr(s, 1, &top).text);
    calls_here_ = before;
  }

  // f's return value; it makes the helper call or the recursive call if none happened yet.
  Expr final_value(const Scope& s, const Block& top) {
    const auto lists = lists_with(s, 0);
    const bool returns_list = !o_.allow_recursion && !lists.empty() && dice_.chance(0.25);
    Expr value = returns_list                           ? name(dice_.pick(lists))
                 : dice_.chance(0.5) && !s.ints.empty() ? name(dice_.pick(readable_ints(s)))
                                                        : int_expr(s, 1, &top);
    if (o_.allow_recursion && recursive_calls_made_ == 0) {
      recursive_calls_left_ = std::max(recursive_calls_left_, 1);
      value = binary(recursive_call(s), "+", value, kSum);
    }
    if (o_.allow_calls && helper_calls_made_ == 0) {
      helper_calls_left_ = std::max(helper_calls_left_, 1);
      const Expr g = helper_call(s);
      value = returns_list ? g : binary(value, "+", g, kSum);
    }
    return value;
  }

  std::string entry_call() {
    const int64_t bound = literal_bound();
    std::string text = "f(";
    for (size_t i = 0; i < entry_params_.size(); ++i) {
      text += i ? ", " : "";
      if (entry_params_[i].second) {
        const auto len = dice_.uniform(0, o_.max_list_len);
        text += "[";
        for (int64_t j = 0; j < len; ++j) text += (j ? ", " : "") + std::to_string(input_int(bound));
        text += "]";
      } else if (i == 0 && o_.allow_recursion) {
        text += std::to_string(dice_.uniform(0, std::min<int64_t>(bound, std::max(3, o_.max_loop_iters))));
      } else {
        text += std::to_string(input_int(bound));
      }
    }
    return text + ")";
  }

  int64_t input_int(int64_t bound) {
    const int64_t v = dice_.uniform(0, bound);
    return dice_.chance(0.25) ? -v : v;
  }
};

// True when every int in a repr (an int, bool or flat list) has at most value_digits digits and a
// list at most max_len items.
bool repr_in_bounds(const std::string& repr, int value_digits, int max_len) {
  int digits = 0, commas = 0;
  bool item = false;
  for (char c : repr) {
    digits = c >= '0' && c <= '9' ? digits + 1 : 0;
    if (digits > value_digits) return false;
    if (c == '[') commas = 0, item = false;
    if (c == ',') ++commas;
    if (c != '[' && c != ']' && c != ' ' && c != ',') item = true;
    if (c == ']' && (item ? commas + 1 : 0) > max_len) return false;
  }
  return true;
}

// Why a candidate was turned down (for the error after max_attempts).
enum Rejection { kOutcome, kTooLong, kValues, kLoops, kLines, kRejections };
const char* kRejectionNames[] = {"outcome", "trace length", "value bound", "loop iterations", "line count"};

std::optional<Rejection> check(const GeneratorOptions& o, const TraceExample& ex) {
  const Trace& t = ex.trace;
  if (!(t.outcome == Outcome::Returned || (o.allow_errors && t.outcome == Outcome::Raised))) return kOutcome;
  if (ex.n_events > o.max_trace_events) return kTooLong;
  if (ex.loop_iters > o.max_loop_iters) return kLoops;
  for (const auto& e : t.events) {
    for (const auto& [n, repr] : e.locals)
      if (!repr_in_bounds(repr, o.value_digits, o.max_list_len)) return kValues;
    if (e.kind == EventKind::Return && !repr_in_bounds(e.value, o.value_digits, o.max_list_len)) return kValues;
  }
  if (t.outcome == Outcome::Returned && !repr_in_bounds(t.result, o.value_digits, o.max_list_len)) return kValues;
  return std::nullopt;
}

}  // namespace

GeneratorOptions GeneratorOptions::from_config(Config& config, const std::string& prefix) {
  GeneratorOptions o;
  const auto key = [&](const char* name) { return prefix.empty() ? std::string(name) : prefix + "." + name; };
  const auto get_int = [&](const char* name, int64_t def) { return static_cast<int>(config.get_int(key(name), def, 0, 1 << 30)); };
  o.n_statements = get_int("n_statements", o.n_statements);
  o.max_depth = get_int("max_depth", o.max_depth);
  o.max_loop_iters = get_int("max_loop_iters", o.max_loop_iters);
  o.n_vars = get_int("n_vars", o.n_vars);
  o.n_params = get_int("n_params", o.n_params);
  o.digits = get_int("digits", o.digits);
  o.value_digits = get_int("value_digits", o.value_digits);
  o.p_if = config.get_float(key("p_if"), o.p_if, 0.0, 1.0);
  o.p_loop = config.get_float(key("p_loop"), o.p_loop, 0.0, 1.0);
  o.allow_lists = config.get_bool(key("allow_lists"), o.allow_lists);
  o.max_list_len = get_int("max_list_len", o.max_list_len);
  o.allow_calls = config.get_bool(key("allow_calls"), o.allow_calls);
  o.allow_recursion = config.get_bool(key("allow_recursion"), o.allow_recursion);
  o.allow_errors = config.get_bool(key("allow_errors"), o.allow_errors);
  o.fuel = config.get_int(key("fuel"), o.fuel, 1);
  o.max_trace_events = get_int("max_trace_events", o.max_trace_events);
  o.max_attempts = get_int("max_attempts", o.max_attempts);
  try {
    validate(o);
  } catch (const InputError& e) {
    throw InputError(config.source() + ": [" + prefix + "] " + e.what());
  }
  return o;
}

TraceExample generate_example(const GeneratorOptions& options, std::mt19937_64& rng) {
  validate(options);
  InterpreterLimits limits;
  limits.max_steps = options.fuel;
  limits.max_list_length = options.max_list_len;
  int rejected[kRejections] = {};
  for (int attempt = 0; attempt < options.max_attempts; ++attempt) {
    TraceExample ex;
    std::tie(ex.source, ex.call) = ProgramBuilder(options, rng).build();
    if (std::count(ex.source.begin(), ex.source.end(), '\n') > kMaxLines) {
      rejected[kLines] += 1;
      continue;
    }
    Program program;
    try {
      program = Program::parse(ex.source);
    } catch (const SyntaxError& e) {
      throw std::logic_error("generator wrote a program the interpreter cannot parse (" + std::string(e.what()) + "):\n" + ex.source);
    }
    ex.trace = run_call(program, ex.call, limits);
    fill_features(ex);
    if (auto why = check(options, ex)) {
      rejected[*why] += 1;
      continue;
    }
    return ex;
  }
  std::string reasons;
  for (int r = 0; r < kRejections; ++r)
    if (rejected[r]) reasons += std::string(reasons.empty() ? "" : ", ") + kRejectionNames[r] + " " + std::to_string(rejected[r]);
  throw RunError("generator: no candidate passed in " + std::to_string(options.max_attempts) + " attempts (rejected for " +
                 reasons + "); raise fuel, max_trace_events or value_digits, or lower n_statements");
}

std::vector<TraceExample> generate_examples(const GeneratorOptions& options, int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TraceExample> out;
  std::set<std::pair<std::string, std::string>> seen;
  int64_t duplicates = 0;
  while (static_cast<int64_t>(out.size()) < count) {
    auto ex = generate_example(options, rng);
    if (!seen.emplace(ex.source, ex.call).second) {
      // A narrow setting (one statement, no lists) has few distinct programs: say so instead of spinning.
      if (++duplicates > 1000 + 10 * count)
        throw RunError("generator: only " + std::to_string(out.size()) + " distinct programs after " + std::to_string(duplicates) +
                       " duplicates; ask for fewer or widen the knobs");
      continue;
    }
    out.push_back(std::move(ex));
  }
  return out;
}

}  // namespace beyond::wm
