"""Serving benchmark: adaptive batching vs none vs the HTTP and compute ceilings, and a soak.

For each model (the digits LeNet, and a heavier wide CNN) and each concurrency level a
load generator in its own process (bench/load_client.py: closed loop, keep-alive,
127.0.0.1 only, bounded in time and count) sends Open Inference Protocol requests (one
28x28 image each, binary tensor extension, as Triton clients send) to a dlstack server
in another process, and measures throughput (2xx/s) and p50/p99 latency for:

  (a) dlstack, adaptive batching on (the [serve] defaults);
  (b) dlstack, batching off (one request per model call);
  (c) an endpoint on the same stack that reads the body and returns a constant: the
      HTTP ceiling;
  (d) onnxruntime in-process at the batch sizes (a) used: the compute ceiling.

Each point is the median of ``--rounds`` runs of ``--seconds``, the three servers taking
turns so that background load on the shared CPUs hits them alike. Every run also records
the CPU time one request costs the server process (all its threads) and the load client,
and (d) the CPU time of a row: the server, the client and the model share the machine's
cores, so ``cores / (HTTP + client + compute CPU per request)`` is the most (a) can serve
here even with no overhead of its own (the "CPU bound" in the summary). The server gets no
torch; this script uses torch only to build the models. Results go
to bench/results/serve_load.{json,md}. ``--soak-seconds 600`` then runs 10 minutes of
steady load against a server that also logs every prediction to a project's lake, and
reports the server's RSS at start and end and the error count.

    .venv/bin/python bench/serve_load.py                       # about 6 minutes
    .venv/bin/python bench/serve_load.py --soak-seconds 600    # and the soak
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CLIENT = ROOT / "bench" / "load_client.py"
DEFAULT_CONCURRENCY = (1, 8, 32)
SLO_MS = {"digits": 100.0, "widecnn": 200.0}
SOAK_SETTLE_S = 20.0  # the heavy model's batch of 32 takes ~45 ms

SERVER = r"""
import json, sys
import uvicorn
from dlstack.config import ServeConfig, load_project
from dlstack.serve._app import create_app

args = json.loads(sys.argv[1])
project = load_project(args["project"]) if args.get("project") else None
app = create_app(args["packages"], config=ServeConfig.model_validate(args["config"]),
                 project=project)
if args.get("constant"):
    from fastapi import Request, Response
    constant = args["constant"].encode()

    @app.post("/const/infer")
    async def const(request: Request) -> Response:
        await request.body()  # read the same request, skip the model
        return Response(constant, media_type="application/json")

uvicorn.run(app, host="127.0.0.1", port=args["port"], log_level="warning", access_log=False)
"""


# -- models -----------------------------------------------------------------------------------


def build_packages(folder: Path) -> tuple[dict[str, Path], np.ndarray]:
    """Export the two benchmark models (untrained: speed does not depend on weights)."""
    import torch

    from dlstack.compress import export_package
    from dlstack.config import Config
    from dlstack.data import Snapshot
    from dlstack.inputs import channel_stats, to_model_input
    from dlstack.models import build_model
    from dlstack.train._result import Normalization, TrainResult

    snap = Snapshot.from_builtin("digits")
    norm = Normalization(*channel_stats(snap.split("train").images))
    x = to_model_input(snap.split("test").images[:64], norm.mean, norm.std)
    nn = torch.nn
    torch.manual_seed(0)
    models = {
        "digits": build_model("lenet", (1, 28, 28), 10)[0],
        # Wide convolutions and a 6272x1024 layer: per-row cost falls ~4x from batch 1 to
        # 32 on CPU, the kind of model where batching pays.
        "widecnn": nn.Sequential(
            nn.Conv2d(1, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(128 * 7 * 7, 1024),
            nn.ReLU(),
            nn.Linear(1024, 10),
        ),
    }
    out = {}
    for name, model in models.items():
        result = TrainResult(
            run_id=f"bench-{name}",
            run_dir=folder / "runs" / name,
            model=model.eval(),
            task="classification",
            architecture=name,
            normalization=norm,
            input_shape=(1, 28, 28),
            classes=snap.classes,
            data_version=snap.version,
            code_version="bench",
            config=Config(),
            best_checkpoint=folder / "runs" / name / "best.ckpt",
        )
        out[name] = export_package(result, folder / "models", name, sample=x[:5])
    return out, x


def request_body(x: np.ndarray) -> tuple[bytes, list[str]]:
    """One row, FP32 binary tensor; ask for the label only (small answers)."""
    row = np.ascontiguousarray(x[:1], dtype="<f4")
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(row.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": row.nbytes},
                }
            ],
            "outputs": [{"name": "label"}],
        }
    ).encode()
    return header + row.tobytes(), [
        f"Inference-Header-Content-Length: {len(header)}",
        "Content-Type: application/octet-stream",
    ]


# -- processes --------------------------------------------------------------------------------


class Server:
    def __init__(self, args: dict[str, Any]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps({**args, "port": self.port})],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used, all threads."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def batch_stats(self) -> tuple[float, float]:
        """(sum, count) of dlstack_batch_size over all models."""
        total = count = 0.0
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith("dlstack_batch_size_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith("dlstack_batch_size_count"):
                count += float(line.rsplit(" ", 1)[1])
        return total, count

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load(
    url: str, body: Path, headers: list[str], concurrency: int, seconds: float, warmup: float = 1.0
) -> dict[str, Any]:
    cmd = [sys.executable, str(CLIENT), "--url", url, "--body", str(body)]
    for h in headers:
        cmd += ["--header", h]
    cmd += ["--concurrency", str(concurrency), "--seconds", str(seconds)]
    cmd += ["--warmup", str(warmup)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + warmup + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load client failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- the benchmark ----------------------------------------------------------------------------


def compute_ceiling(
    package: Path, batch: int, x: np.ndarray, seconds: float = 2.0
) -> tuple[float, float]:
    """Rows per second of onnxruntime in this process at one batch size, and CPU s/row."""
    from dlstack.package import load_package

    pkg = load_package(package)
    xb = np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])), dtype=np.float32)
    for _ in range(3):
        pkg.logits(xb)
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        pkg.logits(xb)
        n += 1
    cpu = time.process_time() - cpu
    return n * batch / (time.perf_counter() - start), cpu / (n * batch)


def bench(args: argparse.Namespace, packages: dict[str, Path], x: np.ndarray, tmp: Path) -> dict:
    body_path = tmp / "body.bin"
    body, headers = request_body(x)
    body_path.write_bytes(body)
    constant = json.dumps(
        {
            "model_name": "m",
            "model_version": "1",
            "outputs": [{"name": "label", "datatype": "BYTES", "shape": [1], "data": ["7"]}],
        }
    )
    rows: list[dict[str, Any]] = []
    for name in args.models:
        slo = SLO_MS[name]
        base = {"log_predictions": False, "latency_slo_ms": slo}
        modes = {
            "a: batching": {"config": {**base}},
            "b: no batching": {"config": {**base, "batching": False}},
            "c: HTTP ceiling": {"config": {**base}, "constant": constant},
        }
        # All three servers run at once and the modes take turns, round after round: the
        # CPUs are shared with other work, and interleaving spreads its noise evenly.
        servers = {
            mode: Server({"packages": [str(packages[name])], **a}) for mode, a in modes.items()
        }
        mean_batch_at_top = 1.0
        try:
            for c in args.concurrency:
                runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
                for _ in range(args.rounds):
                    for mode, server in servers.items():
                        path = (
                            "/const/infer"
                            if "constant" in modes[mode]
                            else f"/v2/models/{name}/infer"
                        )
                        before, cpu = server.batch_stats(), server.cpu_s()
                        r = load(server.url + path, body_path, headers, c, args.seconds)
                        cpu, after = server.cpu_s() - cpu, server.batch_stats()
                        calls = after[1] - before[1]
                        r["mean_batch"] = (after[0] - before[0]) / calls if calls else None
                        answered = max(r["answered_incl_warmup"], 1)
                        r["server_cpu_us"] = 1e6 * cpu / answered
                        r["client_cpu_us"] = 1e6 * r["cpu_s"] / answered
                        runs[mode].append(r)
                for mode, server in servers.items():
                    row = {"model": name, "mode": mode, "slo_ms": slo, **_median(runs[mode])}
                    row["server_rss_mb"] = round(server.rss_mb(), 1)
                    rows.append(row)
                    if mode.startswith("a") and c == max(args.concurrency):
                        mean_batch_at_top = row["mean_batch"] or 1.0
                    print(_line(row), flush=True)
        finally:
            for server in servers.values():
                server.stop()
        for b in sorted({1, round(mean_batch_at_top), 32}):
            rate, cpu_per_row = compute_ceiling(packages[name], b, x)
            rows.append(
                {
                    "model": name,
                    "mode": f"d: onnxruntime, batch {b}",
                    "slo_ms": slo,
                    "throughput": round(rate, 1),
                    "batch": b,
                    "server_cpu_us": round(1e6 * cpu_per_row, 1),
                }
            )
            print(_line(rows[-1]), flush=True)
    return {"rows": rows, "summary": summarize(rows, max(args.concurrency))}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from several rounds: medians of rates and percentiles, summed counts."""

    def med(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return round(float(np.median(values)), 2) if values else None

    statuses: dict[str, int] = {}
    for r in runs:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "concurrency": runs[0]["concurrency"],
        "rounds": len(runs),
        "seconds": round(sum(r["seconds"] for r in runs), 1),
        "requests": sum(r["requests"] for r in runs),
        "ok": sum(r["ok"] for r in runs),
        "statuses": statuses,
        "throughput": med("throughput"),
        "throughput_per_round": [r["throughput"] for r in runs],
        "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"),
        "mean_batch": None if med("mean_batch") is None else round(med("mean_batch") or 0, 1),
        "server_cpu_us": med("server_cpu_us"),
        "client_cpu_us": med("client_cpu_us"),
    }


def summarize(rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):

        def at(mode: str, name: str = name) -> dict[str, Any]:
            return next(
                r
                for r in rows
                if r["model"] == name and r["mode"].startswith(mode) and r.get("concurrency") == top
            )

        a, b, c = at("a"), at("b"), at("c")
        batch = round(a["mean_batch"] or 1)
        d = next(r for r in rows if r["model"] == name and r.get("batch") == batch)
        ceiling = min(c["throughput"], d["throughput"])
        # HTTP and compute share the same CPUs: if both were perfectly overlapped, each
        # request would still cost the sum of the two.
        shared = 1 / (1 / c["throughput"] + 1 / d["throughput"])
        # Stricter, from CPU time: the server's HTTP work (c's CPU per request), the load
        # client's, and the model's (d's CPU per row) all run on these cores.
        cpu_us = c["server_cpu_us"] + c["client_cpu_us"] + d["server_cpu_us"]
        cpu_bound = 1e6 * (os.cpu_count() or 1) / cpu_us
        out.append(
            {
                "model": name,
                "concurrency": top,
                "a_vs_b": round(a["throughput"] / max(b["throughput"], 1e-9), 2),
                "a_vs_ceiling": round(a["throughput"] / ceiling, 2),
                "shared_bound": round(shared, 1),
                "a_vs_shared_bound": round(a["throughput"] / shared, 2),
                "cpu_bound": round(cpu_bound, 1),
                "a_vs_cpu_bound": round(a["throughput"] / cpu_bound, 2),
                "a_cpu_us": round(a["server_cpu_us"] + a["client_cpu_us"], 1),
                "floor_cpu_us": round(cpu_us, 1),
                "ceiling": "HTTP" if c["throughput"] <= d["throughput"] else "compute",
                "a_p99_ms": a["p99_ms"],
                "slo_ms": a["slo_ms"],
                "p99_within_slo": a["p99_ms"] is not None and a["p99_ms"] <= a["slo_ms"],
            }
        )
    return out


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['model']:8} {r['mode']:26} c={r.get('concurrency', '-')!s:3} "
        f"{r['throughput']:8.1f}/s  p50={r.get('p50_ms')} p99={r.get('p99_ms')} "
        f"batch={r.get('mean_batch', r.get('batch'))} statuses={r.get('statuses', '')}"
    )


def _us(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Serving benchmark ({result['machine']}, one run)",
        "",
        f"`{result['command']}`",
        "",
        "| model | mode | conc. | throughput (2xx/s) | p50 ms | p99 ms | non-2xx | mean batch "
        "| server CPU us/req | client CPU us/req |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result.get("rows", []):
        errors = r["requests"] - r["ok"] if "requests" in r else ""
        lines.append(
            f"| {r['model']} | {r['mode']} | {r.get('concurrency', '')} | {r['throughput']} | "
            f"{r.get('p50_ms', '')} | {r.get('p99_ms', '')} | {errors} | "
            f"{r.get('mean_batch', r.get('batch', ''))} | {_us(r.get('server_cpu_us'))} | "
            f"{_us(r.get('client_cpu_us'))} |"
        )
    lines += [
        "",
        "| model | conc. | (a)/(b) | (a)/min(c, d) | smaller | (a)/shared bound | "
        "CPU bound /s | (a)/CPU bound | (a) CPU us/req | floor CPU us/req | (a) p99 ms | SLO ms |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in result.get("summary", []):
        lines.append(
            f"| {s['model']} | {s['concurrency']} | {s['a_vs_b']} | {s['a_vs_ceiling']} | "
            f"{s['ceiling']} | {s.get('a_vs_shared_bound', '')} | {s.get('cpu_bound', '')} | "
            f"{s.get('a_vs_cpu_bound', '')} | {s.get('a_cpu_us', '')} | "
            f"{s.get('floor_cpu_us', '')} | {s['a_p99_ms']} | {s['slo_ms']} |"
        )
    lines += [
        "",
        "Throughput and percentiles are medians of interleaved rounds (modes take turns, "
        "so background load on the shared CPUs hits all alike). The shared bound is "
        "1/(1/c + 1/d): HTTP and compute run on the same CPUs, so a request costs both. "
        "The CPU bound is cores / floor, the floor being c's server CPU per request + the "
        "client's + d's CPU per row: what (a) could serve if dlstack's own work (parsing, "
        "queueing, batching, the answer) cost nothing.",
    ]
    if result.get("soak"):
        s = result["soak"]
        lines += [
            "",
            f"Soak: {s['seconds']} s at concurrency {s['concurrency']} ({s['model']}, "
            f"batching on, SLO 1 s, every prediction logged to the lake): {s['ok']} answered, "
            f"{s['errors']} errors, server RSS {s['rss_start_mb']} MB after warm-up -> "
            f"{s['rss_end_mb']} MB at the end (max {s['rss_max_mb']} MB).",
        ]
    return "\n".join(lines) + "\n"


def soak(args: argparse.Namespace, packages: dict[str, Path], x: np.ndarray, tmp: Path) -> dict:
    """Steady load for ``--soak-seconds``; the server logs every prediction to a lake."""
    from dlstack.config import init_project

    project = init_project(tmp / "soak-project", "builtin:digits")
    body, headers = request_body(x)
    body_path = tmp / "soak-body.bin"
    body_path.write_bytes(body)
    server = Server(
        {
            "packages": [str(packages["digits"])],
            # Stability, not the SLO, is under test: a 1 s deadline sheds nothing unless the
            # server stalls (the CPUs are shared; a 100 ms SLO sheds a few when others run).
            "config": {"log_predictions": True, "log_sample_rate": 0.01, "latency_slo_ms": 1000},
            "project": str(project.root),
        }
    )
    try:
        client = subprocess.Popen(
            [
                sys.executable,
                str(CLIENT),
                "--url",
                f"{server.url}/v2/models/digits/infer",
                "--body",
                str(body_path),
                *[a for h in headers for a in ("--header", h)],
                "--concurrency",
                str(args.soak_concurrency),
                "--seconds",
                str(args.soak_seconds),
                "--warmup",
                "0",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        samples = []
        start = time.monotonic()
        while client.poll() is None:
            samples.append((round(time.monotonic() - start, 1), round(server.rss_mb(), 1)))
            time.sleep(5)
        out, _ = client.communicate()
        r = json.loads(out)
    finally:
        server.stop()
    # After two log flushes (10 s each) the buffers and pools have their working size.
    settled = [rss for t, rss in samples if t >= SOAK_SETTLE_S] or [s[1] for s in samples]
    return {
        "model": "digits",
        "seconds": r["seconds"],
        "concurrency": args.soak_concurrency,
        "ok": r["ok"],
        "errors": r["requests"] - r["ok"],
        "statuses": r["statuses"],
        "throughput": r["throughput"],
        "p99_ms": r["p99_ms"],
        "rss_start_mb": settled[0],
        "rss_end_mb": settled[-1],
        "rss_max_mb": max(settled),
        "rss_samples": samples,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="digits,widecnn")
    p.add_argument("--concurrency", default=",".join(map(str, DEFAULT_CONCURRENCY)))
    p.add_argument("--seconds", type=float, default=4.0, help="measured seconds per run")
    p.add_argument("--rounds", type=int, default=3, help="runs per point, interleaved")
    p.add_argument("--soak-seconds", type=float, default=0.0)
    p.add_argument("--soak-concurrency", type=int, default=16)
    p.add_argument("--skip-bench", action="store_true", help="only the soak")
    p.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = p.parse_args(argv)
    args.models = args.models.split(",")
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory(prefix="dlstack-serve-bench-") as t:
        tmp = Path(t)
        packages, x = build_packages(tmp)
        result: dict[str, Any] = {
            "machine": f"{os.cpu_count()} CPUs shared with the load generator",
            "command": "python bench/serve_load.py " + " ".join(argv or sys.argv[1:]),
        }
        if args.out.exists() and args.skip_bench:
            result = json.loads(args.out.read_text())
        if not args.skip_bench:
            result.update(bench(args, packages, x, tmp))
        if args.soak_seconds > 0:
            result["soak"] = soak(args, packages, x, tmp)
            s = result["soak"]
            print(f"soak: {s['ok']} ok, {s['errors']} errors, RSS {s['rss_start_mb']} -> "
                  f"{s['rss_end_mb']} MB (max {s['rss_max_mb']})")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
