"""Autobahn conformance gate for pushpull, run by kosoku (sections 1 to 13).

Run with the project's virtual environment (scripts/setup.sh creates it):

    .venv/bin/python scripts/autobahn.py server target/release/pushpull
    .venv/bin/python scripts/autobahn.py client \\
        'target/release/pushpull autobahn-client --url {url} --agent {agent}'

Both modes select the cases of sections 1 to 13 (`-i 1.* ... -i 13.*`: a
pattern `N.*` matches section N only, so `1.*` does not pick up 10, 12 or 13;
the suite has no section 8 nor 11, and kosoku refuses a pattern matching
nothing), keep kosoku's report under reports/server/ or reports/client/ at
the repo root, and then judge the report themselves. Sections 12 and 13 test
permessage-deflate (RFC 7692), which both the server and the client
negotiate. `--section N` (repeatable) narrows a run to some sections, for
development; the gate in scripts/test.sh runs them all. A case passes only when both its
`behavior` and its `behaviorClose` are OK or INFORMATIONAL; NON-STRICT,
FAILED, UNIMPLEMENTED, any other verdict and a missing case fail the gate.
kosoku's own exit status is laxer (it accepts NON-STRICT), so it is not used.
The expected case list comes from the suite's own index (`kosoku.cases`).

Report format (what this script reads). kosoku writes into its `-o DIR`:
  DIR/index.json        {agent: {case_id: {"behavior", "behaviorClose",
                         "remoteCloseCode", "duration", "reportfile"}}}
  DIR/<agent>_case_<id with _>.json / .html   full per-case report
  DIR/index.html        the overview table
`agent` is the peer's `Server` header in server mode and the `agent` query
parameter in client mode.

server mode: starts `PUSHPULL serve --addr 127.0.0.1:PORT` on a free port,
waits until it accepts TCP, runs `kosoku ws://127.0.0.1:PORT/echo`, stops the
server and checks the report. The server's output goes to
reports/server/pushpull.log.

client mode: starts `kosoku -m fuzzingserver 127.0.0.1:PORT`, then runs the
client command, a template in which `{url}` becomes ws://127.0.0.1:PORT,
`{port}` the port and `{agent}` the agent name (--agent, default
"pushpull"; without --agent the report's only agent is judged, whatever its
name). The fuzzingserver protocol a client must follow:

  1. Open a WebSocket to  {url}/getCaseCount
     The server sends one text message, the number of selected cases N as
     decimal ("301"), then closes normally.
  2. For each n in 1..=N, in order, open a WebSocket to
         {url}/runCase?case=n&agent=AGENT
     and echo every message back with the same opcode (text stays text,
     binary stays binary) until the server closes. This connection is the
     test: answer pings, validate UTF-8, fail on protocol errors with the
     right close code, as RFC 6455 requires. Case n is the n-th case of the
     selection in suite order (1.1.1 is 1). Without `agent`, kosoku uses the
     client's User-Agent header as the agent name.
  3. Open a WebSocket to  {url}/updateReports?agent=AGENT
     kosoku then writes the reports and ends the run; it drops this
     connection without a close frame, so a client must treat that as
     success.
  Only these three paths are meaningful: any other path that carries
  `case=` is run as that case, so a stray request becomes a bogus result.
  Until step 3 the fuzzingserver keeps waiting; this script stops it after
  the client command exits (plus a short grace period) and fails the gate.

Exit status: 0 when the gate passes, 1 when it fails or cannot run, 2 on\nusage errors (argparse).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REPORTS = REPO_ROOT / "reports"

SECTIONS = range(1, 14)
PASSING = {"OK", "INFORMATIONAL"}
MISSING = "MISSING"

HOST = "127.0.0.1"
DEFAULT_AGENT = "pushpull"

# Bounds on every wait. Sections 1 to 13 take a few minutes with a
# conforming peer; the run limit leaves room for a slow shared machine.
LISTEN_TIMEOUT_S = 15.0
RUN_TIMEOUT_S = 30 * 60.0
CLIENT_GRACE_S = 30.0
STOP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.05

EXIT_PASS, EXIT_FAIL = 0, 1

CASE_INDEX_PROGRAM = "import json; from kosoku.cases import CASES; print(json.dumps(list(CASES)))"


class GateError(Exception):
    """The gate could not run to a verdict (a tool failed to start or stop)."""


def main() -> int:
    # Line-buffered, so our lines and kosoku's interleave in order in CI logs.
    sys.stdout.reconfigure(line_buffering=True)
    args = parse_args()
    if args.section:
        global SECTIONS
        SECTIONS = tuple(args.section)
    try:
        if args.mode == "server":
            return run_server_mode(args)
        return run_client_mode(args)
    except GateError as error:
        print(f"autobahn: {error}", file=sys.stderr)
        print_final(args.mode, passed=False)
        return EXIT_FAIL


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Autobahn (kosoku) conformance gate, sections 1 to 13."
    )
    parser.add_argument(
        "--section",
        type=int,
        action="append",
        help="run only this section (repeatable; default: all of 1 to 13)",
    )
    modes = parser.add_subparsers(dest="mode", required=True)

    server = modes.add_parser("server", help="test `pushpull serve` at /echo")
    server.add_argument("binary", type=Path, help="path to the pushpull binary")
    server.add_argument(
        "-p",
        "--parallelism",
        type=int,
        default=2,
        help="cases kosoku runs at once (default: 2)",
    )

    client = modes.add_parser("client", help="test a client against the fuzzingserver")
    client.add_argument(
        "command",
        help="client command template with {url}, {port} and {agent} placeholders",
    )
    client.add_argument(
        "--agent",
        help="agent name the client reports; when omitted, {agent} is "
        f"{DEFAULT_AGENT!r} and the report's only agent is judged",
    )
    return parser.parse_args()


# --- server mode -----------------------------------------------------------


def run_server_mode(args: argparse.Namespace) -> int:
    outdir = fresh_report_dir("server")
    if not args.binary.is_file():
        raise GateError(f"no binary at {args.binary}: build it first")

    port = free_port()
    log_path = outdir / "pushpull.log"
    command = [str(args.binary), "serve", "--addr", f"{HOST}:{port}"]
    started = time.monotonic()
    with open(log_path, "wb") as log_file:
        server = start(command, log_file)
        try:
            wait_for_listener(server, port, log_path)
            run_kosoku_against(port, outdir, args.parallelism)
        finally:
            stop(server)
    print(f"autobahn: the run took {time.monotonic() - started:.1f} s")

    return judge("server", outdir, agent=None)


def run_kosoku_against(port: int, outdir: Path, parallelism: int) -> None:
    url = f"ws://{HOST}:{port}/echo"
    command = [str(kosoku_path()), url, "-o", str(outdir), "-p", str(parallelism)]
    command += section_patterns()
    print(f"autobahn: {shlex.join(command)}")

    # kosoku exits 1 when a case fails by its own (laxer) standard; the
    # report decides, so the status is only shown.
    try:
        finished = subprocess.run(command, cwd=REPO_ROOT, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as timeout:
        raise GateError(f"kosoku did not finish within {RUN_TIMEOUT_S:.0f} s") from timeout
    print(f"autobahn: kosoku exited with status {finished.returncode}")


# --- client mode -----------------------------------------------------------


def run_client_mode(args: argparse.Namespace) -> int:
    outdir = fresh_report_dir("client")
    port = free_port()
    fuzzer_log = outdir / "kosoku.log"
    fuzzer_command = [str(kosoku_path()), "-m", "fuzzingserver", f"{HOST}:{port}"]
    fuzzer_command += ["-o", str(outdir)] + section_patterns()

    started = time.monotonic()
    with open(fuzzer_log, "wb") as log_file:
        fuzzer = start(fuzzer_command, log_file)
        try:
            wait_for_listener(fuzzer, port, fuzzer_log)
            run_client(args.command, port, args.agent or DEFAULT_AGENT, outdir)
            wait_for_exit(fuzzer, CLIENT_GRACE_S, "fuzzingserver (no /updateReports?)")
        finally:
            stop(fuzzer)
    print(f"autobahn: the run took {time.monotonic() - started:.1f} s")

    return judge("client", outdir, agent=args.agent)


def run_client(template: str, port: int, agent: str, outdir: Path) -> None:
    try:
        text = template.format(url=f"ws://{HOST}:{port}", port=port, agent=agent)
    except (KeyError, IndexError) as error:
        raise GateError(f"bad placeholder in client command: {error}") from error
    command = shlex.split(text)
    print(f"autobahn: {shlex.join(command)}")

    log_path = outdir / "client.log"
    with open(log_path, "wb") as log_file:
        try:
            finished = subprocess.run(
                command,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT_S,
            )
        except FileNotFoundError as error:
            raise GateError(f"cannot run client: {error}") from error
        except subprocess.TimeoutExpired as timeout:
            raise GateError(f"client ran over {RUN_TIMEOUT_S:.0f} s") from timeout
    print(f"autobahn: client exited with status {finished.returncode} (log: {log_path})")


# --- processes and ports ---------------------------------------------------


def kosoku_path() -> Path:
    """kosoku from the interpreter's own environment, else the repo's venv."""
    for candidate in (Path(sys.executable).parent / "kosoku", REPO_ROOT / ".venv/bin/kosoku"):
        if candidate.is_file():
            return candidate
    raise GateError("kosoku not found: run scripts/setup.sh")


def section_patterns() -> list[str]:
    """`-i N.*` for each selected section the suite has (it has no section 8
    nor 11, and kosoku rejects a pattern that matches nothing)."""
    sections = dict.fromkeys(case.split(".")[0] for case in expected_cases())
    patterns: list[str] = []
    for section in sections:
        patterns += ["-i", f"{section}.*"]
    return patterns


def free_port() -> int:
    """A port the OS just handed out for 127.0.0.1; it is free again once closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start(command: list[str], log_file) -> subprocess.Popen:
    print(f"autobahn: starting {shlex.join(command)}")
    try:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    except OSError as error:
        raise GateError(f"cannot start {command[0]}: {error}") from error


def wait_for_listener(process: subprocess.Popen, port: int, log_path: Path) -> None:
    """Returns once something accepts TCP on the port; fails if the process exits."""
    deadline = time.monotonic() + LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GateError(
                f"{process.args[0]} exited with status {process.returncode} before "
                f"listening on port {port}; its output:\n{tail(log_path)}"
            )
        try:
            with socket.create_connection((HOST, port), timeout=POLL_INTERVAL_S * 10):
                return
        except OSError:
            time.sleep(POLL_INTERVAL_S)
    raise GateError(f"nothing listened on {HOST}:{port} within {LISTEN_TIMEOUT_S:.0f} s")


def wait_for_exit(process: subprocess.Popen, timeout_s: float, what: str) -> None:
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired as timeout:
        raise GateError(f"{what} still running {timeout_s:.0f} s after the client") from timeout


def stop(process: subprocess.Popen) -> None:
    """Asks the process to exit, then kills it if it does not."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


# --- the verdict -----------------------------------------------------------


def fresh_report_dir(mode: str) -> Path:
    """An empty report directory, so a stale report can never pass the gate."""
    outdir = REPORTS / mode
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    return outdir


@functools.cache
def expected_cases() -> tuple[str, ...]:
    """Case ids of the selected sections, read from the suite's own index.

    The index is read in a child interpreter: kosoku's cases import a shim
    package named `autobahn`, which this script's own name would shadow.
    """
    listing = subprocess.run(
        [sys.executable, "-c", CASE_INDEX_PROGRAM],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=LISTEN_TIMEOUT_S,
    )
    if listing.returncode != 0:
        raise GateError(
            f"cannot read kosoku's case index (use .venv/bin/python):\n{listing.stderr}"
        )
    cases = json.loads(listing.stdout)
    return tuple(case for case in cases if int(case.split(".")[0]) in SECTIONS)


def load_results(outdir: Path, agent: str | None) -> dict[str, dict]:
    """Per-case entries of index.json for one agent (the only one if None)."""
    index_path = outdir / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as error:
        raise GateError(f"no readable report at {index_path}: {error}") from error

    if agent is None and len(index) == 1:
        return next(iter(index.values()))
    if agent in index:
        return index[agent]
    wanted = agent or "exactly one agent"
    raise GateError(f"report has agents {sorted(index)}, expected {wanted}")


def judge(mode: str, outdir: Path, agent: str | None) -> int:
    expected = expected_cases()
    results = load_results(outdir, agent)

    verdicts = {case: verdict(results.get(case)) for case in expected}
    failing = {case: v for case, v in verdicts.items() if not passes(v)}
    print_summary(expected, results, verdicts, failing)
    print(f"autobahn: report at {outdir / 'index.html'}")

    passed = not failing
    print_final(mode, passed, len(expected) - len(failing), len(expected))
    return EXIT_PASS if passed else EXIT_FAIL


def verdict(entry: dict | None) -> tuple[str, str]:
    if entry is None:
        return (MISSING, MISSING)
    return (entry.get("behavior", MISSING), entry.get("behaviorClose", MISSING))


def passes(v: tuple[str, str]) -> bool:
    return v[0] in PASSING and v[1] in PASSING


def print_summary(expected, results, verdicts, failing) -> None:
    behaviors = collections.Counter(v[0] for v in verdicts.values())
    closes = collections.Counter(v[1] for v in verdicts.values())
    print(f"autobahn: {len(expected)} cases expected, {len(results)} in the report")
    print(f"  behavior:      {format_counts(behaviors)}")
    print(f"  behaviorClose: {format_counts(closes)}")

    extra = sorted(set(results) - set(expected))
    if extra:
        print(f"  ignored, outside the selected sections: {', '.join(extra)}")
    for case, (behavior, close) in failing.items():
        print(f"  FAIL {case}: behavior={behavior} behaviorClose={close}")


def format_counts(counts: collections.Counter) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.most_common())


def print_final(mode: str, passed: bool, ok: int = 0, total: int = 0) -> None:
    outcome = "PASSED" if passed else "FAILED"
    counts = f" ({ok}/{total} cases)" if total else ""
    print(f"autobahn {mode} gate {outcome}{counts}")


if __name__ == "__main__":
    sys.exit(main())
