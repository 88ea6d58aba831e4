#!/usr/bin/env python3
"""`make cold-start`: each function binary's time from exec to its first Runtime API request.

The binary runs as Lambda starts it: a Runtime API address in `AWS_LAMBDA_RUNTIME_API`, the
function's settings and credentials in the environment. A socket stands in for the Runtime API
and notes when the first request's bytes arrive; the process is then killed (no event is ever
served). Prints the median and the range of `--runs` starts, and the binary's size.

Usage: scripts/cold_start.py [--runs N] BINARY...
"""

import argparse
import os
import socket
import statistics
import subprocess
import time

# What the functions read at a cold start (placeholders: nothing is called before the first
# Runtime API request).
ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "STATE_TABLE": "flowlogs-state",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:flood-alerts",
    "DETECT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/detect",
    "METRICS_NAMESPACE": "VPCFlowLogs",
    "RESPONSE": "nacl",
    "NACL_ID": "acl-0123abcd",
}


def one_start(binary: str) -> float:
    """Seconds from exec to the first bytes the binary sends to the Runtime API."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    env = {"PATH": os.environ.get("PATH", ""), **ENV}
    env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:%d" % server.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server.settimeout(10)
    try:
        connection, _ = server.accept()
        connection.recv(1)
        elapsed = time.perf_counter() - started
        connection.close()
    except socket.timeout:
        process.kill()
        raise SystemExit(f"{binary}: no Runtime API request in 10 s: {process.communicate()[1].decode()[-500:]}")
    finally:
        server.close()
    process.kill()
    process.wait()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()
    print(f"{'binary':<16} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'size MB':>8}")
    for binary in args.binaries:
        times = [one_start(binary) * 1000 for _ in range(args.runs)]
        print(
            f"{os.path.basename(binary):<16} {statistics.median(times):>10.1f} {min(times):>8.1f} "
            f"{max(times):>8.1f} {os.path.getsize(binary) / 1e6:>8.2f}"
        )


if __name__ == "__main__":
    main()
