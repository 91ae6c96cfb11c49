"""XRD_Transformer: attention over the reflections of a structure, for any cell.

`XRDTransformer` (layout "cell-grid", `xrdplug.batch`): the tokens are the target reflections of
the cell's own grid. Each token carries what is measured (F_norm, known flag), its resolution and its
Cartesian reciprocal-space position s (channels 3-6: the cell's metric), expanded in fixed Fourier features of
s, so the same hkl in two cells is two different tokens. Attention is local and global at linear cost:

- windowed self-attention: tokens are put in Morton (Z-curve) order of their grid index and cut into
  windows of `window` consecutive tokens (neighbours in reciprocal space), every other block shifted by half
  a window so that information crosses window borders (as in Swin);
- `latents` global tokens per sample: in each block they read all tokens (cross-attention) and every
  token reads them back, so the whole sphere informs every prediction in O(n * latents).

Cost per block is O(n * (window + latents)) for n reflections, so 12,000 reflections cost about 12x what
1,000 cost (measured: `xrdplug bench extend`).

`LegacyXRDTransformer` (layout "grid41") is the first shipped design, kept so that its checkpoints load:
one-hot h/k/l on the fixed 41 x 21 x 21 grid and attention over all (or all known) target reflections.

Tokens are the voxels of the target mask (channel 2 of the input, see `xrdplug.batch`), gathered
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


class LegacyXRDTransformer(nn.Module):
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
        self.input_layout = "grid41"
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


# ------------------------------------------------------------------------------------------ any-cell model


def _morton_keys(shape: tuple[int, int, int], device: torch.device) -> torch.Tensor:
    """Z-curve key of every grid point (bits of i, j, k interleaved): nearby indices get nearby keys."""
    idx = [torch.arange(n, device=device, dtype=torch.int64) for n in shape]
    i, j, k = torch.meshgrid(*idx, indexing="ij")
    key = torch.zeros(shape, dtype=torch.int64, device=device)
    for bit in range(7):  # indices < 128
        key |= ((i >> bit) & 1) << (3 * bit + 2)
        key |= ((j >> bit) & 1) << (3 * bit + 1)
        key |= ((k >> bit) & 1) << (3 * bit)
    return key.flatten()


class WindowBlock(nn.Module):
    """Pre-norm transformer block: windowed self-attention, global latent exchange, MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, window: int, shift: bool):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_lat = nn.LayerNorm(dim)
        self.read = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=True)  # latents <- tokens
        self.norm_tok = nn.LayerNorm(dim)
        self.write = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=True)  # tokens <- latents
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def _window_attention(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        b, n0, d = x.shape  # n0 is a multiple of the window
        w, hd = self.window, d // self.heads
        if self.shift:  # windows offset by half a window (padding at both ends, no wrap-around)
            x = F.pad(x, (0, 0, w // 2, w // 2))
            valid = F.pad(valid, (w // 2, w // 2), value=False)
        n = x.shape[1]
        nw = n // w
        q, k, v = self.qkv(self.norm1(x)).view(b * nw, w, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        keys = valid.view(b * nw, w).clone()
        keys[:, 0] |= ~keys.any(1)  # a window of padding only still has one key (its output is discarded)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keys[:, None, None, :])
        out = self.proj(a.transpose(1, 2).reshape(b, n, d))
        return out[:, w // 2 : w // 2 + n0] if self.shift else out

    def forward(self, x: torch.Tensor, valid: torch.Tensor, lat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + self.drop(self._window_attention(x, valid))
        kn = self.norm_lat(x)
        lat = lat + self.read(lat, kn, kn, key_padding_mask=~valid, need_weights=False)[0]
        lt = self.norm_tok(lat)
        x = x + self.drop(self.write(self.norm_tok(x), lt, lt, need_weights=False)[0])
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, lat


class XRDTransformer(nn.Module):
    """Transformer over the target reflections of any cell (see the module docstring)."""

    input_layout = "cell-grid"

    def __init__(self, embed_dim: int = 128, depth: int = 5, heads: int = 4, mlp_ratio: float = 4.0,
                 dropout: float = 0.1, window: int = 64, latents: int = 16, fourier_features: int = 32,
                 in_channels: int = 7, seed: int = 0):
        super().__init__()
        if embed_dim % heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by heads {heads}")
        if window < 2 or window % 2:
            raise ValueError(f"window must be an even number >= 2, not {window}")
        self.window = int(window)
        self.in_channels = int(in_channels)
        g = torch.Generator().manual_seed(seed)
        # fixed random Fourier features of s (in units of 1/d_high): frequencies up to ~8 periods over the sphere
        self.register_buffer("freqs", torch.randn(3, fourier_features, generator=g) * 4.0, persistent=True)
        n_feat = 2 + 1 + 3 + 2 * fourier_features  # F_norm, known, s2, s, sin/cos
        self.embed = nn.Linear(n_feat, embed_dim)
        self.latents = nn.Parameter(torch.randn(latents, embed_dim) * 0.02)
        self.blocks = nn.ModuleList(
            WindowBlock(embed_dim, heads, mlp_ratio, dropout, self.window, shift=bool(i % 2)) for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, size = x.shape[0], x.shape[-3:]
        flat = x.flatten(2)  # (B, C, V)
        target = flat[:, 2] > 0.5
        counts = target.sum(1)
        w = self.window
        n = max(int(counts.max()), 1)
        n = ((n + w - 1) // w) * w
        key = _morton_keys(tuple(size), x.device)
        big = torch.iinfo(torch.int64).max
        order_key = torch.where(target, key[None, :], torch.full_like(key[None, :], big))
        order = torch.argsort(order_key, dim=1, stable=True)  # target voxels first, in Z-curve order
        if order.shape[1] < n:  # fewer voxels than the padded token count: repeat the last (masked anyway)
            order = torch.cat([order, order[:, -1:].expand(-1, n - order.shape[1])], 1)
        order = order[:, :n]
        valid = torch.arange(n, device=x.device)[None, :] < counts[:, None]
        feats = torch.gather(flat, 2, order[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)  # (B, n, C)
        s = feats[..., 4:7]
        ph = s @ self.freqs
        tok = torch.cat([feats[..., 0:2], feats[..., 3:4], s, torch.sin(ph), torch.cos(ph)], dim=-1)
        h = self.embed(tok) * valid[..., None]
        lat = self.latents[None].expand(b, -1, -1)
        for blk in self.blocks:
            h, lat = blk(h, valid, lat)
        out = self.head(self.norm(h))[..., 0].float() * valid
        y = torch.zeros(b, flat.shape[-1], device=x.device, dtype=out.dtype)
        y.scatter_add_(1, order, out)  # padded slots carry 0 (masked), and may repeat an index: add, not set
        return y.view(b, *size).to(x.dtype)
