"""A time and memory budget for one request, in a process that serves several people
(the page's worker processes). Standard library only; POSIX (elsewhere, no limits).

* :func:`limit_memory` caps the process's address space (``RLIMIT_AS``): an allocation
  beyond it fails with ``MemoryError`` in that process alone, instead of the kernel's
  out-of-memory killer choosing a victim on the whole machine.
* :func:`cpu_budget` raises :class:`BudgetExceeded` in the main thread once the process
  has spent ``seconds`` more CPU time (``RLIMIT_CPU`` and its ``SIGXCPU``), so a request
  that would run for minutes gives its core back to the others. The process lives on
  and serves the next request.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

try:
    import resource
except ImportError:  # not POSIX
    resource = None


class BudgetExceeded(RuntimeError):
    """A request ran past its CPU-time budget; ``str()`` is one line for the visitor."""


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def limit_memory(nbytes: int, env: str = "MUSICRNN_WORKER_MEMORY_MB") -> None:
    """Cap this process's address space at ``nbytes`` (or the environment variable ``env``,
    in MB), never above a limit already set."""
    if resource is None:
        return
    nbytes = int(_env_number(env, nbytes / 2**20) * 2**20)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = nbytes if hard == resource.RLIM_INFINITY else min(nbytes, hard)
    if soft == resource.RLIM_INFINITY or soft > cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _cpu_used() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextlib.contextmanager
def cpu_budget(seconds: float, what: str = "this request"):
    """Run the block with at most ``seconds`` of CPU time (or the env var
    ``MUSICRNN_REQUEST_CPU_SECONDS``); past it, :class:`BudgetExceeded` is raised where the
    main thread is. Call from the main thread (signal handlers run there)."""
    if resource is None or sys.platform == "win32":
        yield
        return
    seconds = _env_number("MUSICRNN_REQUEST_CPU_SECONDS", seconds)

    def over(signum, frame):
        resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, hard))  # once
        raise BudgetExceeded(f"{what} took more than its {seconds:g} s of computing time and was stopped; "
                             f"ask for less (a shorter piece, fewer variations, a smaller file)")

    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = int(_cpu_used() + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    old = signal.signal(signal.SIGXCPU, over)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        signal.signal(signal.SIGXCPU, old)


__all__ = ["BudgetExceeded", "cpu_budget", "limit_memory"]
