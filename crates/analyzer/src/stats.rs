//! Exact, documented statistics (see docs/REPORTS.md, "Definitions").

/// Nearest-rank percentile of an ascending slice: the value at 1-based rank
/// `ceil(p / 100 * n)` (at least 1). `p` is in percent, 1..=100.
/// `None` for an empty slice.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(1, 100) as usize;
    // ceil(p * n / 100) in integers, so no rounding can move the rank.
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Count, p50, p90, p99, max and sum of a set of durations (ns).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p99: Option<i64>,
    pub max: Option<i64>,
    pub sum: i64,
}

impl Latency {
    /// Sorts `values` in place and summarizes them.
    pub fn of(values: &mut [i64]) -> Self {
        values.sort_unstable();
        Latency {
            count: values.len() as u64,
            p50: nearest_rank(values, 50),
            p90: nearest_rank(values, 90),
            p99: nearest_rank(values, 99),
            max: values.last().copied(),
            sum: values.iter().sum(),
        }
    }
}

/// Ordinary least-squares fit of y on x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub n: usize,
    /// dy/dx; `None` with fewer than 2 points or when all x are equal.
    pub slope: Option<f64>,
    /// Coefficient of determination; `None` when the slope is, or when all y
    /// are equal (a flat line explains nothing and leaves nothing).
    pub r2: Option<f64>,
}

impl Fit {
    /// From the centred sums: sxy = Σ(x-x̄)(y-ȳ), sxx = Σ(x-x̄)², syy = Σ(y-ȳ)².
    pub fn from_centred(n: usize, sxy: f64, sxx: f64, syy: f64) -> Self {
        if n < 2 || sxx <= 0.0 {
            return Fit {
                n,
                slope: None,
                r2: None,
            };
        }
        let slope = sxy / sxx;
        let r2 = if syy > 0.0 {
            Some((sxy * sxy) / (sxx * syy))
        } else {
            None
        };
        Fit {
            n,
            slope: Some(slope),
            r2,
        }
    }

    /// Two-pass fit over points.
    pub fn of(points: &[(f64, f64)]) -> Self {
        let n = points.len();
        if n == 0 {
            return Fit {
                n,
                slope: None,
                r2: None,
            };
        }
        let mx = points.iter().map(|p| p.0).sum::<f64>() / n as f64;
        let my = points.iter().map(|p| p.1).sum::<f64>() / n as f64;
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for &(x, y) in points {
            let (dx, dy) = (x - mx, y - my);
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        Fit::from_centred(n, sxy, sxx, syy)
    }
}

/// Least squares over integer points (x = ts_ns, y = a counter), with exact
/// integer sums: the result is the exact slope and R² rounded once to f64,
/// whatever the order of the points. x and y are taken relative to the
/// first point added (which changes nothing mathematically and keeps the
/// sums small).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExactFit {
    pub n: u64,
    x0: i64,
    y0: i64,
    sx: i128,
    sy: i128,
    sxx: i128,
    sxy: i128,
    syy: i128,
}

impl ExactFit {
    pub fn add(&mut self, x: i64, y: i64) {
        if self.n == 0 {
            self.x0 = x;
            self.y0 = y;
        }
        let (dx, dy) = (
            i128::from(x) - i128::from(self.x0),
            i128::from(y) - i128::from(self.y0),
        );
        self.n += 1;
        self.sx += dx;
        self.sy += dy;
        self.sxx += dx * dx;
        self.sxy += dx * dy;
        self.syy += dy * dy;
    }

    /// n·Σab − Σa·Σb, exactly when it fits in i128, else in f64.
    fn co(n: i128, sab: i128, sa: i128, sb: i128) -> f64 {
        match (n.checked_mul(sab), sa.checked_mul(sb)) {
            (Some(p), Some(q)) => match p.checked_sub(q) {
                Some(d) => d as f64,
                None => p as f64 - q as f64,
            },
            _ => n as f64 * sab as f64 - sa as f64 * sb as f64,
        }
    }

    /// The fit with x in `x_per_unit` (1e9 turns ns into seconds): slope is
    /// dy per unit of x.
    pub fn fit(&self, x_per_unit: f64) -> Fit {
        let n = self.n as usize;
        let nn = i128::from(self.n);
        let sxx = Self::co(nn, self.sxx, self.sx, self.sx);
        if n < 2 || sxx <= 0.0 {
            return Fit {
                n,
                slope: None,
                r2: None,
            };
        }
        let sxy = Self::co(nn, self.sxy, self.sx, self.sy);
        let syy = Self::co(nn, self.syy, self.sy, self.sy);
        let slope = sxy / sxx * x_per_unit;
        let r2 = if syy > 0.0 {
            Some((sxy / sxx) * (sxy / syy))
        } else {
            None
        };
        Fit {
            n,
            slope: Some(slope),
            r2,
        }
    }

    /// Fit of (ts_ns, value) points, slope per second.
    pub fn of(points: &[(i64, i64)]) -> Fit {
        let mut f = ExactFit::default();
        for &(x, y) in points {
            f.add(x, y);
        }
        f.fit(1e9)
    }
}

/// Seconds since `t0` of a `ts_ns`, the x of every fit.
pub fn secs_since(ts_ns: i64, t0: i64) -> f64 {
    (ts_ns - t0) as f64 / 1e9
}

/// `num / den`, `None` when `den` is 0.
pub fn ratio(num: u64, den: u64) -> Option<f64> {
    if den == 0 {
        None
    } else {
        Some(num as f64 / den as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_definition() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 50), Some(5));
        assert_eq!(nearest_rank(&v, 90), Some(9));
        assert_eq!(nearest_rank(&v, 99), Some(10));
        assert_eq!(nearest_rank(&v, 100), Some(10));
        assert_eq!(nearest_rank(&[7], 1), Some(7));
        assert_eq!(nearest_rank(&[], 50), None);
        let v: Vec<i64> = (1..=200).collect();
        assert_eq!(nearest_rank(&v, 99), Some(198));
        assert_eq!(nearest_rank(&v, 50), Some(100));
        // n = 3: p50 rank ceil(1.5) = 2
        assert_eq!(nearest_rank(&[10, 20, 30], 50), Some(20));
    }

    #[test]
    fn latency_summary() {
        let mut v = vec![5, 1, 4, 2, 3];
        let l = Latency::of(&mut v);
        assert_eq!(l.count, 5);
        assert_eq!(l.p50, Some(3));
        assert_eq!(l.p90, Some(5));
        assert_eq!(l.max, Some(5));
        assert_eq!(l.sum, 15);
    }

    #[test]
    fn exact_fit_matches_two_pass() {
        let pts: Vec<(i64, i64)> = (0..50)
            .map(|i| {
                (
                    1_000_000_000_000 + i * 100_000_000 + (i * 7919) % 1000,
                    (4096 * (i * i % 97) + 1) << 30,
                )
            })
            .collect();
        let e = ExactFit::of(&pts);
        let f = Fit::of(
            &pts.iter()
                .map(|&(x, y)| (x as f64 / 1e9, y as f64))
                .collect::<Vec<_>>(),
        );
        let (a, b) = (e.slope.unwrap_or(0.0), f.slope.unwrap_or(1.0));
        assert!((a - b).abs() <= 1e-9 * a.abs().max(b.abs()), "{a} {b}");
        let (a, b) = (e.r2.unwrap_or(0.0), f.r2.unwrap_or(1.0));
        assert!((a - b).abs() <= 1e-9, "{a} {b}");
        let line = ExactFit::of(&[(0, 5), (1_000_000_000, 9), (2_000_000_000, 13)]);
        assert_eq!(line.slope, Some(4.0));
        assert_eq!(line.r2, Some(1.0));
        assert_eq!(ExactFit::of(&[(5, 1), (5, 2)]).slope, None);
        assert_eq!(ExactFit::of(&[(5, 1), (6, 1)]).r2, None);
    }

    #[test]
    fn fit_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 * i as f64 + 7.0)).collect();
        let f = Fit::of(&pts);
        assert!((f.slope.unwrap_or(0.0) - 3.0).abs() < 1e-12);
        assert!((f.r2.unwrap_or(0.0) - 1.0).abs() < 1e-12);
        let flat = Fit::of(&[(0.0, 5.0), (1.0, 5.0)]);
        assert_eq!(flat.slope, Some(0.0));
        assert_eq!(flat.r2, None);
        assert_eq!(Fit::of(&[(1.0, 1.0)]).slope, None);
        assert_eq!(Fit::of(&[(1.0, 1.0), (1.0, 2.0)]).slope, None);
    }
}
