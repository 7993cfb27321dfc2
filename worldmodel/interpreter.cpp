#include "worldmodel/interpreter.h"

#include <pthread.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>

#include "core/errors.h"
#include "worldmodel/ast.h"
#include "worldmodel/parser.h"

namespace beyond::wm {

namespace {

// The interpreter recurses on the C++ stack (calls, blocks, expressions; the parser caps the
// nesting inside one call). A run that needs more stack than kStackGuardBytes ends with a
// RecursionError instead of a crash. It first runs on the caller's thread with a guard at what
// that thread has left; only if that runs out is it run again, from the start, on a thread of
// its own with a large stack (a run is deterministic, so the trace is the same either way).
constexpr size_t kStackBytes = size_t{64} << 20;
constexpr size_t kStackGuardBytes = kStackBytes / 4 * 3;
constexpr size_t kStackMargin = size_t{1} << 20;  // for the recursion inside a call: expressions, repr

struct StackExhausted {};  // the caller's thread has no stack left for this run

constexpr int64_t kLocalCost = 64;  // work units for one local in one event, besides its text

// The lowest address of this thread's stack (nullptr if unknown), looked up once per thread.
const char* stack_low() {
  thread_local const char* low = [] {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &addr, &size);
      pthread_attr_destroy(&attr);
    }
    return static_cast<const char*>(addr);
  }();
  return low;
}

// How much of this thread's stack a run started here may use: 0 if it is too little to try.
size_t stack_left_here() {
  const char here = 0;
  const char* low = stack_low();
  const auto at = reinterpret_cast<uintptr_t>(&here), bottom = reinterpret_cast<uintptr_t>(low);
  if (!low || at <= bottom) return 0;
  const auto left = static_cast<size_t>(at - bottom);
  return left < 2 * kStackMargin ? 0 : std::min(left - kStackMargin, kStackGuardBytes);
}

void run_on_large_stack(const std::function<void()>& work) {
  struct Job {
    const std::function<void()>* work;
    std::exception_ptr error;
  } job{&work, nullptr};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackBytes);
  pthread_t thread;
  auto body = [](void* p) -> void* {
    auto* j = static_cast<Job*>(p);
    try {
      (*j->work)();
    } catch (...) {
      j->error = std::current_exception();
    }
    return nullptr;
  };
  const int rc = pthread_create(&thread, &attr, body, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) throw RunError("run_call: cannot start the interpreter's thread (pthread_create: " + std::to_string(rc) + ")");
  pthread_join(thread, nullptr);
  if (job.error) std::rethrow_exception(job.error);
}

enum class Flow { Normal, Break, Continue, Return };

struct Frame {
  const Function& function;
  std::vector<Value> slots;  // co_varnames order; Unbound until assigned
  int line;                  // the frame's current line: its last line event (the def line at first)
  Value result = Value::none();
};

// Python's iterators over a range (lazy, never overflowing) and over a list (live: items
// appended during the loop are seen, as by Python's list iterator).
class LoopIterator {
 public:
  static LoopIterator over_range(const RangeSpec& r) {
    LoopIterator it;
    it.range_ = r;
    it.next_ = r.start;
    return it;
  }
  static LoopIterator over_list(List* list) {
    LoopIterator it;
    it.list_ = list;
    return it;
  }

  bool next(Value& out) {
    if (list_) {
      if (index_ >= list_->items.size()) return false;
      out = list_->items[index_++];
      return true;
    }
    if (done_ || (range_.step > 0 ? next_ >= range_.stop : next_ <= range_.stop)) return false;
    out = Value::integer(next_);
    done_ = __builtin_add_overflow(next_, range_.step, &next_);  // past int64 is past the stop too
    return true;
  }

 private:
  List* list_ = nullptr;
  size_t index_ = 0;
  RangeSpec range_;
  int64_t next_ = 0;
  bool done_ = false;
};

class Interpreter {
 public:
  // stack_bytes: how much stack the run may use; past it, a RecursionError (final_stack) or
  // StackExhausted (to run again on a larger stack).
  Interpreter(const Module& module, const InterpreterLimits& limits, size_t stack_bytes, bool final_stack)
      : module_(module),
        limits_(limits),
        heap_(limits.max_list_length, limits.max_work),
        stack_bytes_(stack_bytes),
        final_stack_(final_stack) {}

  Trace run(const Function& f, const std::vector<Literal>& args) {
    const char marker = 0;
    stack_base_ = reinterpret_cast<uintptr_t>(&marker);
    Trace trace;
    std::vector<Value> values;
    try {
      for (const auto& a : args) values.push_back(make_value(a));
      call(f, std::move(values));
      trace.outcome = Outcome::Returned;
      trace.result = events_.back().value;  // the entry frame's return event
    } catch (const PyException& e) {
      trace.outcome = e.outcome;
      trace.result = e.name;
    }
    trace.events = std::move(events_);
    return trace;
  }

 private:
  Value make_value(const Literal& l) {
    if (l.type == Value::Type::Bool) return Value::boolean(l.number != 0);
    if (l.type != Value::Type::List) return Value::integer(l.number);
    std::vector<Value> items;
    for (const auto& item : l.items) items.push_back(make_value(item));
    return Value::of(heap_.new_list(std::move(items)));
  }

  // ---- events
  void emit(EventKind kind, const Frame& frame, Locals locals = {}, std::string value = {}) {
    events_.push_back({kind, frame.function.name, frame.line, std::move(locals), std::move(value)});
  }

  // The bound locals, paid for from the work budget like the memory they take in the trace.
  Locals snapshot(const Frame& frame) {
    Locals locals;
    heap_.spend(static_cast<int64_t>(frame.slots.size()) / 8);
    for (size_t i = 0; i < frame.slots.size(); ++i) {
      if (!frame.slots[i].bound()) continue;
      const std::string& name = frame.function.locals[i];
      heap_.spend(kLocalCost + static_cast<int64_t>(name.size()));
      locals.emplace_back(name, repr(frame.slots[i], heap_));
    }
    return locals;
  }

  // Before each statement, and at a loop header each time control comes back to it.
  void line_event(Frame& frame, int line) {
    frame.line = line;
    if (steps_ >= limits_.max_steps) raise_step_limit();
    ++steps_;
    emit(EventKind::Line, frame, snapshot(frame));
  }

  // ---- calls
  Value call(const Function& f, std::vector<Value> args) {
    const char here = 0;
    if (stack_base_ - reinterpret_cast<uintptr_t>(&here) > stack_bytes_) {
      if (!final_stack_) throw StackExhausted{};
      raise_depth_limit();
    }
    if (depth_ >= limits_.max_call_depth) raise_depth_limit();
    Frame frame{f, std::vector<Value>(f.locals.size()), f.line};
    std::copy(args.begin(), args.end(), frame.slots.begin());
    ++depth_;
    try {
      emit(EventKind::Call, frame, snapshot(frame));
      const Flow flow = exec_block(frame, f.body);
      const Value result = flow == Flow::Return ? frame.result : Value::none();
      emit(EventKind::Return, frame, {}, repr(result, heap_));
      --depth_;
      return result;
    } catch (const PyException& e) {
      emit(EventKind::Exception, frame, {}, e.name);
      emit(EventKind::Return, frame, {}, "None");
      --depth_;
      throw;
    }
  }

  std::vector<Value> eval_all(Frame& frame, const std::vector<Expr>& exprs, size_t from = 0) {
    std::vector<Value> values;
    values.reserve(exprs.size() - from);
    for (size_t i = from; i < exprs.size(); ++i) values.push_back(eval(frame, exprs[i]));
    return values;
  }

  Value call_builtin(Builtin builtin, const std::vector<Value>& args) {
    switch (builtin) {
      case Builtin::Len: return builtin_len(args);
      case Builtin::Abs: return builtin_abs(args);
      case Builtin::Min: return builtin_min_max(false, args, heap_);
      case Builtin::Max: return builtin_min_max(true, args, heap_);
      case Builtin::Range: break;  // only as a loop's iterable (the parser sees to it)
    }
    raise_python("TypeError");
  }

  // ---- statements
  Flow exec_block(Frame& frame, const std::vector<Stmt>& block) {
    for (const auto& s : block) {
      const Flow flow = exec(frame, s);
      if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
  }

  Flow exec(Frame& frame, const Stmt& s) {
    line_event(frame, s.line);
    switch (s.kind) {
      case StmtKind::Assign: {
        const Value v = eval(frame, *s.value);
        for (const auto& t : s.targets) assign(frame, t, v);
        return Flow::Normal;
      }
      case StmtKind::AugAssign: augmented_assign(frame, s); return Flow::Normal;
      case StmtKind::Expression: eval(frame, *s.value); return Flow::Normal;
      case StmtKind::Return:
        frame.result = s.value ? eval(frame, *s.value) : Value::none();
        return Flow::Return;
      case StmtKind::Pass: return Flow::Normal;
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
      case StmtKind::If:  // an elif is the If in orelse: its own line event; `else:` has none
        if (truthy(eval(frame, *s.value))) return exec_block(frame, s.body);
        return exec_block(frame, s.orelse);
      case StmtKind::While: return exec_while(frame, s);
      case StmtKind::For: return exec_for(frame, s);
    }
    return Flow::Normal;
  }

  // The header's event fires at every test, the final false one included.
  Flow exec_while(Frame& frame, const Stmt& s) {
    while (true) {
      if (!truthy(eval(frame, *s.value))) return exec_block(frame, s.orelse);
      const Flow flow = exec_block(frame, s.body);
      if (flow == Flow::Break) return Flow::Normal;
      if (flow == Flow::Return) return flow;
      line_event(frame, s.line);
    }
  }

  // The header's event fires before each item is fetched, and once more when none is left.
  Flow exec_for(Frame& frame, const Stmt& s) {
    LoopIterator it = iterate(frame, *s.value);
    for (bool first = true;; first = false) {
      if (!first) line_event(frame, s.line);
      Value item;
      if (!it.next(item)) return exec_block(frame, s.orelse);
      assign(frame, s.targets[0], item);
      const Flow flow = exec_block(frame, s.body);
      if (flow == Flow::Break) return Flow::Normal;
      if (flow == Flow::Return) return flow;
    }
  }

  LoopIterator iterate(Frame& frame, const Expr& iterable) {
    if (iterable.kind == ExprKind::CallBuiltin && iterable.builtin == Builtin::Range)
      return LoopIterator::over_range(make_range(eval_all(frame, iterable.operands)));
    const Value v = eval(frame, iterable);
    if (!v.is_list()) raise_python("TypeError");  // not iterable
    return LoopIterator::over_list(v.list);
  }

  // The value is computed first, then the target's container and index (CPython's order).
  void assign(Frame& frame, const Expr& target, const Value& v) {
    if (target.kind == ExprKind::Local) {
      frame.slots[target.slot] = v;
      return;
    }
    const Value container = eval(frame, target.operands[0]);
    const Value index = eval(frame, target.operands[1]);
    set_item(container, index, v);
  }

  // The target is read before the value is computed; lists extend / repeat in place.
  void augmented_assign(Frame& frame, const Stmt& s) {
    const Expr& target = s.targets[0];
    if (target.kind == ExprKind::Local) {
      const Value current = load(frame, target);
      const Value v = eval(frame, *s.value);
      frame.slots[target.slot] = in_place(s.op, current, v, heap_);
      return;
    }
    const Value container = eval(frame, target.operands[0]);
    const Value index = eval(frame, target.operands[1]);
    const Value current = get_item(container, index);
    const Value v = eval(frame, *s.value);
    set_item(container, index, in_place(s.op, current, v, heap_));
  }

  // ---- expressions
  static Value load(const Frame& frame, const Expr& local) {
    const Value& v = frame.slots[local.slot];
    if (!v.bound()) raise_python("UnboundLocalError");
    return v;
  }

  Value eval(Frame& frame, const Expr& e) {
    switch (e.kind) {
      case ExprKind::Int: return Value::integer(e.number);
      case ExprKind::Bool: return Value::boolean(e.number != 0);
      case ExprKind::None: return Value::none();
      case ExprKind::Local: return load(frame, e);
      case ExprKind::Global: raise_python("NameError");
      case ExprKind::List: return Value::of(heap_.new_list(eval_all(frame, e.operands)));
      case ExprKind::Index: {
        const Value container = eval(frame, e.operands[0]);
        return get_item(container, eval(frame, e.operands[1]));
      }
      case ExprKind::Negate: return negate(eval(frame, e.operands[0]));
      case ExprKind::Plus: return unary_plus(eval(frame, e.operands[0]));
      case ExprKind::Not: return Value::boolean(!truthy(eval(frame, e.operands[0])));
      case ExprKind::Arithmetic: {
        Value v = eval(frame, e.operands[0]);
        for (size_t i = 0; i < e.binary_ops.size(); ++i) v = binary(e.binary_ops[i], v, eval(frame, e.operands[i + 1]), heap_);
        return v;
      }
      case ExprKind::Compare: {  // a < b < c: b evaluated once, c only if a < b
        Value left = eval(frame, e.operands[0]);
        for (size_t i = 0; i < e.compare_ops.size(); ++i) {
          Value right = eval(frame, e.operands[i + 1]);
          if (!compare(e.compare_ops[i], left, right, heap_)) return Value::boolean(false);
          left = right;
        }
        return Value::boolean(true);
      }
      case ExprKind::And:
      case ExprKind::Or: {  // yields the operand that decided, as Python does
        const bool stop_when = e.kind == ExprKind::Or;
        Value v;
        for (const auto& o : e.operands) {
          v = eval(frame, o);
          if (truthy(v) == stop_when) break;
        }
        return v;
      }
      case ExprKind::CallFunction: {
        const Function& f = module_.functions[e.slot];
        std::vector<Value> args = eval_all(frame, e.operands);
        if (static_cast<int>(args.size()) != f.n_params) raise_python("TypeError");
        return call(f, std::move(args));
      }
      case ExprKind::CallBuiltin: return call_builtin(e.builtin, eval_all(frame, e.operands));
      case ExprKind::CallLocal:  // an int, bool, list or None: none is callable
        load(frame, e);
        eval_all(frame, e.operands);
        raise_python("TypeError");
      case ExprKind::CallGlobal: raise_python("NameError");  // the name is looked up before the arguments
      case ExprKind::Append: {
        const Value receiver = eval(frame, e.operands[0]);
        if (!receiver.is_list()) raise_python("AttributeError");  // looked up before the arguments
        const std::vector<Value> args = eval_all(frame, e.operands, 1);
        if (args.size() != 1) raise_python("TypeError");
        append(receiver, args[0], heap_);
        return Value::none();
      }
      case ExprKind::Name:
      case ExprKind::CallName: break;  // resolved by the parser
    }
    raise_python("SystemError");
  }

  const Module& module_;
  InterpreterLimits limits_;
  Heap heap_;
  std::vector<TraceEvent> events_;
  int64_t steps_ = 0;
  int depth_ = 0;
  uintptr_t stack_base_ = 0;  // where the run's stack use is measured from
  size_t stack_bytes_;
  bool final_stack_;
};

// The callee and its arguments, checked against the program.
std::pair<const Function*, CallSpec> checked_call(const Program& program, const std::string& call) {
  CallSpec spec = parse_call(call);
  const int index = program.module().find(spec.function);
  if (index < 0) {
    std::string names;
    for (const auto& n : program.function_names()) names += (names.empty() ? "" : ", ") + n;
    throw InputError("call '" + call + "': the program has no function '" + spec.function + "' (it defines " +
                     (names.empty() ? "none" : names) + ")");
  }
  const Function& f = program.module().functions[index];
  if (static_cast<int>(spec.args.size()) != f.n_params)
    throw InputError("call '" + call + "': " + f.name + " takes " + std::to_string(f.n_params) + " argument(s), the call gives " +
                     std::to_string(spec.args.size()));
  return {&f, std::move(spec)};
}

}  // namespace

Trace run_call(const Program& program, const std::string& call, const InterpreterLimits& limits) {
  const auto [function, spec] = checked_call(program, call);
  if (const size_t here = stack_left_here()) {
    try {
      return Interpreter(program.module(), limits, here, false).run(*function, spec.args);
    } catch (const StackExhausted&) {
    }
  }
  Trace trace;
  run_on_large_stack(
      [&] { trace = Interpreter(program.module(), limits, kStackGuardBytes, true).run(*function, spec.args); });
  return trace;
}

std::string canonical_call(const Program& program, const std::string& call) {
  const auto [function, spec] = checked_call(program, call);
  std::string out = spec.function + "(";
  for (size_t i = 0; i < spec.args.size(); ++i) out += (i ? ", " : "") + literal_repr(spec.args[i]);
  return out + ")";
}

}  // namespace beyond::wm
