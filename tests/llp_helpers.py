"""What the tests of learning from label proportions share."""

import os
import signal
import threading
import time

import numpy as np


def make_llp(n, n_features=20, bag_size=50, *, seed=0, sharpness=10.0, group_noise=1.0):
    """Features from 4 latent factors, labels from a logistic model on them, and
    bags formed by sorting the rows on a noisy copy of the label score (so the
    bags' proportions vary)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 4))
    A = rng.standard_normal((4, n_features)) / np.sqrt(n_features)
    X = Z @ A + 0.02 * rng.standard_normal((n, n_features))
    w = rng.standard_normal(4)
    score = Z @ w / np.linalg.norm(w)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-sharpness * score))).astype(np.int64)
    bags = np.empty(n, dtype=np.int64)
    bags[np.argsort(score + group_noise * rng.standard_normal(n))] = np.arange(n) // bag_size
    return X, y, bags


def per_row(y, bags):
    """Each row's bag proportion (the y the LLP estimators take)."""
    codes = np.unique(bags, return_inverse=True)[1].reshape(-1)
    return (np.bincount(codes, weights=y) / np.bincount(codes))[codes]


def interrupt_latency(call, delay=0.4):
    """Seconds from a SIGINT sent to this process `delay` seconds into call()
    until call() raised KeyboardInterrupt (fails if call() returned first).
    Python's own SIGINT handler is installed for the call: a process started in
    the background by a shell inherits SIGINT ignored, and Python then keeps it so."""
    sent = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def fire():
        time.sleep(delay)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=fire)
    thread.start()
    try:
        call()
    except KeyboardInterrupt:
        latency = time.perf_counter() - sent[0]
    else:
        raise AssertionError("the call finished before the interruption")
    finally:
        thread.join()
        signal.signal(signal.SIGINT, previous)
    return latency
