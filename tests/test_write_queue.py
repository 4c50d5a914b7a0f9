"""storage.write_queue: one holder at a time, every waiter served or told in time, and a waiter
that gives up leaves no hole in the queue."""

from __future__ import annotations

import threading

from storage.write_queue import WriteQueue, answering


def test_many_threads_with_short_patience_never_hold_it_together_and_all_finish() -> None:
    queue, inside, most, lock = WriteQueue(patience=0.01), [0], [0], threading.Lock()
    took, gave_up = [0], [0]

    def writer(n: int) -> None:
        for i in range(300):
            if not queue.acquire(timeout=0.0005 if (n + i) % 3 == 0 else 5):
                with lock:
                    gave_up[0] += 1
                continue
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                took[0] += 1
            with lock:
                inside[0] -= 1
            queue.release()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert most[0] == 1
    assert took[0] + gave_up[0] == 8 * 300 and took[0] >= 8 * 200
    assert queue.acquire(timeout=0)  # free again once everyone is done
    queue.release()


def test_the_holder_may_ask_again_and_others_wait_until_it_has_let_go_fully() -> None:
    queue = WriteQueue(patience=0.05)
    assert queue.acquire(1) and queue.acquire(1)  # a write session inside its own
    got: list[bool] = []
    other = threading.Thread(target=lambda: got.append(queue.acquire(0.2)))
    other.start()
    other.join(5)
    assert got == [False]
    queue.release()
    other = threading.Thread(target=lambda: got.append(queue.acquire(0.2)))
    other.start()
    other.join(5)
    assert got == [False, False]  # still held once
    queue.release()
    other = threading.Thread(target=lambda: (got.append(queue.acquire(1)), queue.release()))
    other.start()
    other.join(5)
    assert got == [False, False, True]


def _waits(queue: WriteQueue, count: int) -> None:
    """Until `count` threads wait for the lock (a later event, so an order can be asserted)."""
    import time

    deadline = time.monotonic() + 5
    while len(queue._waiting) < count:
        assert time.monotonic() < deadline, "the writers never started waiting"
        time.sleep(0.001)


def test_a_write_someone_waits_an_answer_for_goes_before_one_done_after_an_ack() -> None:
    queue, order = WriteQueue(patience=10), []

    def writer(name: str, urgent: bool) -> None:
        def take() -> None:
            assert queue.acquire(5)
            order.append(name)
            queue.release()

        if urgent:
            with answering():
                take()
        else:
            take()

    assert queue.acquire(1)
    after_ack = threading.Thread(target=writer, args=("after an ack", False))
    after_ack.start()
    _waits(queue, 1)
    request = threading.Thread(target=writer, args=("a request", True))
    request.start()
    _waits(queue, 2)
    queue.release()
    for thread in (after_ack, request):
        thread.join(5)
    assert order == ["a request", "after an ack"]


def test_work_after_an_ack_still_gets_the_lock_once_out_of_patience() -> None:
    """Requests that keep coming do not starve it: past its patience it is next."""
    queue, order = WriteQueue(patience=0.05), []
    stop = threading.Event()

    def requests() -> None:
        with answering():
            while not stop.is_set():
                if queue.acquire(5):
                    queue.release()

    def after_ack() -> None:
        assert queue.acquire(5)
        order.append("after an ack")
        queue.release()
        stop.set()

    crowd = [threading.Thread(target=requests) for _ in range(4)]
    for thread in crowd:
        thread.start()
    late = threading.Thread(target=after_ack)
    late.start()
    late.join(5)
    stop.set()
    for thread in crowd:
        thread.join(5)
    assert order == ["after an ack"]
