"""Handing arrays made on one thread's CUDA stream to another thread's, safely (svd/batches.py).

Training makes batch k+1 on a background thread while the main thread trains
on batch k (svd/train.py). On a GPU each thread queues its work on its
*current stream*; work on one stream runs in order, work on two streams in
any order. Two hazards follow when the two threads use different streams
(CuPy's default for every thread is the one legacy null stream, which orders
everything, but a CUDA graph, for one, needs a stream of its own):

1. the trainer could start on a batch its producer has not finished writing;
2. CuPy's memory pool hands memory freed by the trainer (the last batch) back
   to the stream that allocated it, the producer's, which could overwrite it
   while the trainer's queued work still reads it.

`Handoff` closes both with two CUDA events, neither of which makes a host
thread wait:

    producer, before making a batch:  wait for an event recorded now on the
                                      consumer's stream   (hazard 2: whatever
                                      the consumer has queued so far, including
                                      its use of earlier batches, runs first)
    producer, after making it:        record an event on its own stream, and
                                      make the consumer's stream wait for it
                                      (hazard 1: the consumer's later work runs
                                      after the batch is written)

The consumer is the stream that was current on the thread that built the
Handoff (the trainer builds TrainingExcerpts before the loop); a caller that
moves the trainer to another stream sets `consumer` to it. With NumPy arrays
(the CPU, or the kernel emulation of the tests) there are no streams and
`producing()` does nothing.
"""
import contextlib

import numpy


class Handoff:
    """Orders a producer thread's GPU work against one consumer stream (module docstring).

    xp: the array module of the arrays handed over (numpy: nothing to order).
    """

    def __init__(self, xp):
        self.xp = xp
        self.consumer = None if xp is numpy else xp.cuda.get_current_stream()

    @contextlib.contextmanager
    def producing(self):
        """Context manager around the producer's work: on a GPU, starts after the consumer's
        queued work and makes the consumer's later work start after it."""
        if self.consumer is None:
            yield
            return
        cuda = self.xp.cuda
        producer = cuda.get_current_stream()
        consumed = cuda.Event(disable_timing=True)
        consumed.record(self.consumer)
        producer.wait_event(consumed)
        yield
        ready = cuda.Event(disable_timing=True)
        ready.record(producer)
        self.consumer.wait_event(ready)
