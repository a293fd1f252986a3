//! The discrete-event engine: a time-ordered queue of events.
//!
//! Time is integer nanoseconds ([`Time`]). Events at the same instant come out in the order
//! they were scheduled (an insertion sequence number breaks ties), so a run is a pure
//! function of its inputs. The queue is a radix heap of small `Copy` entries: buckets keep
//! their capacity between uses, so the hot loop allocates only when a bucket outgrows its
//! largest size so far (about once per thousand events in the hold model, none once warm in
//! typical scenarios).
//! It knows nothing of the world or the policy.

use crate::clock::Time;

#[derive(Debug, Clone, Copy)]
struct Entry<E> {
    at: i64,
    seq: u64,
    event: E,
}

/// The total order of events as one integer: time (sign bit flipped so negative times sort
/// first), then insertion sequence. Keys are unique and, since nothing is scheduled before
/// now, never smaller than the last key popped: a monotone queue.
#[inline(always)]
fn key(at: i64, seq: u64) -> u128 {
    (u128::from((at as u64) ^ (1 << 63)) << 64) | u128::from(seq)
}

/// A drained bucket keeps its capacity unless it holds more than 1/SHRINK of the pending
/// events' worth; this bounds memory near 24–30 bytes per pending event.
const SHRINK: usize = 8;
const BUCKETS: usize = 129;

/// A time-ordered event queue with a clock that only moves forward.
///
/// A radix heap: bucket `b` holds events whose key first differs from the last popped key at
/// bit `b - 1` (bucket 0: equal). Scheduling is a push into one bucket; popping takes the
/// lowest non-empty bucket and, when it must, redistributes it into lower buckets. Each event
/// moves down at most a few times, the work is sequential in memory, and there is no sifting.
#[derive(Debug, Clone)]
pub struct Engine<E: Copy> {
    buckets: Vec<Vec<Entry<E>>>,
    /// Smallest key per bucket (u128::MAX when empty).
    mins: Vec<u128>,
    /// Bit `b - 1` set: bucket `b` (1..=128) is not empty.
    mask: u128,
    last: u128,
    seq: u64,
    len: usize,
    now: Time,
}

impl<E: Copy> Engine<E> {
    pub fn new(start: Time) -> Self {
        Engine::with_capacity(start, 1024)
    }

    /// `capacity` is a hint for the number of pending events.
    pub fn with_capacity(start: Time, capacity: usize) -> Self {
        let mut buckets: Vec<Vec<Entry<E>>> = (0..BUCKETS).map(|_| Vec::new()).collect();
        buckets[BUCKETS - 1].reserve(capacity.min(1 << 20));
        Engine { buckets, mins: vec![u128::MAX; BUCKETS], mask: 0, last: 0, seq: 0, len: 0, now: start }
    }

    /// The time of the event last popped (or the start).
    pub fn now(&self) -> Time {
        self.now
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn bucket(&self, k: u128) -> usize {
        if k == self.last { 0 } else { 128 - (k ^ self.last).leading_zeros() as usize }
    }

    #[inline(always)]
    fn put(&mut self, e: Entry<E>) {
        let k = key(e.at, e.seq);
        let b = self.bucket(k);
        self.buckets[b].push(e);
        if k < self.mins[b] {
            self.mins[b] = k;
        }
        if b > 0 {
            self.mask |= 1u128 << (b - 1);
        }
    }

    /// Schedule `event` at `at`. An instant in the past is moved to now: the clock never runs
    /// backwards.
    pub fn schedule(&mut self, at: Time, event: E) {
        let at = at.max(self.now).nanos();
        self.seq += 1;
        self.len += 1;
        self.put(Entry { at, seq: self.seq, event });
    }

    /// Schedule `event` `after` from now.
    pub fn schedule_in(&mut self, after: std::time::Duration, event: E) {
        self.schedule(self.now.saturating_add(after), event);
    }

    /// The next event, advancing the clock to its time.
    pub fn pop(&mut self) -> Option<(Time, E)> {
        if self.buckets[0].is_empty() {
            if self.mask == 0 {
                return None;
            }
            let b = self.mask.trailing_zeros() as usize + 1;
            self.mask &= !(1u128 << (b - 1));
            self.last = self.mins[b];
            self.mins[b] = u128::MAX;
            let mut drained = std::mem::take(&mut self.buckets[b]);
            for e in &drained {
                self.put(*e);
            }
            drained.clear();
            if drained.capacity() > 1024 && drained.capacity() > self.len / SHRINK {
                drained = Vec::new();
            }
            self.buckets[b] = drained;
        }
        let e = self.buckets[0].pop()?;
        self.mins[0] = u128::MAX;
        self.len -= 1;
        self.now = Time(e.at);
        Some((self.now, e.event))
    }

    /// Bytes the queue holds for its entries (capacities × entry size).
    pub fn memory_bytes(&self) -> usize {
        self.buckets.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<Entry<E>>()
    }

    /// The time of the next event, without taking it.
    pub fn peek_time(&self) -> Option<Time> {
        let b = if self.buckets[0].is_empty() {
            if self.mask == 0 {
                return None;
            }
            self.mask.trailing_zeros() as usize + 1
        } else {
            0
        };
        self.buckets[b].iter().map(|e| (key(e.at, e.seq), e.at)).min().map(|(_, at)| Time(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_time_order_and_ties_in_insertion_order() {
        let mut e = Engine::new(Time(0));
        e.schedule(Time(30), 'c');
        e.schedule(Time(10), 'a');
        e.schedule(Time(30), 'd');
        e.schedule(Time(10), 'b');
        e.schedule(Time(20), 'x');
        let order: Vec<char> = std::iter::from_fn(|| e.pop().map(|(_, ev)| ev)).collect();
        assert_eq!(order, ['a', 'b', 'x', 'c', 'd']);
        assert_eq!(e.now(), Time(30));
    }

    #[test]
    fn the_past_is_clamped_to_now() {
        let mut e = Engine::new(Time(100));
        e.schedule(Time(5), 1u8);
        assert_eq!(e.pop(), Some((Time(100), 1)));
    }

    #[test]
    fn a_large_random_schedule_pops_in_order_with_ties_in_insertion_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let mut e = Engine::new(Time(0));
        for i in 0..20_000u32 {
            e.schedule(Time(rng.gen_range(0..500)), i);
        }
        let mut last = (Time(-1), 0u32);
        let mut n = 0;
        while let Some((t, i)) = e.pop() {
            // Same instant: scheduled earlier means a smaller payload here.
            assert!(t > last.0 || (t == last.0 && i > last.1), "{t:?} {i} after {last:?}");
            last = (t, i);
            n += 1;
        }
        assert_eq!(n, 20_000);
    }

    #[test]
    fn negative_times_and_peeking() {
        let mut e = Engine::new(Time(-100));
        e.schedule(Time(-50), 1u8);
        e.schedule(Time(10), 2);
        e.schedule(Time(-60), 3);
        assert_eq!(e.peek_time(), Some(Time(-60)));
        assert_eq!(e.pop(), Some((Time(-60), 3)));
        assert_eq!(e.peek_time(), Some(Time(-50)));
        assert_eq!(e.pop(), Some((Time(-50), 1)));
        assert_eq!(e.pop(), Some((Time(10), 2)));
        assert_eq!(e.pop(), None);
        assert!(e.is_empty());
    }

    #[test]
    fn entries_are_small() {
        // The hold-model benchmark counts on compact entries: time + sequence + a small event.
        assert!(std::mem::size_of::<Entry<(u32, u32)>>() <= 24);
        assert!(std::mem::size_of::<Entry<u32>>() <= 24);
    }
}
