"""Run one step of a command in a forked child process while the command goes on.

A run's steps are pandas code that holds the GIL, so threads cannot overlap them; but writing
the SDTM files does not need the ADaM datasets, one BDS dataset does not need another, and
writing the ADaM files does not need the statistics. :class:`Background` forks the process
(the child sees every frame as it is, copy on write, nothing is pickled on the way in), runs
the step there and sends its return value back through a pipe; the parent goes on with the
next step on the other core and takes the result when it needs it. The files written are the
ones the same code writes in one process, byte for byte: only when they are written changes.

The child dies with its parent (``PR_SET_PDEATHSIG`` on Linux), so a killed run leaves no
process behind still writing into its build folder or holding its lock. An exception in the
child is raised again by :meth:`Background.result`; a child killed by a signal is an
:class:`BackgroundError` naming it. Without ``os.fork``, with one CPU, or with
``TRIALFLOW_JOBS=1`` in the environment, the step runs at once, in the process, as it always
did. ``concurrent.futures`` and ``multiprocessing`` pickle the function's arguments (gigabytes
of frames here) or start a fresh interpreter; a fork with a pipe is all this needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["JOBS_VARIABLE", "Background", "BackgroundError", "parallel"]

JOBS_VARIABLE = "TRIALFLOW_JOBS"
"""Environment variable: ``1`` runs every step in one process (no child process)."""


def parallel() -> bool:
    """Whether steps may run in a child process: ``os.fork`` exists, the process may use two
    CPUs or more, and ``TRIALFLOW_JOBS`` is not ``1``.

    Example:
        >>> isinstance(parallel(), bool)
        True
    """
    if not hasattr(os, "fork") or os.environ.get(JOBS_VARIABLE, "").strip() == "1":
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus > 1


class BackgroundError(RuntimeError):
    """A background step ended without a result (killed, or its result could not be sent).

    Example:
        >>> str(BackgroundError("the step ended with no result"))
        'the step ended with no result'
    """


class Background:
    """``fn(*args, **kwargs)`` in a forked child process; :meth:`result` waits for its value.

    Use it as a context manager: leaving the block by an exception kills the child and waits
    for it, so nothing writes into a folder the caller is about to remove.

    Example:
        >>> with Background(sum, [1, 2, 3]) as step:
        ...     step.result()
        6
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._pid: int | None = None
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._name = getattr(fn, "__name__", "step")
        if not parallel():
            self._run_here(fn, args, kwargs)
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()  # nothing buffered is written twice
        read, write = os.pipe()
        parent = os.getpid()
        with warnings.catch_warnings():
            # Python 3.12+ warns that a fork of a threaded process may deadlock in the child:
            # the child here only runs trialflow's writers, which take none of the locks the
            # other threads (a progress bar, a finished sheet reader) hold.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: run, send, leave without running the parent's exit code
            code = 0
            try:
                os.close(read)
                _die_with(parent)
                try:
                    message = pickle.dumps(("ok", fn(*args, **kwargs)))
                except BaseException as exc:
                    try:
                        message = pickle.dumps(("error", exc))
                    except Exception:
                        message = pickle.dumps(("error", BackgroundError(f"{exc!r}")))
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(message)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write)
        self._pid, self._pipe = pid, read

    def _run_here(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except Exception as exc:  # raised by result(), as from a child
            self._error = exc
        self._done = True

    def result(self) -> Any:
        """The step's return value (waiting for the child); its exception raised again.

        Example:
            >>> Background(max, 3, 7).result()
            7
        """
        if not self._done:
            with os.fdopen(self._pipe, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(self._pid, 0)
            self._pid, self._done = None, True
            if not data:
                why = (
                    f"was killed by signal {os.WTERMSIG(status)}"
                    if os.WIFSIGNALED(status)
                    else f"ended with exit code {os.waitstatus_to_exitcode(status)}"
                )
                self._error = BackgroundError(f"the background step {self._name} {why}")
            else:
                kind, payload = pickle.loads(data)
                if kind == "ok":
                    self._value = payload
                else:
                    self._error = payload
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> None:
        """Kill the child (if it still runs) and wait for it; :meth:`result` then raises.

        Example:
            >>> step = Background(sum, [1])
            >>> step.cancel()
        """
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.close(self._pipe)
            os.waitpid(self._pid, 0)
            self._pid, self._done = None, True
            self._error = BackgroundError(f"the background step {self._name} was cancelled")

    def __enter__(self) -> Background:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.cancel()


def _die_with(parent: int) -> None:
    """Have the kernel kill this child when its parent dies (Linux); a parent already gone
    ends the child at once."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child finishes its step and exits
        pass
    if os.getppid() != parent:
        os._exit(1)
