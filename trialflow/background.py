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
import mmap
import os
import pickle
import signal
import struct
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["JOBS_VARIABLE", "Background", "BackgroundError", "Claims", "fork", "parallel"]

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
        read, write = os.pipe()

        def step() -> None:
            os.close(read)
            try:
                message = pickle.dumps(("ok", fn(*args, **kwargs)))
            except BaseException as exc:
                try:
                    message = pickle.dumps(("error", exc))
                except Exception:
                    message = pickle.dumps(("error", BackgroundError(f"{exc!r}")))
            with os.fdopen(write, "wb") as pipe:
                pipe.write(message)

        pid = fork(step)
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


def fork(work: Callable[[], None]) -> int:
    """Run ``work()`` in a forked child process and return the child's pid at once.

    The child dies with this process (:func:`_die_with`), and it leaves by ``os._exit`` when
    ``work`` returns (exit code 0) or raises (1), so none of this process's exit code (atexit
    functions, buffered output) runs twice. The caller waits for it (``os.waitpid``).

    Example:
        >>> pid = fork(lambda: None)
        >>> os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        0
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()  # nothing buffered is written twice
    parent = os.getpid()
    with warnings.catch_warnings(), _interrupts_held():
        # Python 3.12+ warns that a fork of a threaded process may deadlock in the child: the
        # children here only run trialflow's own steps, which take none of the locks the other
        # threads (a progress bar, a finished sheet reader) hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: run, and leave without running the parent's exit code
        code = 0
        try:
            _die_with(parent)
            work()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


class Claims:
    """Items of a list shared out between two processes as they go.

    One process takes items from the start of the list, the other from its end, one at a
    time, until the two meet; either may take all that is left at once (:meth:`rest`). The
    validation shares its rules this way (the rules of a topic sit together and share derived
    facts, so each process computes few facts the other also computes, and neither waits for
    the other however the work falls), and ``trialflow validate`` its XPT files.

    The next index from the front and the end from the back are two integers in memory
    shared across the fork, read and changed under a POSIX record lock (``lockf``) on an
    anonymous file: the kernel releases such a lock when its process dies, so a child killed
    while it holds it cannot leave the parent waiting. Linux only (``os.memfd_create``):
    elsewhere the callers use one process.

    Example:
        >>> with Claims.of(5) as claims:
        ...     front, back = claims.each(True), claims.each(False)
        ...     next(front), next(back), next(back), claims.rest(True), next(back, None)
        (0, 4, 3, range(1, 3), None)
    """

    _LAYOUT = struct.Struct("qq")

    def __init__(self, count: int) -> None:
        self._memory = mmap.mmap(-1, self._LAYOUT.size)  # MAP_SHARED: both see each change
        self._LAYOUT.pack_into(self._memory, 0, 0, count)
        self._lock = os.memfd_create("trialflow-claims")

    @classmethod
    @contextlib.contextmanager
    def of(cls, count: int) -> Iterator[Claims]:
        """Claims over ``count`` items, released when the block ends."""
        claims = cls(count)
        try:
            yield claims
        finally:
            claims.close()

    def close(self) -> None:
        """Release the shared memory and the lock's file.

        Example:
            >>> Claims(1).close()
        """
        os.close(self._lock)
        self._memory.close()

    def each(self, front: bool) -> Iterator[int]:
        """The indices this process claims, from the front (0, 1, ...) or the back."""
        while (index := self._claim(front, 1)) is not None:
            yield index[0]

    def rest(self, front: bool) -> range:
        """Every index not yet claimed, claimed at once by this process (from either end).

        Example:
            >>> with Claims.of(3) as claims:
            ...     next(claims.each(True)), claims.rest(False), claims.rest(True)
            (0, range(1, 3), range(0, 0))
        """
        return self._claim(front, None) or range(0)

    def _claim(self, front: bool, count: int | None) -> range | None:
        with self._locked():
            low, high = self._LAYOUT.unpack_from(self._memory, 0)
            if low >= high:
                return None
            take = high - low if count is None else min(count, high - low)
            claimed = range(low, low + take) if front else range(high - take, high)
            low, high = (low + take, high) if front else (low, high - take)
            self._LAYOUT.pack_into(self._memory, 0, low, high)
            return claimed

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl  # POSIX only, as memfd_create (claims are made only where both exist)

        fcntl.lockf(self._lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self._lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) while the block runs; it is delivered when the block ends.

    ``os.fork`` runs the hooks modules register for after a fork (logging releases its lock)
    inside the call: a KeyboardInterrupt raised in one of them is printed as "Exception
    ignored" and lost, and the command then runs on instead of stopping. Held back, the
    interrupt arrives once ``os.fork`` has returned, in both processes' own code.

    Example:
        >>> with _interrupts_held():
        ...     held = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        >>> held or not hasattr(signal, "pthread_sigmask")
        True
    """
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: nothing to hold
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


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
