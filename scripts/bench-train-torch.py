#!/usr/bin/python3
"""PyTorch's side of `node scripts/bench-train.mjs`: training steps per second of the
784-100-100-10 MLP (batch 64, Adam) on one CPU thread, FP32 and QAT INT8 with the same torch.ao
fake quantization the Train view runs (input and activations MovingAverageMinMax unsigned affine,
weights MovingAveragePerChannelMinMax signed symmetric). Debian's python3-torch; random data of
the training set's shape (speed does not depend on the values). Prints one JSON line.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver

torch.set_num_threads(1)
torch.manual_seed(1)
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 250


def fake_quantize(weight):
    if weight:
        return FakeQuantize(MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127, dtype=torch.qint8,
                            qscheme=torch.per_channel_symmetric, ch_axis=0)
    return FakeQuantize(MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8,
                        qscheme=torch.per_tensor_affine)


class Net(torch.nn.Module):
    def __init__(self, qat):
        super().__init__()
        self.fcs = torch.nn.ModuleList([torch.nn.Linear(784, 100), torch.nn.Linear(100, 100), torch.nn.Linear(100, 10)])
        self.qat = qat
        if qat:
            self.input_fq = fake_quantize(False)
            self.weight_fq = torch.nn.ModuleList(fake_quantize(True) for _ in self.fcs)
            self.act_fq = torch.nn.ModuleList(fake_quantize(False) for _ in self.fcs)

    def forward(self, x):
        if self.qat:
            x = self.input_fq(x)
        for i, fc in enumerate(self.fcs):
            x = F.linear(x, self.weight_fq[i](fc.weight) if self.qat else fc.weight, fc.bias)
            if i < 2:
                x = F.relu(x)
            if self.qat:
                x = self.act_fq[i](x)
        return x


def steps_per_second(qat):
    x, y = torch.rand(8000, 784), torch.randint(0, 10, (8000,))
    net = Net(qat)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    perm = torch.randperm(8000)
    start = time.perf_counter()
    for s in range(STEPS):
        idx = perm[(s * 64) % 7936:(s * 64) % 7936 + 64]
        opt.zero_grad()
        F.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    return STEPS / (time.perf_counter() - start)


print(json.dumps({"torch": torch.__version__, "fp32": steps_per_second(False), "qat8": steps_per_second(True)}))
