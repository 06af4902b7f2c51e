// SPDX-License-Identifier: MPL-2.0
//! KeyColumn: a pressed-key net for the canonical strip that looks along the whole key.
//!
//! KeyNet sees about 15 pixels around each point and averages the key's length into two
//! bands, so a fingertip on a key and a hand hovering above it look alike. KeyColumn:
//! - normalises each window (zero mean, unit variance: rooms and cameras differ in light),
//! - adds the four frame-to-frame differences to the five strips (motion is what a press is,
//!   and it does not depend on the piano's look),
//! - strides down the key's length only (100 -> 7 rows, a vertical receptive field of 63 of
//!   the 100 pixels), then keeps the 7 rows as channels, so where along the key something
//!   happens is not averaged away,
//! - pools the feature columns per key over each key's fixed span (as KeyNet), and mixes
//!   neighbouring keys with 1-D convolutions and a learned key embedding,
//! - gives two logits per key: key down and key struck.
//!
//! With `rest` (arch `keycolumn-rest`), a window's last image is the keyboard at rest
//! (`core::rest`), normalised with the frames, and the middle frame's difference to it is one
//! more input channel: a key held under a still hand shows there and in no frame difference.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::keynet::{FRAMES, HEIGHT, WIDTH, key_pool};

/// Feature rows kept down the key's length.
const ROWS: i64 = 7;
const CH: i64 = 48;
/// Features per key that the head reads.
pub const FEATURES: i64 = 96;

#[derive(Debug)]
pub struct KeyColumn {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    pool: Tensor,
    ctx1: nn::Conv1D,
    ctx2: nn::Conv1D,
    embed: Tensor,
    head: nn::Conv1D,
    rest: bool,
}

impl KeyColumn {
    pub fn new(vs: &nn::Path, keys: i64, lowest_note: u8, rest: bool) -> KeyColumn {
        let spec: [(i64, i64, [i64; 2]); 5] = [
            (2 * FRAMES - 1 + i64::from(rest), 16, [2, 2]),
            (16, 32, [2, 2]),
            (32, CH, [2, 1]),
            (CH, CH, [2, 1]),
            (CH, CH, [1, 1]),
        ];
        let convs = super::keynet::conv_bn_stack(vs, &spec);
        let ch = CH * ROWS;
        let c1 = nn::ConvConfig {
            padding: 2,
            ..Default::default()
        };
        let c2 = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        KeyColumn {
            convs,
            // 900 -> 450 -> 225 columns.
            pool: key_pool(WIDTH / 4, keys, lowest_note),
            ctx1: nn::conv1d(vs / "ctx1", ch, FEATURES, 5, c1),
            ctx2: nn::conv1d(vs / "ctx2", FEATURES, FEATURES, 3, c2),
            embed: vs.var("embed", &[FEATURES, keys], nn::Init::Const(0.0)),
            head: nn::conv1d(vs / "head", FEATURES, 2, 1, Default::default()),
            rest,
        }
    }
}

impl KeyColumn {
    /// The per-key features the head reads: [N, 96, keys] (after the key mixing and the key
    /// embedding). `xs` as in `forward_t`.
    pub fn features_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let dims = [1i64, 2, 3];
        let mean = xs.mean_dim(dims.as_slice(), true, Kind::Float);
        let std = xs.std_dim(dims.as_slice(), false, true);
        let x = (xs - mean) / (std + 0.02);
        let frames = x.narrow(1, 0, FRAMES);
        let diffs = frames.narrow(1, 1, FRAMES - 1) - frames.narrow(1, 0, FRAMES - 1);
        let mut parts = vec![diffs * 2.0];
        if self.rest {
            let middle = frames.narrow(1, FRAMES / 2, 1);
            parts.push((middle - x.narrow(1, FRAMES, 1)) * 2.0);
        }
        parts.insert(0, frames);
        let mut x = Tensor::cat(&parts, 1);
        for (conv, bn) in &self.convs {
            x = x.apply(conv).apply_t(bn, train).relu();
        }
        // [N, 48, 7, 225] -> rows as channels -> [N, 336, 225] -> per key [N, 336, keys].
        let (n, c, h, w) = x.size4().unwrap_or((0, 0, 0, 0));
        debug_assert_eq!(h, ROWS, "input height {HEIGHT}");
        let x = x.reshape([n, c * h, w]);
        let x = x.matmul(&self.pool.to_device(x.device()));
        let x = x.apply(&self.ctx1).relu();
        (x.apply(&self.ctx2) + &self.embed).relu()
    }
}

impl ModuleT for KeyColumn {
    /// xs: [N, 5, 100, 900] in [0, 1] (with `rest`, [N, 6, 100, 900], the keyboard at rest
    /// last); returns logits [N, 2, keys] (frame, onset).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.features_t(xs, train).apply(&self.head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_shape() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = KeyColumn::new(&vs.root(), 88, 21, false);
        let x = Tensor::rand([2, FRAMES, HEIGHT, WIDTH], (Kind::Float, tch::Device::Cpu));
        assert_eq!(net.forward_t(&x, false).size(), vec![2, 2, 88]);
        assert_eq!(net.forward_t(&x, true).size(), vec![2, 2, 88]);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = KeyColumn::new(&vs.root(), 88, 21, true);
        let x = Tensor::rand(
            [2, FRAMES + 1, HEIGHT, WIDTH],
            (Kind::Float, tch::Device::Cpu),
        );
        assert_eq!(net.forward_t(&x, false).size(), vec![2, 2, 88]);
    }
}
