"""The per-process registry of clients: one client per key, and none inherited across fork
(a pooled socket shared by two processes would interleave their bytes)."""

from __future__ import annotations

import os

from shared.infra import process_clients


class Client:
    made = 0

    def __init__(self) -> None:
        Client.made += 1


def test_one_client_per_key_made_on_first_use() -> None:
    key = ("test-client", "one")
    process_clients.discard(key)
    first = process_clients.get(key, Client)
    assert process_clients.get(key, Client) is first
    assert process_clients.get(("test-client", "two"), Client) is not first
    assert process_clients.discard(key) is first
    assert process_clients.get(key, Client) is not first


def test_a_forked_child_makes_its_own_clients() -> None:
    key = ("test-client", "fork")
    parent_client = process_clients.get(key, Client)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got the parent's object, then leave at once
        try:
            child_client = process_clients.get(key, Client)
            same = process_clients.get(key, Client) is child_client
            os.write(write_end, b"new" if child_client is not parent_client and same else b"old")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 16)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert answer == b"new"
    assert process_clients.get(key, Client) is parent_client  # the parent keeps its own
