//! Work spread over the CPUs, its results in a fixed order.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f(i)` for every `i` in `order` (a permutation of `0..n`, the longest
/// first when known), on as many threads as there are CPUs, returned by
/// `i`. A panic in `f` goes on in the caller, as it would on one thread.
pub fn map<T: Send>(n: usize, order: &[usize], f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |c| c.get())
        .clamp(1, n.max(1));
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        mine.push((i, f(i)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(p) => std::panic::resume_unwind(p),
            })
            .collect()
    });
    done.sort_by_key(|d| d.0);
    done.into_iter().map(|d| d.1).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_by_index_whatever_the_order() {
        let order = [3, 0, 4, 1, 2];
        assert_eq!(super::map(5, &order, |i| i * 10), vec![0, 10, 20, 30, 40]);
        assert!(super::map(0, &[], |i| i).is_empty());
    }
}
