"""Ports no two processes can share, within a run or between runs.

Aspects: the allocator never hands out one number twice, even when the OS proposes it again; a
port another run holds, or another process listens on, is skipped; a fixed port that is busy or
held is one sentence naming the flag; reservations end with ``close``. On a real stack, a port an
outside process takes between allocation and bind (the forced collision) makes the backend start
that Envoy again on fresh ports, and in the end every process listens on ports of its own; a fixed
port lost that way is one clear sentence. ``listens_on`` tells the owner of a port by PID.
"""
import logging
import os
import pathlib
import socket

import httpx
import pytest

from schema import events as events_module
from deploy.local import backend as local_backend
from deploy.local import ports as ports_module
from deploy.local import processes
from schema import scenario as scenario_module

SCENARIO = pathlib.Path(__file__).parent / "data" / "backend-test.yaml"


def listening_socket(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def proposals(*ports: int):
    """A candidate source that proposes ``ports`` in turn, then whatever the OS says."""
    queue = list(ports)
    return lambda: queue.pop(0) if queue else ports_module.os_candidate()


def test_a_number_the_os_proposes_again_is_never_handed_out_twice(tmp_path):
    repeated = ports_module.os_candidate()
    allocator = ports_module.PortAllocator(lock_dir=tmp_path, candidate=proposals(repeated, repeated, repeated))
    first, second = allocator.allocate(what="a"), allocator.allocate(what="b")
    assert first == repeated and second != repeated
    allocator.release(first)
    assert allocator.allocate(what="c") not in (first, second)  # released numbers do not come back either
    allocator.close()


def test_a_port_held_by_another_run_is_skipped(tmp_path):
    port = ports_module.os_candidate()
    other_run = ports_module.PortAllocator(lock_dir=tmp_path, candidate=proposals(port))
    assert other_run.allocate(what="its proxy") == port
    this_run = ports_module.PortAllocator(lock_dir=tmp_path, candidate=proposals(port))
    assert this_run.allocate(what="our proxy") != port
    with pytest.raises(ports_module.PortError, match=f"port {port} for Prometheus is held by another tailstorm run; "
                                                     "pass another with --prometheus-port"):
        this_run.claim(port, what="Prometheus", flag="--prometheus-port")
    other_run.close()
    assert this_run.claim(port, what="Prometheus", flag="--prometheus-port") == port  # free once released
    this_run.close()


def test_a_port_some_process_listens_on_is_skipped(tmp_path):
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        allocator = ports_module.PortAllocator(lock_dir=tmp_path, candidate=proposals(port))
        assert allocator.allocate(what="x") != port
        with pytest.raises(ports_module.PortError, match=f"port {port} on 127.0.0.1 for the entry proxy is already "
                                                         "in use by another process; pass another with --entry-port"):
            allocator.claim(port, what="the entry proxy", flag="--entry-port")
        allocator.close()


def test_an_allocator_that_only_meets_taken_ports_gives_up_with_one_sentence(tmp_path):
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        allocator = ports_module.PortAllocator(lock_dir=tmp_path, candidate=lambda: port)
        with pytest.raises(ports_module.PortError, match="^could not find a free port for the gateway proxy"):
            allocator.allocate(what="the gateway proxy")


def test_listens_on_names_the_owner_of_a_port():
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        assert ports_module.listens_on(os.getpid(), port)
        assert not ports_module.listens_on(os.getpid(), ports_module.os_candidate())
    assert not ports_module.listens_on(2**22 + 7, port)  # no such process
    assert ports_module.lost_bind("error: [Errno 98] Address already in use")
    assert ports_module.lost_bind("cannot bind '127.0.0.1:4': Address already in use")
    assert not ports_module.lost_bind("ModuleNotFoundError: No module named 'x'")


class RacingAllocator(ports_module.PortAllocator):
    """Hands out the formatter proxy's listener port, then lets an outside process take it at once:
    the race between allocation and bind, forced."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.thief: socket.socket | None = None

    def allocate(self, *, what: str) -> int:
        port = super().allocate(what=what)
        if what == "the formatter proxy" and self.thief is None:
            self.thief = listening_socket(port)
        return port


def test_a_port_lost_between_allocation_and_bind_is_replaced_and_never_shared(tmp_path, caplog):
    allocator = RacingAllocator()
    events = events_module.EventLog(tmp_path / "events.jsonl")
    backend = local_backend.LocalBackend(scenario_module.load_scenario(SCENARIO), tmp_path, events=events,
                                         ports=allocator)
    caplog.set_level(logging.WARNING)
    try:
        backend.up()
        stolen = allocator.thief.getsockname()[1]
        assert backend.proxies["formatter"].listen_port != stolen
        assert "envoy-formatter lost port(s)" in caplog.text
        owners = {}
        for process in backend.table.all():
            for port in ports_of(backend, process.name):
                assert ports_module.listens_on(process.pid, port), (process.name, port)
                assert port not in owners, f"{process.name} and {owners.get(port)} share port {port}"
                owners[port] = process.name
        assert stolen not in owners
        assert httpx.post(f"{backend.endpoints()['entry_url']}/v1/work", json={}, timeout=10).status_code == 200
    finally:
        backend.down()
        events.close()
        allocator.thief.close()


def ports_of(backend: local_backend.LocalBackend, name: str) -> list[int]:
    if name == "prometheus":
        return [backend.prometheus_port]
    if name.startswith("envoy-"):
        proxy = backend.proxies[name.removeprefix("envoy-")]
        return [proxy.listen_port, proxy.admin_port]
    return [r.port for reps in backend.replicas.values() for r in reps if r.name == name]


def test_a_fixed_port_lost_to_another_process_is_one_clear_sentence(tmp_path):
    class StealEntry(ports_module.PortAllocator):
        def claim(self, port, *, what, flag):
            claimed = super().claim(port, what=what, flag=flag)
            if what == "the entry proxy":
                self.thief = listening_socket(claimed)
            return claimed

    allocator = StealEntry()
    entry = ports_module.os_candidate()
    events = events_module.EventLog(tmp_path / "events.jsonl")
    backend = local_backend.LocalBackend(scenario_module.load_scenario(SCENARIO), tmp_path, events=events,
                                         ports=allocator, entry_port=entry)
    with pytest.raises(processes.BackendError, match="^envoy-gateway could not start: its port was taken by "
                                                     "another process"):
        backend.up()
    allocator.thief.close()
    events.close()
    assert backend.table.all() == []
