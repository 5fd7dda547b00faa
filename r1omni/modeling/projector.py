"""The `all_in_one_small` visual projector of HumanOmni / R1-Omni, written natively with timm's parameter names.

timm is not used (it pulls torchvision, which does not import beside our CPU torch); the few RegNet blocks are
re-written here so the released state dict (`s1_video.b1.conv1.conv.weight`, `.bn.weight`, `.se.fc1`, ...) loads
with strict key matching. Facts: shared/reference/r1omni.md 1.6 and 9.

Input: SigLIP patch features (B, T, P, C) with P = g*g, g even. Output: (B, T*(g/2)^2, D), time-major,
as `p0*video + p1*body + p2*face` with the gate probabilities p (B, 3).
This module knows nothing about towers, text or checkpoints.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LayerNormAct2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map, then an optional SiLU (timm's `.bn` slot)."""

    def __init__(self, channels: int, apply_act: bool = True, eps: float = 1e-5):
        # compat: eps 1e-5 (the reference passes nn.LayerNorm defaults), not timm LayerNorm2d's 1e-6.
        super().__init__(channels, eps=eps)
        self.act = nn.SiLU() if apply_act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return self.act(x.permute(0, 3, 1, 2))


class ConvNormAct(nn.Module):
    """Conv2d (no bias) -> LayerNorm over channels -> optional SiLU; children named `conv` and `bn` as in timm."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 1, groups: int = 1, apply_act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, padding=kernel_size // 2, groups=groups, bias=False)
        self.bn = LayerNormAct2d(out_chs, apply_act=apply_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class SqueezeExcite(nn.Module):
    """Squeeze-excitation with 1x1 convs `fc1`/`fc2` (with bias), SiLU inside, sigmoid gate."""

    def __init__(self, channels: int, rd_channels: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, rd_channels, 1, bias=True)
        self.act = nn.SiLU()
        self.fc2 = nn.Conv2d(rd_channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))


class RegBottleneck(nn.Module):
    """RegNet bottleneck (bottle_ratio 1, group size 1 = depthwise 3x3, SE ratio 0.25 of the *input* width)."""

    def __init__(self, in_chs: int, out_chs: int, se_ratio: float = 0.25):
        super().__init__()
        self.conv1 = ConvNormAct(in_chs, out_chs, 1)
        self.conv2 = ConvNormAct(out_chs, out_chs, 3, groups=out_chs)
        self.se = SqueezeExcite(out_chs, round(in_chs * se_ratio))
        self.conv3 = ConvNormAct(out_chs, out_chs, 1, apply_act=False)
        # 1x1 conv + norm shortcut only where the width changes; identity otherwise.
        self.downsample = ConvNormAct(in_chs, out_chs, 1, apply_act=False) if in_chs != out_chs else None
        self.act3 = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.conv3(self.se(self.conv2(self.conv1(x))))
        return self.act3(x + shortcut)


class RegStage(nn.Sequential):
    """`depth` bottlenecks named b1..bN; the first maps in_chs -> out_chs."""

    def __init__(self, depth: int, in_chs: int, out_chs: int):
        super().__init__()
        for i in range(depth):
            self.add_module(f"b{i + 1}", RegBottleneck(in_chs if i == 0 else out_chs, out_chs))


def _mlp(in_features: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, hidden))


def check_patch_grid(num_patches: int) -> int:
    """Side g of the square patch grid; g must be even (the 2x samplers halve it)."""
    g = math.isqrt(num_patches)
    if g * g != num_patches or g % 2:
        raise ValueError(
            f"the visual projector needs an even square patch grid, got {num_patches} patches per frame "
            f"(image_size / patch_size must be even, e.g. 224/16 = 14)"
        )
    return g


class AllInOneSmall(nn.Module):
    """Three visual branches fused by gate weights: 0 video/scene, 1 body (RegStage + Conv3d sampler), 2 face (MLP).

    Only the samplers mix frames, and their temporal kernel covers steps k-1 and k: the tokens of frame k
    depend on frames k-1 and k alone (`frame_causal`), so a changed frame leaves every earlier frame's tokens
    as they were (what lets a scoring session reuse the prompt KV up to the first changed frame)."""

    frame_causal = True

    def __init__(self, mm_hidden_size: int, hidden_size: int, depth: int = 2):
        super().__init__()
        c, d = mm_hidden_size, hidden_size
        for branch in ("video", "body"):
            self.add_module(f"s1_{branch}", RegStage(depth, c, d))
            # Conv3d k=(2,2,2) s=(1,2,2) p=(1,0,0): T frames -> T+1 steps, g -> g/2
            self.add_module(f"sampler_{branch}", nn.Sequential(nn.Conv3d(d, d, 2, (1, 2, 2), (1, 0, 0)), nn.SiLU()))
            self.add_module(f"s2_{branch}", RegStage(depth, d, d))
            self.add_module(f"readout_{branch}", _mlp(d, d))
        self.mlp_2xgelu_face = _mlp(c, d)

    def _conv_branch(self, x: torch.Tensor, branch: str, b: int, t: int, g: int) -> torch.Tensor:
        s1, sampler = getattr(self, f"s1_{branch}"), getattr(self, f"sampler_{branch}")
        s2, readout = getattr(self, f"s2_{branch}"), getattr(self, f"readout_{branch}")
        x = s1(x)  # (B*T, D, g, g)
        d = x.shape[1]
        x = x.view(b, t, d, g, g).permute(0, 2, 1, 3, 4)  # (B, D, T, g, g)
        x = sampler(x)[:, :, :t]  # (B, D, T+1, g/2, g/2) -> drop the last step -> (B, D, T, g/2, g/2)
        h = g // 2
        x = x.permute(0, 2, 1, 3, 4).reshape(b * t, d, h, h)
        x = s2(x)  # (B*T, D, g/2, g/2)
        x = x.view(b, t, d, h * h).permute(0, 1, 3, 2).reshape(b, t * h * h, d)  # time-major tokens
        return readout(x)

    def branches(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, P, C) -> three (B, T*(g/2)^2, D) branch outputs (video, body, face)."""
        b, t, p, c = feats.shape
        g = check_patch_grid(p)
        grid = feats.reshape(b * t, g, g, c).permute(0, 3, 1, 2)  # (B*T, C, g, g)
        video = self._conv_branch(grid, "video", b, t, g)
        body = self._conv_branch(grid, "body", b, t, g)
        face = self.mlp_2xgelu_face(feats)  # (B, T, P, D)
        d = face.shape[-1]
        face = face.reshape(b * t, g, g, d).permute(0, 3, 1, 2)
        # compat: the reference pools the face branch with bilinear interpolation g -> g/2 (== 2x2 mean pooling)
        face = F.interpolate(face, size=(g // 2, g // 2), mode="bilinear", align_corners=False)
        face = face.flatten(2).transpose(1, 2).reshape(b, -1, d)
        return video, body, face

    # Frame by frame (what `frame_causal` allows): the per-frame stages run once per distinct frame, the rest once
    # per distinct (previous frame, frame) pair. Together they give `forward`'s tokens, one time step at a time.
    def frame_parts(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, P, C) frames -> their per-frame parts: the first stages of the video and body branches
        (N, D, g, g) and the pooled face tokens (N, (g/2)^2, D)."""
        n, p, c = feats.shape
        g = check_patch_grid(p)
        grid = feats.reshape(n, g, g, c).permute(0, 3, 1, 2)
        face = self.mlp_2xgelu_face(feats)
        d = face.shape[-1]
        face = face.reshape(n, g, g, d).permute(0, 3, 1, 2)
        face = F.interpolate(face, size=(g // 2, g // 2), mode="bilinear", align_corners=False)
        return self.s1_video(grid), self.s1_body(grid), face.flatten(2).transpose(1, 2)

    def step_tokens(self, prev: tuple | None, cur: tuple, gate_probs: torch.Tensor) -> torch.Tensor:
        """Fused tokens (N, (g/2)^2, D) of N time steps from the `frame_parts` of each step's frame and of the
        frame before it (`prev` None: the first step, whose previous frame is the sampler's zero padding)."""
        out = []
        for i, branch in enumerate(("video", "body")):
            x = cur[i]
            before = torch.zeros_like(x) if prev is None else prev[i]
            conv = getattr(self, f"sampler_{branch}")[0]
            y = F.silu(F.conv3d(torch.stack([before, x], dim=2), conv.weight, conv.bias, stride=conv.stride))[:, :, 0]
            y = getattr(self, f"s2_{branch}")(y)  # (N, D, g/2, g/2)
            out.append(getattr(self, f"readout_{branch}")(y.flatten(2).transpose(1, 2)))
        w = gate_probs.to(out[0].dtype).reshape(-1)
        return w[0] * out[0] + w[1] * out[1] + w[2] * cur[2]

    def forward(self, feats: torch.Tensor, gate_probs: torch.Tensor) -> torch.Tensor:
        """feats (B, T, P, C), gate_probs (B, 3) -> fused (B, T*(g/2)^2, D)."""
        video, body, face = self.branches(feats)
        w = gate_probs.to(video.dtype)[:, :, None, None]  # (B, 3, 1, 1)
        return w[:, 0] * video + w[:, 1] * body + w[:, 2] * face
