//! The discrete-event engine: a time-ordered queue of events.
//!
//! Time is integer nanoseconds ([`Time`]). Events at the same instant come out in the order
//! they were scheduled (an insertion sequence number breaks ties), so a run is a pure
//! function of its inputs. The queue is a binary heap of small `Copy` entries in one
//! pre-allocated `Vec`: scheduling and popping never allocate once the capacity is reached.
//! It knows nothing of the world or the policy.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::clock::Time;

#[derive(Debug, Clone, Copy)]
struct Entry<E> {
    at: i64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed: the heap is a max-heap and we want the earliest (then lowest seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at).then_with(|| other.seq.cmp(&self.seq))
    }
}

/// A time-ordered event queue with a clock that only moves forward.
#[derive(Debug, Clone)]
pub struct Engine<E: Copy> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: Time,
}

impl<E: Copy> Engine<E> {
    pub fn new(start: Time) -> Self {
        Engine::with_capacity(start, 1024)
    }

    pub fn with_capacity(start: Time, capacity: usize) -> Self {
        Engine { heap: BinaryHeap::with_capacity(capacity), seq: 0, now: start }
    }

    /// The time of the event last popped (or the start).
    pub fn now(&self) -> Time {
        self.now
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedule `event` at `at`. An instant in the past is moved to now: the clock never runs
    /// backwards.
    pub fn schedule(&mut self, at: Time, event: E) {
        let at = at.max(self.now).nanos();
        self.seq += 1;
        self.heap.push(Entry { at, seq: self.seq, event });
    }

    /// Schedule `event` `after` from now.
    pub fn schedule_in(&mut self, after: std::time::Duration, event: E) {
        self.schedule(self.now.saturating_add(after), event);
    }

    /// The next event, advancing the clock to its time.
    pub fn pop(&mut self) -> Option<(Time, E)> {
        let e = self.heap.pop()?;
        self.now = Time(e.at);
        Some((self.now, e.event))
    }

    /// Bytes the queue holds for its entries (capacity × entry size).
    pub fn memory_bytes(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<Entry<E>>()
    }

    /// The time of the next event, without taking it.
    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|e| Time(e.at))
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
    fn entries_are_small() {
        // The hold-model benchmark counts on compact entries: time + sequence + a small event.
        assert!(std::mem::size_of::<Entry<(u32, u32)>>() <= 24);
    }
}
