"""XRD_Transformer: attention over the reflections to predict, not over the whole grid.

Tokens are the voxels of the target mask (channel 2 of the input, see `xrdplug.models.batch`), gathered
per sample and padded to the longest sample of the batch with a key padding mask. Token features are
one-hot h, k, l (the grid position) + F_norm known + known flag + s2 scaled (the cell metric).
keys="all" (reference): self-attention over all target reflections, O(n^2); keys="known": every reflection
attends to the measured ones only (queries all, keys/values the known tokens), O(n * n_known), about 6x
cheaper at 0.8/1.5 A, which is what a CPU-trained model can afford. Attention is
`torch.nn.functional.scaled_dot_product_attention` (fused kernels on CPU and GPU). Outputs are scattered
back onto the grid; everything outside the target mask is 0.
Reference size: embedding 128, depth 5, heads 4, MLP ratio 4, dropout 0.1 (about 1.0M parameters).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.dropout = dropout
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None, kv_index: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, n, d); attn_mask (B, 1, 1, m) True = attend; kv_index (B, m): keys/values are x[:, kv_index]
        (all tokens when None). Dropout is kept out of the attention matrix itself: it would force the
        unfused O(n^2)-memory path."""
        b, n, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        if kv_index is not None:
            idx = kv_index[:, None, :, None].expand(-1, self.heads, -1, hd)
            k, v = torch.gather(k, 2, idx), torch.gather(v, 2, idx)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


class XRDTransformer(nn.Module):
    def __init__(
        self,
        grid_shape: tuple[int, int, int] | list[int] = (41, 21, 21),
        embed_dim: int = 128,
        depth: int = 5,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        keys: str = "all",
    ):
        super().__init__()
        if keys not in ("all", "known"):
            raise ValueError(f"keys must be 'all' or 'known', not {keys!r}")
        self.keys = keys
        if embed_dim % heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by heads {heads}")
        self.grid_shape = tuple(int(s) for s in grid_shape)
        n_onehot = sum(self.grid_shape)
        self.embed = nn.Linear(n_onehot + 3, embed_dim)
        self.blocks = nn.ModuleList(Block(embed_dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        size = x.shape[-3:]
        if tuple(size) != self.grid_shape:
            raise ValueError(f"input grid {tuple(size)} differs from the model's {self.grid_shape}")
        flat = x.flatten(2)  # (B, 4, V)
        target = flat[:, 2] > 0.5  # (B, V)
        counts = target.sum(1)
        n = max(int(counts.max()), 1)
        # Gather target voxel indices per sample, padded: sort puts target voxels first (stable keeps order).
        order = torch.argsort((~target).to(torch.int8), dim=1, stable=True)[:, :n]  # (B, n)
        valid = torch.arange(n, device=x.device)[None, :] < counts[:, None]  # (B, n)
        feats = torch.gather(flat, 2, order[:, None, :].expand(-1, 4, -1))  # (B, 4, n)
        v = order
        d1, d2 = size[1] * size[2], size[2]
        ih, ik, il = v // d1, (v // d2) % size[1], v % d2
        onehot = torch.cat(
            [
                F.one_hot(ih, size[0]),
                F.one_hot(ik, size[1]),
                F.one_hot(il, size[2]),
            ],
            dim=-1,
        ).to(x.dtype)
        tok = torch.cat([onehot, feats[:, 0:2].transpose(1, 2), feats[:, 3:4].transpose(1, 2)], dim=-1)
        h = self.embed(tok)
        if self.keys == "all":
            kv_index, attn_mask = None, valid[:, None, None, :]  # (B, 1, 1, n): True = attend
        else:
            # every token attends to the measured reflections only: O(n * n_known) instead of O(n^2)
            is_known = (feats[:, 1] > 0.5) & valid
            kc = is_known.sum(1)
            m = max(int(kc.max()), 1)
            kv_index = torch.argsort((~is_known).to(torch.int8), dim=1, stable=True)[:, :m]
            attn_mask = (torch.arange(m, device=x.device)[None, :] < kc[:, None])[:, None, None, :]
        for blk in self.blocks:
            h = blk(h, attn_mask, kv_index)
        out = self.head(self.norm(h))[..., 0].float() * valid  # (B, n)
        y = torch.zeros(b, flat.shape[-1], device=x.device, dtype=out.dtype)
        y.scatter_(1, order, out)
        # padded slots point at non-target voxels and carry 0; scatter of 0 there is harmless
        return y.view(b, *size).to(x.dtype)
