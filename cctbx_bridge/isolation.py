"""Run a C-level parser on untrusted bytes in a forked child first.

Some of cctbx's C++ readers crash (iotbx.cif segfaults on a loop header cut off at the end of the file)
or loop forever (CCP4's cmtz on some damaged headers). A fork costs a few milliseconds: the child parses,
and only if it survives does the parent parse for real. Where fork is unavailable the probe is skipped.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from xrdplug.errors import XrdplugError


def probe(parse: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Raise XrdplugError if `parse()` kills or hangs the process; any Python exception is left to the caller."""
    if not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # child: parse, report nothing but how it ended
        import faulthandler

        faulthandler.disable()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # the crash report belongs to the parent's message, not the user's terminal
        code = 0
        try:
            parse()
        except BaseException:
            code = 1
        os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise XrdplugError(f"{what}: the reader did not finish in {timeout:g} s; the file looks damaged")
        time.sleep(0.002)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        raise XrdplugError(f"{what}: the file is damaged (the cctbx reader crashed on it with {sig})")
