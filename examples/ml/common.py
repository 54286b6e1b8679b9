"""Shared helpers for the example churn pipeline (Python standard library only)."""
import csv
import json
import os
import sys

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_annual", "has_internet"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path, rows, fieldnames):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)  # never leave a half-written output behind


def write_json(path, obj):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def report_metrics(metrics):
    """Writes metrics where the orchestrator looks for them ($PIPELINE_METRICS), if set."""
    path = os.environ.get("PIPELINE_METRICS")
    if path:
        write_json(path, metrics)


def die(msg, code=1):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(code)
