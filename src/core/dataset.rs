// SPDX-License-Identifier: MPL-2.0
//! Train / held-out split for synthetic data: by piece and by seed, so that no held-out
//! piece and no held-out seed is ever seen in training.

/// Which part of the data set a clip belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    HeldOut,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::HeldOut => "held-out",
        }
    }
}

/// FNV-1a: a stable hash of a piece's name (the same on every machine and version).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The split of a piece, from its name: a `held_out` fraction of names are held out.
pub fn piece_split(name: &str, held_out: f64) -> Split {
    if ((fnv1a(name) % 10_000) as f64) < held_out * 10_000.0 {
        Split::HeldOut
    } else {
        Split::Train
    }
}

/// Held-out clips draw seeds from the upper half of the seed space, training clips from the
/// lower half, so the two never share a seed whatever the base and count.
pub const HELD_OUT_SEED_BIT: u64 = 1 << 63;

pub fn clip_seed(base: u64, index: u64, split: Split) -> u64 {
    let s = base.wrapping_mul(1_000_003).wrapping_add(index) & !HELD_OUT_SEED_BIT;
    match split {
        Split::Train => s,
        Split::HeldOut => s | HELD_OUT_SEED_BIT,
    }
}

pub fn seed_split(seed: u64) -> Split {
    if seed & HELD_OUT_SEED_BIT != 0 {
        Split::HeldOut
    } else {
        Split::Train
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_stable_and_disjoint() {
        let names: Vec<String> = (0..1000).map(|i| format!("piece-{i}")).collect();
        let held = names
            .iter()
            .filter(|n| piece_split(n, 0.2) == Split::HeldOut)
            .count();
        assert!((150..250).contains(&held), "{held}");
        assert_eq!(piece_split("x", 0.0), Split::Train);
        assert_eq!(piece_split("x", 1.0), Split::HeldOut);
        for i in 0..100 {
            let t = clip_seed(7, i, Split::Train);
            let h = clip_seed(7, i, Split::HeldOut);
            assert_eq!(seed_split(t), Split::Train);
            assert_eq!(seed_split(h), Split::HeldOut);
            assert_ne!(t, h);
        }
    }
}
