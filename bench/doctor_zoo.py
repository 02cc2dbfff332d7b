"""Run the doctor's bug zoo: detection rate on planted bugs, false alarms on healthy cases.

    .venv/bin/python bench/doctor_zoo.py            # every case
    .venv/bin/python bench/doctor_zoo.py relu lr    # cases whose name contains a word

Prints a table and writes bench/results/doctor_zoo.json (and .md). A planted case is
detected when each of its expected codes is found as an error or a warning; a healthy
case is a false alarm when the report is not healthy.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "doctor_zoo"))


def main(words: list[str]) -> int:
    import torch
    from zoo_cases import all_cases

    from dlstack.doctor import examine

    torch.set_num_threads(1)  # as the tests do: tiny models, a possibly busy machine

    cases = [c for c in all_cases() if not words or any(w in c.name for w in words)]
    rows = []
    for c in cases:
        args = c.build()
        t = time.perf_counter()
        report = examine(args.pop("model"), args.pop("train"), args.pop("val"), **args)
        seconds = time.perf_counter() - t
        found = sorted(set(report.codes))
        ok = report.healthy if c.healthy else all(code in found for code in c.expect)
        rows.append(
            {
                "case": c.name,
                "expect": list(c.expect) or ["healthy"],
                "found": found,
                "ok": ok,
                "seconds": round(seconds, 2),
            }
        )
        mark = "ok " if ok else "MISS" if not c.healthy else "FALSE ALARM"
        print(
            f"{mark:11} {c.name:30} expect {','.join(c.expect) or 'healthy':32} "
            f"found {','.join(found) or '-':60} {seconds:5.1f}s",
            flush=True,
        )
    planted = [r for r in rows if r["expect"] != ["healthy"]]
    healthy = [r for r in rows if r["expect"] == ["healthy"]]
    summary = {
        "planted": len(planted),
        "detected": sum(r["ok"] for r in planted),
        "healthy": len(healthy),
        "false_alarms": sum(not r["ok"] for r in healthy),
        "seconds": round(sum(r["seconds"] for r in rows), 1),
    }
    summary["detection_rate"] = summary["detected"] / max(len(planted), 1)
    summary["false_alarm_rate"] = summary["false_alarms"] / max(len(healthy), 1)
    print(
        f"\ndetection {summary['detected']}/{len(planted)} "
        f"({summary['detection_rate']:.0%}), false alarms {summary['false_alarms']}/"
        f"{len(healthy)} ({summary['false_alarm_rate']:.0%}), {summary['seconds']} s"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    if not words:
        (out / "doctor_zoo.json").write_text(
            json.dumps({"summary": summary, "cases": rows}, indent=2)
        )
        md = ["| case | expected | found | ok | s |", "| --- | --- | --- | --- | --- |"]
        md += [
            f"| {r['case']} | {', '.join(r['expect'])} | {', '.join(r['found']) or '-'} | "
            f"{'yes' if r['ok'] else 'NO'} | {r['seconds']} |"
            for r in rows
        ]
        (out / "doctor_zoo.md").write_text("\n".join(md) + "\n")
    return 0 if summary["detected"] == len(planted) and not summary["false_alarms"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
