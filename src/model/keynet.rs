// SPDX-License-Identifier: MPL-2.0
//! KeyNet: a compact, position-aware pressed-key net for the canonical strip.
//!
//! After pianocrop every key sits at a fixed x-span, so the net does not need to find keys:
//! a small strided CNN over the five stacked frames keeps full horizontal resolution of a
//! quarter pixel grid, its columns are pooled per key (each key's own span, in two vertical
//! bands: the black-key zone and the front of the white keys), and a few 1-D convolutions
//! across neighbouring keys with a learned per-key embedding give two logits per key: key
//! down (frame) and key struck (onset, as in Sight to Sound).

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use crate::core::keyboard::canonical_span;
use crate::core::strip;

/// 3x3 convolutions (no bias, Kaiming fan-out) each followed by BatchNorm, named `conv{i}` and
/// `bn{i}` under `vs` (the names the shipped weights use), from (in, out, stride) triples.
pub fn conv_bn_stack(
    vs: &nn::Path,
    spec: &[(i64, i64, [i64; 2])],
) -> Vec<(nn::Conv2D, nn::BatchNorm)> {
    spec.iter()
        .enumerate()
        .map(|(i, &(cin, cout, stride))| {
            let cfg = nn::ConvConfigND::<[i64; 2]> {
                stride,
                padding: [1, 1],
                dilation: [1, 1],
                groups: 1,
                bias: false,
                ws_init: nn::Init::Kaiming {
                    dist: nn::init::NormalOrUniform::Normal,
                    fan: nn::init::FanInOut::FanOut,
                    non_linearity: nn::init::NonLinearity::ReLU,
                },
                bs_init: nn::Init::Const(0.0),
                padding_mode: nn::PaddingMode::Zeros,
            };
            (
                nn::conv(vs / format!("conv{i}"), cin, cout, [3, 3], cfg),
                nn::batch_norm2d(vs / format!("bn{i}"), cout, Default::default()),
            )
        })
        .collect()
}

/// Input strips per window (t-2..t+2), as i64 for tensor shapes.
pub const FRAMES: i64 = strip::FRAMES as i64;
pub const HEIGHT: i64 = strip::HEIGHT as i64;
pub const WIDTH: i64 = strip::WIDTH as i64;

#[derive(Debug)]
pub struct KeyNet {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    pool: Tensor,
    ctx1: nn::Conv1D,
    ctx2: nn::Conv1D,
    embed: Tensor,
    head: nn::Conv1D,
    keys: i64,
}

/// Averaging weights [columns, keys]: each key averages the feature columns its span covers
/// (the canonical strip's 88-key layout, `lowest_note` upwards).
pub(crate) fn key_pool(columns: i64, keys: i64, lowest_note: u8) -> Tensor {
    let mut w = vec![0f32; (columns * keys) as usize];
    for k in 0..keys {
        let (a, b) = canonical_span(lowest_note + k as u8);
        let (c0, c1) = (a as f64 * columns as f64, b as f64 * columns as f64);
        let first = c0.floor().max(0.0) as i64;
        let last = (c1.ceil() as i64).min(columns);
        let mut cols = Vec::new();
        for c in first..last {
            // Overlap of column [c, c+1) with the key's span.
            let o = (c1.min(c as f64 + 1.0) - c0.max(c as f64)).max(0.0);
            if o > 0.0 {
                cols.push((c, o));
            }
        }
        let total: f64 = cols.iter().map(|c| c.1).sum::<f64>().max(1e-9);
        for (c, o) in cols {
            w[(c * keys + k) as usize] = (o / total) as f32;
        }
    }
    Tensor::from_slice(&w).reshape([columns, keys])
}

impl KeyNet {
    pub fn new(vs: &nn::Path, keys: i64, lowest_note: u8) -> KeyNet {
        let spec: [(i64, i64, [i64; 2]); 4] = [
            (FRAMES, 16, [2, 2]),
            (16, 32, [2, 2]),
            (32, 48, [2, 1]),
            (48, 48, [1, 1]),
        ];
        let convs = conv_bn_stack(vs, &spec);
        // 900 -> 450 -> 225 columns.
        let pool = key_pool(WIDTH / 4, keys, lowest_note);
        let ch = 48 * 2;
        let c1 = nn::ConvConfig {
            padding: 2,
            ..Default::default()
        };
        let c2 = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        KeyNet {
            convs,
            pool,
            ctx1: nn::conv1d(vs / "ctx1", ch, 96, 5, c1),
            ctx2: nn::conv1d(vs / "ctx2", 96, 96, 3, c2),
            embed: vs.var("embed", &[96, keys], nn::Init::Const(0.0)),
            head: nn::conv1d(vs / "head", 96, 2, 1, Default::default()),
            keys,
        }
    }
}

impl ModuleT for KeyNet {
    /// xs: [N, 5, 100, 900] in [0, 1]; returns logits [N, 2, keys] (frame, onset).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for (conv, bn) in &self.convs {
            x = x.apply(conv).apply_t(bn, train).relu();
        }
        // [N, 48, 13, 225] -> two bands -> [N, 96, 225].
        let (n, c, h, w) = x.size4().unwrap_or((0, 0, 0, 0));
        let top = x.narrow(2, 0, h / 2).mean_dim(2, false, Kind::Float);
        let bottom = x
            .narrow(2, h / 2, h - h / 2)
            .mean_dim(2, false, Kind::Float);
        let x = Tensor::cat(&[top, bottom], 1).reshape([n, 2 * c, w]);
        // Per key: [N, 96, 225] x [225, keys] -> [N, 96, keys].
        let x = x.matmul(&self.pool.to_device(x.device()));
        let x = x.apply(&self.ctx1).relu();
        let x = (x.apply(&self.ctx2) + &self.embed).relu();
        let out = x.apply(&self.head);
        debug_assert_eq!(out.size()[2], self.keys);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;

    #[test]
    fn pool_covers_each_key_once() {
        let p = key_pool(225, 88, 21);
        let sums = p.sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
        let v: Vec<f32> = Vec::try_from(sums).unwrap();
        assert!(v.iter().all(|s| (s - 1.0).abs() < 1e-4), "{v:?}");
    }

    #[test]
    fn forward_shape_and_learning() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = KeyNet::new(&vs.root(), 88, 21);
        let x = Tensor::rand([2, FRAMES, HEIGHT, WIDTH], (Kind::Float, tch::Device::Cpu));
        let y = net.forward_t(&x, false);
        assert_eq!(y.size(), vec![2, 2, 88]);
        // One key pressed in one sample: a few steps of Adam lower the loss.
        let target = Tensor::zeros([2, 2, 88], (Kind::Float, tch::Device::Cpu));
        let _ = target.get(0).get(0).get(40).fill_(1.0);
        let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
        let loss0 = net
            .forward_t(&x, true)
            .binary_cross_entropy_with_logits::<Tensor>(&target, None, None, tch::Reduction::Mean);
        let first = loss0.double_value(&[]);
        opt.backward_step(&loss0);
        let mut last = first;
        for _ in 0..5 {
            let l = net
                .forward_t(&x, true)
                .binary_cross_entropy_with_logits::<Tensor>(
                    &target,
                    None,
                    None,
                    tch::Reduction::Mean,
                );
            last = l.double_value(&[]);
            opt.backward_step(&l);
        }
        assert!(last < first, "{first} -> {last}");
    }
}
