"""Per-call overhead from Python: route one task (arrive -> offer -> accept -> complete) and one
escalation turn. Run: python python/tests/bench_overhead.py (after `maturin develop --release`)."""

import time

import switchboard as sb


def bench(label, fn, n):
    fn(0)  # warm up
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        fn(i)
    dt = (time.perf_counter() - t0) / n
    print(f"{label:<48} {dt * 1e6:8.2f} µs/call  ({n} calls)")


def main():
    r = sb.Router()
    for a in range(100):
        r.add_agent(sb.Agent(a, skills={"sizing": 5 + a % 5}, capacity={"chat": 3},
                             state="available"))
    clock = [1.0]

    def cycle(i):
        clock[0] += 0.001
        o = r.arrive(sb.Task(10_000 + i, "acme", "chat", skills={"sizing": 5}), clock[0])[-1]
        r.accept(o.offer, o.agent, clock[0])
        r.complete(10_000 + i, clock[0])

    def arrive_only(i):
        clock[0] += 0.001
        r.arrive(sb.Task(1_000_000 + i, "acme", "chat", skills={"sizing": 5}), clock[0])
        r.cancel(1_000_000 + i, clock[0])

    bench("route one task (arrive+accept+complete)", cycle, 20_000)
    bench("arrive + cancel", arrive_only, 20_000)
    bench("Router.accept on an unknown offer (error path)",
          lambda i: _swallow(lambda: r.accept(10**9, 1, clock[0])), 20_000)

    e = sb.EscalationEngine(r)
    e.open(1, "acme", clock[0])

    def turn(i):
        clock[0] += 0.001
        e.turn(1, "where is my order? it was due yesterday", clock[0])

    bench("escalation turn (with text)", turn, 20_000)
    bench("erlang_c (one agent count)", lambda i: sb.erlang_c(0.1, 300, 36), 20_000)


def _swallow(f):
    try:
        f()
    except sb.NotFoundError:
        pass


if __name__ == "__main__":
    main()
