#!/usr/bin/python3
"""Dev-time tool: exports a small BERT-style transformer encoder to ONNX the way
PyTorch writes real encoders (token + position embeddings, multi-head attention
with an additive mask built from attention_mask, GELU via Erf, LayerNorm, dynamic
batch and sequence axes with Shape->Gather->Concat->Reshape subgraphs).

Run with Debian's interpreter (python3-torch, python3-onnx):
    /usr/bin/python3 scripts/export_encoder.py
Writes examples/models/encoder_opset17.onnx (LayerNormalization op) and
examples/models/encoder_opset13.onnx (LayerNorm decomposed into
ReduceMean/Sub/Pow/Sqrt/Div). Weights are random with a fixed seed; the models are
test fixtures for the float runtime, not trained networks. Never a runtime dependency.
"""
import math
import os

import torch
from torch import nn

torch.manual_seed(20261122)
VOCAB, MAX_POS, D, HEADS, FF, LAYERS = 1000, 128, 128, 4, 512, 2


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))

    def split(self, x):
        b, s = x.size(0), x.size(1)
        return x.view(b, s, HEADS, D // HEADS).transpose(1, 2)

    def forward(self, x, mask_add):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D // HEADS) + mask_add
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2)
        ctx = ctx.reshape(ctx.size(0), ctx.size(1), D)
        return self.o(ctx)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = SelfAttention()
        self.ln1, self.ln2 = nn.LayerNorm(D, eps=1e-12), nn.LayerNorm(D, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)

    def forward(self, x, mask_add):
        x = self.ln1(x + self.attn(x, mask_add))
        h = self.ff2(torch.nn.functional.gelu(self.ff1(x)))
        return self.ln2(x + h)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(MAX_POS, D)
        self.ln = nn.LayerNorm(D, eps=1e-12)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.pool = nn.Linear(D, D)

    def forward(self, input_ids, attention_mask):
        seq = input_ids.size(1)
        positions = torch.arange(seq, dtype=torch.long).unsqueeze(0)
        x = self.ln(self.tok(input_ids) + self.pos(positions))
        mask_add = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_add)
        pooled = torch.tanh(self.pool(x[:, 0]))
        return x, pooled


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "models")
    model = Encoder().eval()
    ids = torch.randint(0, VOCAB, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 12:] = 0
    for opset in (17, 13):
        path = os.path.join(out_dir, f"encoder_opset{opset}.onnx")
        torch.onnx.export(
            model, (ids, mask), path, opset_version=opset,
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state", "pooler_output"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}},
            do_constant_folding=True)
        print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
