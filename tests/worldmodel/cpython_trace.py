"""The independent reference for the PyLite interpreter: real CPython 3.11 under sys.settrace.

Reads JSON Lines {"source": ..., "call": ...} on stdin and prints, for each, one JSON line in the
schema of worldmodel/trace.h: {"events": [...], "outcome": "Returned" | "Raised", "result": ...}.
Locals are repr strings in co_varnames order (f_locals' own order is not canonical in 3.11).
"""
import json
import sys

FILENAME = "<pylite>"


def trace_call(source, call):
    events = []

    def record(frame, event, arg):
        code = frame.f_code
        entry = {"event": event, "func": code.co_name, "line": frame.f_lineno, "locals": None, "value": None}
        if event in ("call", "line"):
            bound = frame.f_locals
            entry["locals"] = [[name, repr(bound[name])] for name in code.co_varnames if name in bound]
        elif event == "return":
            entry["value"] = repr(arg)
        elif event == "exception":
            entry["value"] = arg[0].__name__
        events.append(entry)

    def local_tracer(frame, event, arg):
        record(frame, event, arg)
        return local_tracer

    def global_tracer(frame, event, arg):
        if frame.f_code.co_filename != FILENAME:
            return None
        record(frame, event, arg)
        return local_tracer

    namespace = {}
    exec(compile(source, FILENAME, "exec"), namespace)
    call_code = compile(call, "<call>", "eval")
    sys.settrace(global_tracer)
    try:
        result = eval(call_code, namespace)
        outcome, value = "Returned", repr(result)
    except Exception as error:  # the traced program raised: its trace already ends in returns
        outcome, value = "Raised", type(error).__name__
    finally:
        sys.settrace(None)
    return {"events": events, "outcome": outcome, "result": value}


def main():
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"cpython_trace.py needs Python 3.11 (settrace rules differ in 3.12+), got {sys.version.split()[0]}")
    for line in sys.stdin:
        if line.strip():
            item = json.loads(line)
            print(json.dumps(trace_call(item["source"], item["call"])), flush=True)


if __name__ == "__main__":
    main()
