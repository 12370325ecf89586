//! The statistics of rollout health: Wilson score intervals for success rates and one-sided
//! tests that a release fails more often than a baseline (Fisher's exact test against the
//! previous release, a binomial test against a fixed rate when there is none). Small enough to
//! write out: the tests work on log-factorials, summed exactly for small arguments and from
//! Stirling's series (error below 1e-13) for large ones, so every term costs O(1) and a test over
//! n reports costs O(n).

/// `ln(n!)`: exact summation up to 256, Stirling's series with four correction terms above.
fn ln_factorial(n: u64) -> f64 {
    if n <= 256 {
        return (2..=n).map(|k| (k as f64).ln()).sum();
    }
    let x = n as f64;
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    x * x.ln() - x
        + 0.5 * (2.0 * std::f64::consts::PI * x).ln()
        + inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)))
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// The 95 % Wilson score interval of `successes` out of `n` (`(0, 1)` without data).
pub fn wilson95(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, successes as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// One-sided binomial test: `P(X >= failures)` for `X ~ Binomial(n, p0)`.
pub fn binomial_upper_tail(failures: u64, n: u64, p0: f64) -> f64 {
    if failures == 0 {
        return 1.0;
    }
    if p0 <= 0.0 {
        return 0.0;
    }
    if p0 >= 1.0 {
        return 1.0;
    }
    let (lp, lq) = (p0.ln(), (1.0 - p0).ln());
    (failures..=n)
        .map(|k| (ln_choose(n, k) + k as f64 * lp + (n - k) as f64 * lq).exp())
        .sum::<f64>()
        .min(1.0)
}

/// One-sided Fisher's exact test that group A fails more often than group B: the probability,
/// with the margins fixed, of A having at least `a_fail` of all failures.
pub fn fisher_greater(a_fail: u64, a_ok: u64, b_fail: u64, b_ok: u64) -> f64 {
    let (a_n, fails) = (a_fail + a_ok, a_fail + b_fail);
    let total = a_n + b_fail + b_ok;
    let ln_denom = ln_choose(total, a_n);
    let hi = fails.min(a_n);
    (a_fail..=hi)
        .filter(|k| a_n - k <= a_ok + b_ok)
        .map(|k| (ln_choose(fails, k) + ln_choose(total - fails, a_n - k) - ln_denom).exp())
        .sum::<f64>()
        .min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn reference_values() {
        // Wilson for 8/10 (textbook): 0.4902 .. 0.9433.
        let (lo, hi) = wilson95(8, 10);
        assert!(
            (lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4,
            "{lo} {hi}"
        );
        // Fisher, the tea-tasting table [[3, 1], [1, 3]]: one-sided p = 17/70.
        assert!(close(fisher_greater(3, 1, 1, 3), 17.0 / 70.0));
        // Binomial: P(X >= 2 | n = 2, p = 0.5) = 0.25; P(X >= 0) = 1.
        assert!(close(binomial_upper_tail(2, 2, 0.5), 0.25));
        assert!(close(binomial_upper_tail(0, 5, 0.3), 1.0));
        // Stirling agrees with the exact sum where they meet, and large tests stay fast.
        let exact: f64 = (2..=1000u64).map(|k| (k as f64).ln()).sum();
        assert!((ln_factorial(1000) - exact).abs() < 1e-9);
        let big = fisher_greater(5_000, 95_000, 4_000, 96_000);
        assert!(big < 1e-20, "{big}");
        // Symmetric tables are not significant; lopsided large ones are.
        assert!(fisher_greater(10, 90, 10, 90) > 0.5);
        assert!(fisher_greater(60, 140, 10, 190) < 1e-6);
    }
}
