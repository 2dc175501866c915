#!/usr/bin/python3
"""PyTorch's side of `node scripts/bench-train.mjs`: training steps per second of the
784-100-100-10 MLP (batch 64, Adam) on one CPU thread, FP32, QAT INT8 with the same torch.ao
fake quantization the Train view runs (input and activations MovingAverageMinMax unsigned affine,
weights MovingAveragePerChannelMinMax signed symmetric), and LSQ INT8 (_LearnableFakeQuantize on
the same nodes, use_grad_scaling, the observers' static estimate for 10 steps, then learning); and the
Train view's conv net (Conv2d 1→8 5×5, ReLU, MaxPool 2, Conv2d 8→16 5×5, ReLU, MaxPool 2, Linear
256→10) in FP32 and QAT INT8 as torch.ao's eager prepare_qat places its nodes after
fuse_modules_qat (src/train/src/conv.rs). Debian's python3-torch; random data of
the training set's shape (speed does not depend on the values). Prints one JSON line: steps per
second by wall time, and under "cpu" by this process's CPU time (`time.process_time`).
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver
from torch.ao.quantization._learnable_fake_quantize import _LearnableFakeQuantize

torch.set_num_threads(1)
torch.manual_seed(1)
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 250


def fake_quantize(weight, lsq=False, channels=-1):
    if lsq and weight:
        return _LearnableFakeQuantize(MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127, dtype=torch.qint8,
                                      qscheme=torch.per_channel_symmetric, ch_axis=0, channel_len=channels, use_grad_scaling=True)
    if lsq:
        return _LearnableFakeQuantize(MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8,
                                      qscheme=torch.per_tensor_affine, use_grad_scaling=True)
    if weight:
        return FakeQuantize(MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127, dtype=torch.qint8,
                            qscheme=torch.per_channel_symmetric, ch_axis=0)
    return FakeQuantize(MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8,
                        qscheme=torch.per_tensor_affine)


class Net(torch.nn.Module):
    def __init__(self, qat, lsq=False):
        super().__init__()
        self.fcs = torch.nn.ModuleList([torch.nn.Linear(784, 100), torch.nn.Linear(100, 100), torch.nn.Linear(100, 10)])
        self.qat = qat
        if qat:
            self.input_fq = fake_quantize(False, lsq)
            self.weight_fq = torch.nn.ModuleList(fake_quantize(True, lsq, fc.out_features) for fc in self.fcs)
            self.act_fq = torch.nn.ModuleList(fake_quantize(False, lsq) for _ in self.fcs)

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


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv1, self.relu1, self.pool1 = torch.nn.Conv2d(1, 8, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2)
        self.conv2, self.relu2, self.pool2 = torch.nn.Conv2d(8, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(256, 10)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(self.quant(x.reshape(-1, 1, 28, 28)))))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.dequant(self.fc(torch.flatten(x, 1)))


def conv_net(qat):
    net = ConvNet()
    if qat:
        net.train()
        net = torch.ao.quantization.fuse_modules_qat(net, [["conv1", "relu1"], ["conv2", "relu2"]])
        net.qconfig = torch.ao.quantization.QConfig(activation=lambda **_: fake_quantize(False),
                                                    weight=lambda **_: fake_quantize(True))
        torch.ao.quantization.prepare_qat(net, inplace=True)
    return net


def steps_per_second(qat, lsq=False, conv=False):
    x, y = torch.rand(8000, 784), torch.randint(0, 10, (8000,))
    net = conv_net(qat) if conv else Net(qat, lsq)
    nodes = [m for m in net.modules() if isinstance(m, _LearnableFakeQuantize)]
    for m in nodes:
        m.enable_static_estimate()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    perm = torch.randperm(8000)
    start, cpu = time.perf_counter(), time.process_time()
    for s in range(STEPS):
        if s == 10:
            for m in nodes:
                m.enable_param_learning()
        idx = perm[(s * 64) % 7936:(s * 64) % 7936 + 64]
        opt.zero_grad()
        F.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    return STEPS / (time.perf_counter() - start), STEPS / (time.process_time() - cpu)


RATES = {"fp32": steps_per_second(False), "qat8": steps_per_second(True), "lsq8": steps_per_second(True, lsq=True),
         "conv_fp32": steps_per_second(False, conv=True), "conv_qat8": steps_per_second(True, conv=True)}
print(json.dumps({"torch": torch.__version__, **{k: wall for k, (wall, _) in RATES.items()},
                  "cpu": {k: cpu for k, (_, cpu) in RATES.items()}}))
