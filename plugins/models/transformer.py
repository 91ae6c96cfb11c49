"""Built-in model plugin `transformer`: XRD_Transformer with attention over the reflections to predict
(embedding 128, depth 5, 4 heads, MLP ratio 4, dropout 0.1, one-hot h/k/l; ~1.0M)."""

from __future__ import annotations

from pathlib import Path

from xrdplug import hookimpl
from xrdplug.models.plugin import ModelSpec

WEIGHTS = Path(__file__).parent / "weights"


def build(embed_dim=128, depth=5, heads=4, mlp_ratio=4.0, dropout=0.1, grid_shape=(41, 21, 21), keys="all"):
    from xrdplug.models.transformer import XRDTransformer

    return XRDTransformer(
        grid_shape=grid_shape, embed_dim=embed_dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, dropout=dropout,
        keys=keys,
    )


MODEL = ModelSpec(
    name="transformer",
    description="XRD_Transformer: attention over target reflections (one-hot hkl + F + known + s2 tokens)",
    default_hparams={
        "embed_dim": 128, "depth": 5, "heads": 4, "mlp_ratio": 4.0, "dropout": 0.1, "grid_shape": [41, 21, 21], "keys": "all",
    },
    builder=build,
    weights=WEIGHTS / "transformer.pt",
)


@hookimpl
def xrdplug_register_models():
    return [MODEL]
