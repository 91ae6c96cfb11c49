"""The one place that imports cctbx, iotbx, smtbx and scitbx.

Importing this package first makes sure cctbx can load in this process (see `xrdplug.runtime`), so every
module here may import cctbx at top level. Nothing outside this package imports cctbx directly.
"""

from __future__ import annotations

from xrdplug.runtime import check_cctbx_loadable, preload_cctbx_runtime

check_cctbx_loadable()
preload_cctbx_runtime()
