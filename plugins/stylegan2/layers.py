"""Building blocks of StyleGAN2 in plain PyTorch (no compiled ops; CPU and GPU alike).

Conventions shared by every layer here:

- Equalised learning rate: parameters are stored as drawn from N(0, 1) (divided by ``lr_mul``
  for the mapping network) and scaled by ``lr_mul / sqrt(fan_in)`` at run time.
- Leaky ReLU has slope 0.2 and gain sqrt(2); a bias is added just before it.
- ``conv_clamp`` (optional) clamps activations to [-c, c] after the gain, as NVIDIA does.
- Resampling uses the separable FIR filter [1, 3, 3, 1] (normalised), implemented as a depthwise
  convolution; up-sampling convolutions are stride-2 transposed convolutions followed by the
  filter, down-sampling ones are the filter followed by a stride-2 convolution.
- Modulated convolutions are "non-fused": activations are scaled by the styles, one convolution
  with the shared weight runs over the whole batch, and the result is scaled by the per-sample
  demodulation coefficients. This is mathematically the same as per-sample weights (the grouped
  convolution of the papers) but much faster for training, on CPU above all.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
SQRT_HALF = math.sqrt(0.5)


def fir_kernel(gain: float = 1.0) -> torch.Tensor:
    """The 2-D [1, 3, 3, 1] filter, normalised to sum ``gain``; shape [4, 4]."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k2 = torch.outer(k, k)
    return k2 * (gain / k2.sum())


def _depthwise(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    return kernel[None, None].expand(channels, 1, *kernel.shape)


def blur(x: torch.Tensor, kernel: torch.Tensor, pad: int, stride: int = 1) -> torch.Tensor:
    """Filter every channel with ``kernel`` (symmetric, so correlation = convolution)."""
    c = x.shape[1]
    if stride > 1 and _bf16_on_cpu(x):
        # the same numbers: PyTorch's CPU backward of a strided depthwise convolution in bf16
        # is ~10x slower than the unstrided one (6.7 vs 0.7 ms at [48, 32, 16, 16]; issue 18)
        full = F.conv2d(x, _depthwise(kernel, c), padding=pad, groups=c)
        return full[:, :, ::stride, ::stride]
    return F.conv2d(x, _depthwise(kernel, c), padding=pad, stride=stride, groups=c)


def _bf16_on_cpu(x: torch.Tensor) -> bool:
    """Whether a convolution of ``x`` runs in bfloat16 on the CPU (bf16 tensor or autocast)."""
    if x.device.type != "cpu":
        return False
    return x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                         and torch.get_autocast_dtype("cpu") == torch.bfloat16)


def upsample2d(x: torch.Tensor, kernel4: torch.Tensor) -> torch.Tensor:
    """2x FIR up-sampling (zero insertion, pad (2, 1), filter of sum 4): [H, W] -> [2H, 2W]."""
    c = x.shape[1]
    return F.conv_transpose2d(x, _depthwise(kernel4, c), stride=2, padding=1, groups=c)


def act_clamp(x: torch.Tensor, act: bool, clamp: float | None) -> torch.Tensor:
    """Leaky ReLU (slope 0.2, in place: the caller's tensor is a fresh temporary) and the
    optional clamp. The sqrt(2) gain is folded into the weights and biases beforehand, which is
    exact because leaky ReLU is positively homogeneous: lrelu(g * y) = g * lrelu(y), g > 0."""
    if act:
        x = F.leaky_relu_(x, 0.2)
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate. Names: ``weight`` [out, in], ``bias``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = SQRT2 if self.activate else 1.0
        w = self.weight * (self.weight_gain * g)
        b = None if self.bias is None else self.bias * (self.lr_mul * g)
        return act_clamp(F.linear(x, w, b), self.activate, None)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, lr_mul={self.lr_mul}"


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate, optional FIR down-sampling (factor 2),
    bias and leaky ReLU. Names: ``weight`` [out, in, k, k], ``bias`` [out] (if any)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 bias: bool = True, activate: bool = True, down: bool = False,
                 conv_clamp: float | None = None, gain: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.kernel_size, self.activate, self.down = kernel_size, activate, down
        # output = gain * act(conv + bias), clamped to +-conv_clamp * gain (NVIDIA's semantics)
        self.gain = gain
        self.clamp = None if conv_clamp is None else conv_clamp * gain
        self.register_buffer("fir", fir_kernel(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.gain * (SQRT2 if self.activate else 1.0)
        w = self.weight * (self.weight_gain * g)
        b = None if self.bias is None else self.bias * g
        k = self.kernel_size
        if not self.down:
            x = F.conv2d(x, w, b, padding=k // 2)
        elif k == 1:
            # filter with pad 1 and keep every second sample (a strided filter), then the 1x1
            x = F.conv2d(blur(x, self.fir, pad=1, stride=2), w, b)
        else:
            pad = (4 - 2 + k - 1) // 2   # 2 for k = 3: [H] -> [H + 1] -> stride 2 -> [H / 2]
            x = F.conv2d(blur(x, self.fir, pad=pad), w, b, stride=2)
        return act_clamp(x, self.activate, self.clamp)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i} -> {o}, k={k}, down={self.down}, act={self.activate}"


class ModulatedConv(nn.Module):
    """One synthesis layer: modulated (demodulated) 3x3 convolution, optional 2x up-sampling,
    per-pixel noise with learned strength, bias, leaky ReLU, optional clamp.

    Names: ``weight`` [out, in, 3, 3], ``affine.weight`` [in, w_dim], ``affine.bias`` [in]
    (initialised to 1), ``noise_strength`` [] , ``bias`` [out]; buffer ``noise_const`` [r, r].
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *,
                 up: bool = False, conv_clamp: float | None = None, kernel_size: int = 3):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("fir", fir_kernel(), persistent=False)
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.up, self.resolution, self.conv_clamp = up, resolution, conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random"):
        # the equalised-lr gain rides on the styles: conv(x * s * g, W) = conv(x * s, W * g)
        styles = self.affine(w) * self.weight_gain                 # [N, I]
        weight = self.weight                                       # [O, I, k, k]
        x = x * styles[:, :, None, None]
        if self.up:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)   # [2H + 1]
            x = blur(x, self.fir, pad=1)                                   # [2H], gain 4 below
        else:
            x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
        # demodulation 1 / sqrt(sum_{i,k} (w_oik s_ni)^2) as one small matmul; the up-sampling
        # filter's gain 4 and the activation gain sqrt(2) ride on the small tensors too
        wsq = weight.square().sum(dim=(2, 3))                       # [O, I]
        gain = SQRT2 * (4.0 if self.up else 1.0)
        dcoefs = (styles.square() @ wsq.t()).add_(1e-8).rsqrt() * gain  # [N, O]
        x = torch.addcmul((self.bias * SQRT2)[None, :, None, None], x, dcoefs[:, :, None, None])
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device,
                                dtype=x.dtype)
            x = x.add_(noise * (self.noise_strength * SQRT2))
        elif noise_mode == "const":
            x = x.add_(self.noise_const * (self.noise_strength * SQRT2))
        elif noise_mode != "none":
            raise ValueError(f"noise_mode must be random, const or none, not {noise_mode!r}")
        return act_clamp(x, True, self.conv_clamp)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i} -> {o}, res={self.resolution}, up={self.up}"


class ToRGB(nn.Module):
    """1x1 modulated convolution without demodulation, plus bias (and the optional clamp).

    Names: ``weight`` [img_channels, in, 1, 1], ``bias`` [img_channels], ``affine.*``.
    """

    def __init__(self, in_channels: int, img_channels: int, w_dim: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.conv_clamp = conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # few output channels: per-sample modulated weights and one batched matmul, which
        # spares a pass over the wide input (the 3x3 layers cannot do this cheaply)
        styles = self.affine(w) * self.weight_gain                         # [N, I]
        n, i, h, wd = x.shape
        wmod = self.weight.view(1, -1, i) * styles[:, None, :]             # [N, C, I]
        x = torch.baddbmm(self.bias.view(1, -1, 1).expand(n, -1, 1), wmod,
                          x.reshape(n, i, h * wd)).view(n, -1, h, wd)
        return act_clamp(x, False, self.conv_clamp)
