"""A closed-loop HTTP load generator, run as its own process by bench/serve_load.py.

``--concurrency`` connections (HTTP/1.1 keep-alive) each send the same POST, wait for the
answer, and send again, for ``--seconds`` (after ``--warmup`` seconds not counted) or
until ``--max-requests``: bounded in time and count. Only loopback addresses are
accepted. Written on raw asyncio streams so the client costs the shared CPUs as little
as possible. Prints one JSON object: requests, status counts, latency percentiles (ms),
throughput (2xx per second), and the client's own CPU time with the number of answers it
covers (warm-up included), so that the CPU a request costs the shared machine is known.

    python bench/load_client.py --url http://127.0.0.1:8080/v2/models/digits/infer \\
        --body body.bin --header 'Inference-Header-Content-Length: 123' --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

MAX_SECONDS = 3600  # a hard bound whatever the arguments say


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def _request(url: str, body: bytes, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not _loopback(parts.hostname):
        raise SystemExit(f"only http://127.0.0.1 (loopback) targets are allowed, got {url}")
    lines = [
        f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(body)}",
        *headers,
        "",
        "",
    ]
    return parts.hostname, parts.port or 80, "\r\n".join(lines).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _worker(
    host: str,
    port: int,
    request: bytes,
    start: float,
    stop: float,
    budget: list[int],
    counts: list[int],
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop and budget[0] > 0:
            budget[0] -= 1
            sent = time.perf_counter()
            writer.write(request)
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                statuses[-1] += 1  # connection closed: count it and reconnect
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            done = time.perf_counter()
            counts[0] += 1
            if sent >= start:  # warm-up requests are not counted
                statuses[status] += 1
                latencies.append(done - sent)
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    body = Path(args.body).read_bytes() if args.body else b""
    host, port, request = _request(args.url, body, args.header)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    seconds = min(args.seconds, MAX_SECONDS)
    now = time.perf_counter()
    start, stop = now + args.warmup, now + args.warmup + seconds
    budget = [args.max_requests]
    counts = [0]  # answers including the warm-up, for the CPU per request
    cpu = time.process_time()
    await asyncio.gather(
        *(
            _worker(host, port, request, start, stop, budget, counts, latencies, statuses)
            for _ in range(args.concurrency)
        )
    )
    elapsed = min(time.perf_counter(), stop) - start
    cpu = time.process_time() - cpu
    latencies.sort()

    def pct(q: float) -> float | None:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if (
            latencies
        ) else None  # fmt: skip

    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 2),
        "requests": sum(statuses.values()),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "throughput": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * latencies[-1], 2) if latencies else None,
        "answered_incl_warmup": counts[0],
        "cpu_s": round(cpu, 3),  # this client's CPU time, warm-up included
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--body", help="file with the request body")
    p.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--max-requests", type=int, default=10_000_000)
    args = p.parse_args(argv)
    result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
