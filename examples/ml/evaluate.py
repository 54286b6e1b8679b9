"""Evaluate: score the trained model on the held-out split and report its metrics.

The split is the one train.py used (same seed), so the numbers are comparable across runs;
the deploy gate in dags/ml_pipeline.yaml reads them as metrics.evaluate.*.
"""
import argparse
import math
import random

from common import FEATURES, read_csv, read_json, report_metrics, write_json

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("features")
p.add_argument("report_out")
p.add_argument("--seed", type=int, default=7)
a = p.parse_args()

model = read_json(a.model)
rows = read_csv(a.features)
data = [([float(r[f]) for f in FEATURES], int(r["churn"])) for r in rows]
random.Random(a.seed).shuffle(data)
test = data[int(len(data) * 0.8):]


def predict(x):
    z = model["bias"] + sum(model["weights"][f] * xi for f, xi in zip(FEATURES, x))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


scored = [(predict(x), y) for x, y in test]
accuracy = sum((pr >= 0.5) == (y == 1) for pr, y in scored) / len(scored)
log_loss = -sum(math.log(max(1e-12, pr if y else 1 - pr)) for pr, y in scored) / len(scored)
# AUC: probability that a random churner scores above a random non-churner.
pos = [pr for pr, y in scored if y]
neg = [pr for pr, y in scored if not y]
auc = sum((p_ > n) + 0.5 * (p_ == n) for p_ in pos for n in neg) / max(1, len(pos) * len(neg))
metrics = {"accuracy": accuracy, "log_loss": log_loss, "auc": auc, "test_rows": len(test)}
write_json(a.report_out, metrics)
report_metrics(metrics)
print(f"held-out accuracy {accuracy:.3f}, AUC {auc:.3f}, log loss {log_loss:.3f} on {len(test)} rows")
