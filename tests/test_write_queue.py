"""storage.write_queue: one holder at a time, every waiter served or told in time, and a waiter
that gives up leaves no hole in the queue."""

from __future__ import annotations

import threading

from storage.write_queue import WriteQueue


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
