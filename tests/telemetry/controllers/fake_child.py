"""A scripted child for SubprocessRunner tests: speaks the line protocol, misbehaves on cue.

Ops: ``echo`` (returns args), ``sleep`` (args.s seconds, then answers), ``crash`` (exits
with status 7 without answering), ``garbage`` (answers a non-JSON line), ``wrong_id``
(answers another id), ``noisy`` (writes args.n bytes to stderr, then answers), ``input``
(an input error), ``fail`` (an internal error), ``huge`` (a line of args.n bytes),
``pid`` (its process id), ``partial`` (no ok/result/error).
"""

import json
import os
import sys
import time


def main() -> None:
    sys.stderr.write("fake child ready\n")
    sys.stderr.flush()
    for line in sys.stdin:
        request = json.loads(line)
        rid, op, args = request["id"], request["op"], request["args"]
        if op == "crash":
            sys.stderr.write("fake child crashing on purpose\n")
            sys.stderr.flush()
            os._exit(7)
        if op == "sleep":
            time.sleep(args["s"])
        if op == "noisy":
            sys.stderr.write("x" * args["n"])
            sys.stderr.flush()
        if op == "garbage":
            out = "this is not json"
        elif op == "wrong_id":
            out = json.dumps({"id": rid + 1000, "ok": True, "result": None})
        elif op == "input":
            out = json.dumps({"id": rid, "ok": False, "error": {"type": "input", "message": "bad"}})
        elif op == "fail":
            out = json.dumps(
                {"id": rid, "ok": False, "error": {"type": "internal", "message": "boom"}}
            )
        elif op == "huge":
            out = json.dumps({"id": rid, "ok": True, "result": "y" * args["n"]})
        elif op == "partial":
            out = json.dumps({"id": rid})
        elif op == "pid":
            out = json.dumps({"id": rid, "ok": True, "result": os.getpid()})
        else:
            out = json.dumps({"id": rid, "ok": True, "result": args})
        sys.stdout.write(out + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
