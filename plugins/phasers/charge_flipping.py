"""The `charge-flipping` phaser: smtbx's charge flipping, no external program needed."""

from __future__ import annotations

import time
from typing import Any

from xrdplug.plugin_api import PhasingResult, hookimpl


class ChargeFlippingPhaser:
    name = "charge-flipping"
    description = (
        "charge flipping (smtbx.ab_initio): independent attempts ranked by their own figures, origin in the "
        "true space group, least-squares polish"
    )

    def available(self) -> tuple[bool, str]:
        return True, "built in (smtbx); needs data to about 1.2 A or better"

    def solve(self, f_obs: Any, **options: Any) -> PhasingResult:
        """Options: formula, n_atoms, max_attempts (12), budget (120 CPU s), max_iterations (1000), seed,
        normalise, delta_over_sigma, peak_fraction, origins, polish_model, progress (see cctbx_bridge.phasing)."""
        from cctbx_bridge.phasing import charge_flip

        known = {
            "formula",
            "n_atoms",
            "max_attempts",
            "budget",
            "max_iterations",
            "seed",
            "normalise",
            "delta_over_sigma",
            "peak_fraction",
            "origins",
            "polish_model",
            "progress",
        }
        opts = {k: v for k, v in options.items() if k in known and v is not None}
        t0 = time.perf_counter()
        outcome = charge_flip(f_obs, **opts)
        return PhasingResult(
            structure=outcome.structure,
            phaser=self.name,
            seconds=time.perf_counter() - t0,
            figures=outcome.figures,
            log=outcome.log,
        )


@hookimpl
def xrdplug_register_phasers() -> list[object]:
    return [ChargeFlippingPhaser()]
