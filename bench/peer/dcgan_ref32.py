#!/usr/bin/env python3
"""The ref32 DCGAN step in PyTorch, for a side-by-side speed figure.

Same architecture, loss, optimiser and step as GAN Studio's engine (gan/):
G: z(128) -> linear -> 4x4x256 -> BN, ReLU -> [nearest upsample x2, conv3x3, BN, ReLU]
   to 8x8x128, 16x16x64, 32x32x32 -> conv3x3 to 3 channels (+bias) -> tanh.
D: conv3x3 stride 2 with 64 (+bias), 128, 256 channels (BN on the last two),
   LeakyReLU 0.2 -> linear -> 1 logit.
Non-saturating loss on logits, Adam lr 2e-4, betas (0.5, 0.999), batch 64.
One step = one D update (real batch + G(z) detached) then one G update through the
updated D on the same fake batch: PyTorch's DCGAN example, and what the Go engine computes
(it shares G's forward pass between its D and G graphs).

Prints one JSON object: step_ms_median and the steps measured.
Run with Debian's python3-torch:  /usr/bin/python3 bench/peer/dcgan_ref32.py --steps 10
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class G(nn.Module):
    def __init__(self, z=128):
        super().__init__()
        self.lin = nn.Linear(z, 256 * 16, bias=False)
        self.bn0 = nn.BatchNorm2d(256)
        chans = [256, 128, 64, 32]
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(chans, chans[1:])])
        self.bns = nn.ModuleList([nn.BatchNorm2d(b) for b in chans[1:]])
        self.out = nn.Conv2d(32, 3, 3, padding=1)

    def forward(self, z):
        h = F.relu(self.bn0(self.lin(z).view(-1, 256, 4, 4)))
        for conv, bn in zip(self.convs, self.bns):
            h = F.relu(bn(conv(F.interpolate(h, scale_factor=2, mode="nearest"))))
        return torch.tanh(self.out(h))


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(3, 64, 3, stride=2, padding=1)
        self.c1 = nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(128)
        self.c2 = nn.Conv2d(128, 256, 3, stride=2, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(256)
        self.lin = nn.Linear(256 * 16, 1)

    def forward(self, x):
        h = F.leaky_relu(self.c0(x), 0.2)
        h = F.leaky_relu(self.b1(self.c1(h)), 0.2)
        h = F.leaky_relu(self.b2(self.c2(h)), 0.2)
        return self.lin(h.flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    g, d = G(), D()
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(args.batch, 3, 32, 32) * 2 - 1
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        z = torch.randn(args.batch, 128)
        fake = g(z)
        od.zero_grad(set_to_none=True)
        loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
        loss_d.backward()
        od.step()
        og.zero_grad(set_to_none=True)
        for p in d.parameters():
            p.requires_grad_(False)
        loss_g = F.softplus(-d(fake)).mean()
        loss_g.backward()
        for p in d.parameters():
            p.requires_grad_(True)
        og.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({
        "engine": "pytorch " + torch.__version__,
        "threads": args.threads,
        "step_ms_median": round(statistics.median(times) * 1000, 1),
        "steps": args.steps,
    }))


if __name__ == "__main__":
    main()
