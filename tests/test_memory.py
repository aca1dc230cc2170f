"""The app's stated memory: this process plus its children, read from the OS."""

import subprocess
import sys
import time

import psutil

from workbench.memory import format_bytes, memory_use

HOLD = 300 * 1024**2


def test_a_child_holding_memory_is_counted():
    before = memory_use()
    code = f"b = bytearray({HOLD}); b[::4096] = b'x' * len(b[::4096]); print('ready', flush=True); input()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        during = memory_use()
        own = psutil.Process(child.pid).memory_info().rss
    finally:
        child.communicate("\n", timeout=30)
    assert during.children >= before.children + 1
    assert own >= HOLD  # every page of the buffer was touched
    assert during.children_bytes - before.children_bytes >= HOLD
    assert during.total_bytes == during.app_bytes + during.children_bytes
    assert "helper process" in during.sentence()


def test_a_buffer_in_this_process_shows_in_its_figure():
    before = memory_use().app_bytes
    buffer = bytearray(HOLD)
    buffer[::4096] = b"x" * len(buffer[::4096])
    deadline = time.monotonic() + 10  # the OS's count of this process's pages may lag the touching a little
    while memory_use().app_bytes - before < 0.9 * HOLD and time.monotonic() < deadline:
        time.sleep(0.01)
    assert memory_use().app_bytes - before >= 0.9 * HOLD
    del buffer


def test_sizes_read_as_users_read_them():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KB"
    assert format_bytes(3 * 1024**3) == "3.0 GB"
    assert format_bytes(20 * 1024**4) == "20480.0 GB"


def test_the_sampler_reads_in_the_background_and_stops():
    from workbench.memory import MemorySampler

    sampler = MemorySampler(every_s=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while sampler.latest is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sampler.latest is not None and sampler.latest.app_bytes > 0
    finally:
        sampler.stop()
    assert not sampler.is_alive()
