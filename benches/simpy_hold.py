"""The hold model in SimPy, for comparison with `understudy bench engine`.

N processes each wait Exp(1) and reschedule, which keeps N events pending; the figure is
events per second. Usage: python3 benches/simpy_hold.py --pending 100000 --events 1000000
(pip install simpy).
"""
import argparse
import json
import random
import time

import simpy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pending", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    env = simpy.Environment()
    rnd = random.Random(42)
    done = {"n": 0}

    def holder():
        while True:
            yield env.timeout(rnd.expovariate(1.0))
            done["n"] += 1

    for _ in range(args.pending):
        env.process(holder())
    # Let every process start (its first timeout pending) before timing.
    env.run(until=1e-9)
    start = time.perf_counter()
    base = done["n"]
    while done["n"] - base < args.events:
        env.step()
    secs = time.perf_counter() - start
    events = done["n"] - base
    print(json.dumps({"pending": args.pending, "events": events, "seconds": secs, "events_per_sec": events / secs}))


if __name__ == "__main__":
    main()
