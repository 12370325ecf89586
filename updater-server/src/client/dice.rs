//! The throttling dice (Balrog's `randint(0, 99)`), injectable for tests.

use rand_core::{OsRng, RngCore};

/// A source of uniform rolls in `0..=99`.
pub trait Dice: Send + Sync + std::fmt::Debug {
    /// One roll.
    fn roll(&self) -> u8;
}

/// The production dice: the operating system's RNG, uniform by rejection sampling.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomDice;

impl Dice for RandomDice {
    fn roll(&self) -> u8 {
        // 4_294_967_200 is the largest multiple of 100 below 2^32.
        loop {
            let n = OsRng.next_u32();
            if n < 4_294_967_200 {
                return u8::try_from(n % 100).unwrap_or(0);
            }
        }
    }
}

/// A dice that always shows the same face (for tests and benchmarks).
#[derive(Debug, Clone, Copy)]
pub struct FixedDice(pub u8);

impl Dice for FixedDice {
    fn roll(&self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_rolls_cover_the_range() {
        let mut seen = [false; 100];
        for _ in 0..20_000 {
            seen[usize::from(RandomDice.roll())] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
