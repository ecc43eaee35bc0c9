"""The background worker: newest request wins, priorities, errors."""

from __future__ import annotations

import threading
import time

from nnwidgets.widgets._worker import Worker


def make_worker():
    errors = []
    return Worker(lambda channel, error: errors.append((channel, error))), errors


def test_superseded_jobs_stop_at_their_next_checkpoint():
    worker, errors = make_worker()
    log = []

    def long_job(tag):
        def run(job):
            for i in range(100):
                job.checkpoint()
                log.append((tag, i))
                time.sleep(0.005)

        return run

    worker.submit("sweep", long_job("old"))
    time.sleep(0.05)
    worker.submit("sweep", long_job("new"))
    assert worker.wait(5)
    old = [i for tag, i in log if tag == "old"]
    new = [i for tag, i in log if tag == "new"]
    assert len(old) < 100 and new == list(range(100))
    assert max(k for k, (tag, _) in enumerate(log) if tag == "old") < min(
        k for k, (tag, _) in enumerate(log) if tag == "new"
    )
    assert errors == []


def test_only_the_newest_queued_request_runs():
    worker, _ = make_worker()
    gate = threading.Event()
    ran = []
    worker.submit("a", lambda job: gate.wait(5))
    for i in range(10):
        worker.submit("b", lambda job, i=i: ran.append(i))
    gate.set()
    assert worker.wait(5)
    assert ran == [9]


def test_higher_priority_jobs_run_at_checkpoints():
    worker, _ = make_worker()
    order = []

    def sweep(job):
        for i in range(20):
            job.checkpoint()
            order.append(f"sweep{i}")
            time.sleep(0.005)

    worker.submit("sweep", sweep)
    time.sleep(0.02)
    worker.submit("probe", lambda job: order.append("probe"), priority=1)
    assert worker.wait(5)
    position = order.index("probe")
    assert 0 < position < len(order) - 1


def test_cancel_and_errors():
    worker, errors = make_worker()
    worker.submit("x", lambda job: (_ for _ in ()).throw(ValueError("boom")))
    assert worker.wait(5)
    assert [(c, str(e)) for c, e in errors] == [("x", "boom")]
    stopped = []

    def run(job):
        while True:
            try:
                job.checkpoint()
            except Exception:
                stopped.append(True)
                raise
            time.sleep(0.005)

    worker.submit("y", run)
    time.sleep(0.03)
    worker.cancel("y")
    assert worker.wait(5)
    assert stopped == [True]
    worker.close()
