"""svd/util/streams.py: the order of CUDA events and stream waits when a batch changes threads.

No GPU here: a fake `xp.cuda` (streams and events that log what is done to them)
stands in for CuPy's, and the log is compared with the order the module docstring
promises. tests/test_gpu_parity.py runs the real thing on a GPU.
"""
import threading
import types

import numpy as np

from svd.util import streams


class FakeStream:
    def __init__(self, name, log):
        self.name, self.log = name, log

    def wait_event(self, event):
        self.log.append(f"{self.name} waits for {event.name}")


def fake_cuda_module():
    """(xp, log): xp.cuda with a current stream per thread and events that log."""
    log, current = [], threading.local()
    count = [0]

    class Event:
        def __init__(self, disable_timing=False):
            assert disable_timing  # timing is not needed, and costs
            count[0] += 1
            self.name = f"event{count[0]}"

        def record(self, stream):
            log.append(f"{self.name} recorded on {stream.name}")

    def get_current_stream():
        return current.stream
    cuda = types.SimpleNamespace(Event=Event, get_current_stream=get_current_stream)
    return types.SimpleNamespace(cuda=cuda), log, current


def test_the_producer_waits_for_the_consumer_and_the_consumer_for_the_batch():
    xp, log, current = fake_cuda_module()
    current.stream = FakeStream("trainer", log)
    handoff = streams.Handoff(xp)  # built on the trainer's thread: the trainer's stream is the consumer

    def produce():
        current.stream = FakeStream("worker", log)
        with handoff.producing():
            log.append("batch made")
    worker = threading.Thread(target=produce)
    worker.start()
    worker.join()
    assert log == ["event1 recorded on trainer", "worker waits for event1", "batch made",
                   "event2 recorded on worker", "trainer waits for event2"]


def test_on_numpy_nothing_is_ordered():
    handoff = streams.Handoff(np)
    with handoff.producing():
        pass
    assert handoff.consumer is None
