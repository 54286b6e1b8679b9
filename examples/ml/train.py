"""Train: logistic regression by batch gradient descent, with a held-out test split."""
import argparse
import math
import random

from common import FEATURES, read_csv, report_metrics, write_json

p = argparse.ArgumentParser()
p.add_argument("features")
p.add_argument("model_out")
p.add_argument("--lr", type=float, default=0.5)
p.add_argument("--epochs", type=int, default=200)
p.add_argument("--seed", type=int, default=7)
a = p.parse_args()

rows = read_csv(a.features)
data = [([float(r[f]) for f in FEATURES], int(r["churn"])) for r in rows]
random.Random(a.seed).shuffle(data)
cut = int(len(data) * 0.8)
train, test = data[:cut], data[cut:]

w = [0.0] * len(FEATURES)
b = 0.0


def predict(x):
    z = b + sum(wi * xi for wi, xi in zip(w, x))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


for epoch in range(a.epochs):
    gw = [0.0] * len(w)
    gb = 0.0
    for x, y in train:
        err = predict(x) - y
        for i, xi in enumerate(x):
            gw[i] += err * xi
        gb += err
    n = len(train)
    w = [wi - a.lr * g / n for wi, g in zip(w, gw)]
    b -= a.lr * gb / n


def evaluate(rows_):
    correct = 0
    loss = 0.0
    for x, y in rows_:
        pr = predict(x)
        correct += (pr >= 0.5) == (y == 1)
        loss -= math.log(max(1e-12, pr if y else 1 - pr))
    return correct / len(rows_), loss / len(rows_)


train_acc, train_loss = evaluate(train)
test_acc, test_loss = evaluate(test)
baseline = max(sum(y for _, y in test), len(test) - sum(y for _, y in test)) / len(test)
model = {"kind": "logistic_regression", "features": FEATURES, "weights": dict(zip(FEATURES, w)), "bias": b,
         "metrics": {"accuracy": test_acc, "log_loss": test_loss, "train_accuracy": train_acc,
                     "baseline_accuracy": baseline},
         "hyperparameters": {"lr": a.lr, "epochs": a.epochs, "seed": a.seed}}
write_json(a.model_out, model)
report_metrics(model["metrics"])
print(f"trained on {len(train)} rows: test accuracy {test_acc:.3f} (majority baseline {baseline:.3f}), "
      f"log loss {test_loss:.3f}")
