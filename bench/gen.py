#!/usr/bin/env python3
"""Generates the same DAG as a pipeline YAML file, a build.ninja and a Makefile.

Shapes:
  independent  N no-op tasks with no edges (pure spawn/record throughput)
  chain        N no-op tasks, each depending on the previous (pure hop latency)
  layered      N tasks in layers of W; each depends on up to 3 tasks of the layer above

Every task runs `true` through /bin/sh -c in all three tools, so the work is identical.
"""
import argparse
import os
import random


def edges(shape, n, width, seed):
    rng = random.Random(seed)
    deps = [[] for _ in range(n)]
    if shape == "chain":
        for i in range(1, n):
            deps[i] = [i - 1]
    elif shape == "layered":
        for i in range(width, n):
            layer_start = (i // width - 1) * width
            deps[i] = sorted(set(rng.randrange(layer_start, layer_start + width) for _ in range(3)))
    return deps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("shape", choices=["independent", "chain", "layered"])
    p.add_argument("n", type=int)
    p.add_argument("outdir")
    p.add_argument("--width", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    deps = edges(a.shape, a.n, a.width, a.seed)
    with open(os.path.join(a.outdir, "dag.yaml"), "w") as f:
        f.write(f"dag: bench_{a.shape}\ntasks:\n")
        for i in range(a.n):
            f.write(f"  t{i}:\n    command: \"true\"\n")
            if deps[i]:
                f.write("    depends_on: [" + ", ".join(f"t{d}" for d in deps[i]) + "]\n")
    with open(os.path.join(a.outdir, "build.ninja"), "w") as f:
        # Outputs are never created, as in the pipeline DAG: every edge runs once.
        f.write("rule noop\n  command = true\n")
        for i in range(a.n):
            f.write(f"build t{i}: noop" + ("" if not deps[i] else " | " + " ".join(f"t{d}" for d in deps[i])) + "\n")
        f.write("default " + " ".join(f"t{i}" for i in range(a.n)) + "\n")
    with open(os.path.join(a.outdir, "Makefile"), "w") as f:
        f.write(".PHONY: all " + " ".join(f"t{i}" for i in range(a.n)) + "\n")
        f.write("all: " + " ".join(f"t{i}" for i in range(a.n)) + "\n")
        for i in range(a.n):
            f.write(f"t{i}:" + "".join(f" t{d}" for d in deps[i]) + "\n\t@true\n")


if __name__ == "__main__":
    main()
