#!/usr/bin/env python3
"""The studio engine's training step (presets studio32, studio64) in PyTorch,
for a side-by-side speed figure.

The same step as GAN Studio's engine (gan/trainer.go with gan/augment.go):
- Networks: the reference DCGAN at the resolution. G: z(128) -> linear ->
  4x4x256 -> BN, ReLU -> [nearest upsample x2, conv3x3, BN, ReLU] halving the
  channels to the image side -> conv3x3 to 3 channels (+bias) -> tanh.
  D: conv3x3 stride 2 from the image down to 4x4, doubling the channels to 256
  (bias and no BN on the first, BN on the rest), LeakyReLU 0.2 -> linear -> 1 logit.
- Data: each real image flipped left to right with probability 1/2.
- Augmentation (DiffAugment's colour, translation, cutout, each transform applied
  to an image with probability p, ADA's way of setting the strength) of every
  batch D sees: real and fake in D's step, fake again (new draws) in G's step,
  with G's gradient through it.
- Non-saturating loss on logits, Adam lr 2e-4, betas (0.5, 0.999), batch 64;
  one D update then one G update through the updated D on the same latents.
- After G's update, the weight average: avg = w + beta * (avg - w).
ADA's r_t bookkeeping is a few additions on the host and is left out.

Prints one JSON object: step_ms_median and the steps measured.
Run with Debian's python3-torch:  /usr/bin/python3 bench/peer/studio.py --res 64 --steps 10
"""
import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def stages(res):
    n, s = 0, 4
    while s < res:
        s *= 2
        n += 1
    return n


class G(nn.Module):
    def __init__(self, res, z=128):
        super().__init__()
        chans = [256 >> i for i in range(stages(res) + 1)]
        self.lin = nn.Linear(z, 256 * 16, bias=False)
        self.bn0 = nn.BatchNorm2d(256)
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(chans, chans[1:])])
        self.bns = nn.ModuleList([nn.BatchNorm2d(b) for b in chans[1:]])
        self.out = nn.Conv2d(chans[-1], 3, 3, padding=1)

    def forward(self, z):
        h = F.relu(self.bn0(self.lin(z).view(-1, 256, 4, 4)))
        for conv, bn in zip(self.convs, self.bns):
            h = F.relu(bn(conv(F.interpolate(h, scale_factor=2, mode="nearest"))))
        return torch.tanh(self.out(h))


class D(nn.Module):
    def __init__(self, res):
        super().__init__()
        n = stages(res)
        chans = [3] + [256 >> (n - 1 - i) for i in range(n)]
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, stride=2, padding=1, bias=(i == 0))
                                    for i, (a, b) in enumerate(zip(chans, chans[1:]))])
        self.bns = nn.ModuleList([nn.BatchNorm2d(b) for b in chans[2:]])
        self.lin = nn.Linear(256 * 16, 1)

    def forward(self, x):
        h = F.leaky_relu(self.convs[0](x), 0.2)
        for conv, bn in zip(self.convs[1:], self.bns):
            h = F.leaky_relu(bn(conv(h)), 0.2)
        return self.lin(h.flatten(1))


def augment(x, p):
    """DiffAugment's transforms, each applied to an image with probability p."""
    n, _, h, w = x.shape

    def hit():
        return (torch.rand(n, 1, 1, 1) < p).to(x.dtype)

    x = x + (torch.rand(n, 1, 1, 1) - 0.5) * hit()
    m = x.mean(dim=1, keepdim=True)
    s = hit()
    x = (x - m) * (s * torch.rand(n, 1, 1, 1) * 2 + (1 - s)) + m
    m = x.mean(dim=[1, 2, 3], keepdim=True)
    c = hit()
    x = (x - m) * (c * (torch.rand(n, 1, 1, 1) + 0.5) + (1 - c)) + m
    # Translation: zero padded, as DiffAugment's rand_translation.
    sh = int(h * 0.125 + 0.5)
    t = hit().view(n, 1, 1).long()
    tx = torch.randint(-sh, sh + 1, (n, 1, 1)) * t
    ty = torch.randint(-sh, sh + 1, (n, 1, 1)) * t
    gb, gx, gy = torch.meshgrid(torch.arange(n), torch.arange(h), torch.arange(w), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    x = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)
    # Cutout: a square of half the side, as DiffAugment's rand_cutout.
    cs = int(h * 0.5 + 0.5)
    ox = torch.randint(0, h + (1 - cs % 2), (n, 1, 1))
    oy = torch.randint(0, w + (1 - cs % 2), (n, 1, 1))
    gb, gx, gy = torch.meshgrid(torch.arange(n), torch.arange(cs), torch.arange(cs), indexing="ij")
    gx = torch.clamp(gx + ox - cs // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cs // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype)
    mask[gb, gx, gy] = 0
    cut = hit().view(n, 1, 1)
    mask = mask * cut + (1 - cut)
    return x * mask.unsqueeze(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--p", type=float, default=0.5, help="augmentation strength")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    g, d = G(args.res), D(args.res)
    avg = copy.deepcopy(g)
    for q in avg.parameters():
        q.requires_grad_(False)
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = torch.rand(args.batch, 3, args.res, args.res) * 2 - 1
    beta = 0.5 ** (args.batch / 10000)
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        flip = torch.rand(args.batch) < 0.5
        real = torch.where(flip.view(-1, 1, 1, 1), data.flip(3), data)
        z = torch.randn(args.batch, 128)
        fake = g(z)
        od.zero_grad(set_to_none=True)
        loss_d = F.softplus(-d(augment(real, args.p))).mean() + F.softplus(d(augment(fake.detach(), args.p))).mean()
        loss_d.backward()
        od.step()
        og.zero_grad(set_to_none=True)
        for q in d.parameters():
            q.requires_grad_(False)
        loss_g = F.softplus(-d(augment(fake, args.p))).mean()
        loss_g.backward()
        for q in d.parameters():
            q.requires_grad_(True)
        og.step()
        with torch.no_grad():
            for a, q in zip(avg.parameters(), g.parameters()):
                a.lerp_(q, 1 - beta)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({
        "engine": "pytorch " + torch.__version__,
        "threads": args.threads,
        "res": args.res,
        "p": args.p,
        "step_ms_median": round(statistics.median(times) * 1000, 1),
        "steps": args.steps,
    }))


if __name__ == "__main__":
    main()
