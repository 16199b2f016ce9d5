"""Spreads the files of a lint run over forked processes, with results merged back in order.

Linting is CPU-bound Python (parsing is a fraction of it), so threads would not help; forked
children start with the parser and the rules already imported, and each sends back only small
tuples. This process lints one share itself, so `jobs` processes means `jobs - 1` children.

Results travel as `marshal` data, which covers the plain tuples, lists, strings and numbers of
a lint; `pickle` is imported only for a result marshal cannot write (an input error). Importing
pickle (it imports `re`, `enum`, `collections`, `struct`...) cost about 30 million instructions,
a quarter of the start-up of a parallel run, for results marshal writes as well.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeVar

    Item = TypeVar("Item")
    Result = TypeVar("Result")


def available_cpus() -> int:
    """The CPUs this process may run on (a container or `taskset` may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether forking is safe here: POSIX fork, and no other thread that could hold a lock.

    macOS is left out: its system libraries do not support fork without exec.
    """
    if not hasattr(os, "fork") or sys.platform == "darwin":
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


# Each process takes the next chunk of items when it is done with one, so a process that gets
# less CPU (the machine is shared) takes fewer; chunks per process trade balance for overhead
# (a one-byte read per chunk). With 2 processes and 1,000 files: 64 chunks of 16 files, about
# 1.5 ms each, so the one that finishes first waits about that long at most for the other.
CHUNKS_PER_JOB = 32
MAX_CHUNKS = 255  # a chunk is named by one byte in the queue pipe


def map_in_processes(
    work: Callable[[Item], Result], items: Sequence[Item], jobs: int
) -> list[Result]:
    """`[work(item) for item in items]`, computed by up to `jobs` processes.

    The items are cut into chunks; the queue of chunk numbers is a pipe, written whole before
    forking and read one byte at a time by every process (a read of one byte cannot be split,
    so each chunk goes to exactly one process). Results must pickle (see _dumps). A child that fails for any
    reason (killed, out of memory, a bug) costs only time: the chunks it took are done again
    here, where an exception then surfaces as it would in a serial run.
    """
    jobs = min(jobs, len(items))
    if jobs <= 1 or not can_fork():
        return [work(item) for item in items]
    size = -(-len(items) // min(jobs * CHUNKS_PER_JOB, MAX_CHUNKS))  # ceiling division
    chunks = [items[start : start + size] for start in range(0, len(items), size)]
    queue, queue_end = os.pipe()
    os.write(queue_end, bytes(range(len(chunks))))  # under PIPE_BUF: one write, never blocks
    os.close(queue_end)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the children would inherit, and might write, buffered output
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    try:
        for _ in range(1, jobs):
            read_end, write_end = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # out of processes or memory: do with the children there are
                os.close(read_end)
                os.close(write_end)
                break
            if pid == 0:
                os.close(read_end)
                _child(work, chunks, queue, write_end)  # does not return
            os.close(write_end)
            children.append((pid, read_end))
        done = dict(_take_chunks(work, chunks, queue))
        while children:
            pid, read_end = children.pop()  # _collect closes and reaps it
            done.update(_collect(pid, read_end))
        results: list[Result] = []
        for number, chunk in enumerate(chunks):
            chunk_results = done.get(number)
            if chunk_results is None or len(chunk_results) != len(chunk):
                chunk_results = [work(item) for item in chunk]  # its process failed
            results.extend(chunk_results)
        return results
    finally:
        os.close(queue)
        for pid, read_end in children:  # left over only when this process failed
            os.close(read_end)
            _end(pid)


def _take_chunks(
    work: Callable[[Item], Result], chunks: list[Sequence[Item]], queue: int
) -> list[tuple[int, list[Result]]]:
    """Do chunks from the queue until it is empty; (chunk number, results) for each."""
    done = []
    while token := os.read(queue, 1):
        number = token[0]
        done.append((number, [work(item) for item in chunks[number]]))
    return done


def _child(
    work: Callable[[Item], Result], chunks: list[Sequence[Item]], queue: int, write_end: int
) -> None:
    code = 1
    try:
        payload = _dumps(_take_chunks(work, chunks, queue))
        with open(write_end, "wb") as pipe:
            pipe.write(payload)
        code = 0
    finally:
        # No atexit handlers, no flushing of the parent's streams: only the pipe speaks.
        os._exit(code)


def _collect(pid: int, read_end: int) -> list[tuple[int, list[Any]]]:
    """The (chunk number, results) a child sent; none when it failed."""
    parts = []
    try:
        while part := os.read(read_end, 1 << 16):
            parts.append(part)
    except BaseException:
        _end(pid)
        raise
    finally:
        os.close(read_end)
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return []
    try:
        received = _loads(b"".join(parts))
    except Exception:  # a truncated payload: the child died while writing
        return []
    return received if isinstance(received, list) else []


def _dumps(value: Any) -> bytes:
    """`value` as marshal data when marshal can write it (no pickle import), else pickled; the
    first byte says which. Both processes run the same Python, so marshal's format agrees."""
    try:
        return b"m" + marshal.dumps(value)
    except ValueError:  # an object marshal does not know (an exception, a class instance)
        import pickle

        return b"p" + pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def _loads(payload: bytes) -> Any:
    if payload[:1] == b"m":
        return marshal.loads(memoryview(payload)[1:])
    import pickle

    return pickle.loads(memoryview(payload)[1:])


def _end(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except OSError:
        pass
