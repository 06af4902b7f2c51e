// SPDX-License-Identifier: MPL-2.0
//! Audeo's Video2Roll Net (Su, Liu and Shlizerman, NeurIPS 2020): five stacked grayscale frames
//! in, one logit per key (pressed or not at the middle frame) out.
//!
//! # Where each part comes from
//!
//! - **Paper** (seed `000_6e7d172948133ae2.txt`, section 3 and Fig. 2): ResNet18 backbone over
//!   five consecutive grayscale frames `t-2..t+2` stacked as channels; multi-label output for the
//!   middle frame; three modules on top: feature transform (FTB), feature refinement (FRB,
//!   FPN-like, top-down) and correlation learning (self-attention: refined features R1 and R2
//!   give attention weights that regularise R3); features of every residual stage except the
//!   first are transformed and refined; 100x900 frames; binary cross-entropy training.
//! - **Reference code** (`Video2RollNet.py` of the public `shlizee/Audeo` repository, commit
//!   46ec63d, read for this port) for everything the paper leaves out, ported one to one:
//!   - stem: `conv1` 5->64, 11x11, stride 2, padding 4, no bias; BN; ReLU; 3x3/2 max pool
//!     (padding 1); then the four torchvision-style ResNet18 stages (BasicBlock x [2, 2, 2, 2],
//!     64-128-256-512, 1x1 strided conv + BN shortcut when the shape changes).
//!   - FTB(in, out): 1x1 conv *with padding 1* (no bias, so a zero border is added) -> 3x3 conv
//!     -> BN -> ReLU -> 3x3 conv, plus the 1x1 output as residual (no BN or ReLU after the sum),
//!     then a 2x2/2 average pool, or a 3x3/1 one (`avg=false`, used for layer 4). All FTBs output
//!     128 channels: layer 2 goes through two FTBs, layers 3 and 4 through one each.
//!   - FRB(xl, xh): squeeze-and-excitation gate, `sigmoid(fc2(relu(fc1(mean_hw(cat[xl, xh])))))`
//!     multiplied onto `xl` (channel-wise); fc1 maps C(xl)+C(xh) to 128, fc2 128 to 128.
//!   - top layer: 1x1 conv 512->64 (with bias) + BN + ReLU on the layer-4 output (`x5`).
//!   - top-down: `p4 = FRB4(FTB4(x4), x5)`, `p3 = FRB3(FTB3(x3), p4)`,
//!     `p2 = FRB2(FTB2_2(FTB2_1(x2)), p3)`.
//!   - correlation: `a = softmax over the H*W positions (per sample and channel) of p2 * p3`;
//!     `out = conv2(a * p4) + p4` with `conv2` a 1x1 128->128 conv with bias; so R1, R2, R3 of
//!     the paper are p2, p3, p4 and the "attention matrix" is this per-channel spatial softmax,
//!     not an (HW)x(HW) matrix.
//!   - head: global average pool -> linear 128 -> keys. Logits only; the reference applies the
//!     sigmoid in the loss / at inference (threshold 0.4 in its release).
//!   - init as in the reference: conv weights N(0, sqrt(2 / (k*k*out))), BN weight 1 bias 0;
//!     linear layers and conv biases keep PyTorch's defaults (U(+-1/sqrt(fan_in))), which are
//!     written out here because tch's defaults differ.
//! - **Parameter names** are those of the reference `state_dict` (`conv1.weight`,
//!   `layer2.0.downsample.1.running_var`, `FTB2_1.conv0.weight`, `FRB4.fc1.bias`,
//!   `toplayer_bn.weight`, `fc.weight`, ...), so a converted release checkpoint (without the
//!   `num_batches_tracked` buffers) should load with `VarStore::load` for `keys = 51`.
//!   Not tried: no checkpoint on this machine.
//!
//! # Guesses and differences
//!
//! - `keys` is a parameter (default use: 88); the release has 51 (MIDI 36..86).
//! - The reference has unused code (`_upsample*`, a `scale` argument, `x1`); not ported.
//! - FRB's global pool is written as a mean over H and W (same value as the reference's
//!   full-size `avg_pool2d`); the gate is broadcast rather than `repeat`ed (same result).
//! - The branches only line up for some frame sizes, as in the reference: 100x900 gives
//!   4x29 maps for p2, p3, p4 and x5. Other sizes panic with a message naming the shapes.
//!
//! Input: `[N, 5, 100, 900]` float, pixels / 255, no mean/std normalisation.

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// Channels of every FTB/FRB output (fixed in the reference).
const REFINED: i64 = 128;
/// Channels after the top 1x1 conv on layer 4 (`reduced_channel_nums` of `resnet18()`).
const TOP: i64 = 64;

/// `nn.Conv2d` with the reference's weight init and PyTorch's default bias init.
fn conv(
    vs: nn::Path,
    c_in: i64,
    c_out: i64,
    k: i64,
    stride: i64,
    pad: i64,
    bias: bool,
) -> nn::Conv2D {
    let bound = 1.0 / ((c_in * k * k) as f64).sqrt();
    let config = nn::ConvConfig {
        stride,
        padding: pad,
        bias,
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: (2.0 / (k * k * c_out) as f64).sqrt(),
        },
        bs_init: nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
        ..Default::default()
    };
    nn::conv2d(vs, c_in, c_out, k, config)
}

/// `nn.BatchNorm2d` (eps 1e-5, momentum 0.1) with weight 1 and bias 0.
fn bn(vs: nn::Path, c: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(vs, c, config)
}

/// `nn.Linear` with PyTorch's default init.
fn linear(vs: nn::Path, c_in: i64, c_out: i64) -> nn::Linear {
    let bound = 1.0 / (c_in as f64).sqrt();
    let init = nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let config = nn::LinearConfig {
        ws_init: init,
        bs_init: Some(init),
        bias: true,
    };
    nn::linear(vs, c_in, c_out, config)
}

/// torchvision-style ResNet BasicBlock.
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> BasicBlock {
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let d = &vs / "downsample";
            (
                conv(&d / 0, c_in, c_out, 1, stride, 0, false),
                bn(&d / 1, c_out),
            )
        });
        BasicBlock {
            conv1: conv(&vs / "conv1", c_in, c_out, 3, stride, 1, false),
            bn1: bn(&vs / "bn1", c_out),
            conv2: conv(&vs / "conv2", c_out, c_out, 3, 1, 1, false),
            bn2: bn(&vs / "bn2", c_out),
            downsample,
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = xs
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2)
            .apply_t(&self.bn2, train);
        let residual = match &self.downsample {
            Some((c, b)) => xs.apply(c).apply_t(b, train),
            None => xs.shallow_clone(),
        };
        (out + residual).relu()
    }
}

/// One ResNet stage (`layerN`): `blocks` BasicBlocks, the first one strided.
fn stage(vs: nn::Path, c_in: i64, c_out: i64, blocks: i64, stride: i64) -> Vec<BasicBlock> {
    (0..blocks)
        .map(|i| {
            let (c, s) = if i == 0 { (c_in, stride) } else { (c_out, 1) };
            BasicBlock::new(&vs / i, c, c_out, s)
        })
        .collect()
}

fn run_stage(blocks: &[BasicBlock], xs: &Tensor, train: bool) -> Tensor {
    blocks
        .iter()
        .fold(xs.shallow_clone(), |h, b| b.forward_t(&h, train))
}

/// Feature Transform Block.
#[derive(Debug)]
struct Ftb {
    conv0: nn::Conv2D,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
}

impl Ftb {
    fn new(vs: nn::Path, c_in: i64, c_out: i64) -> Ftb {
        Ftb {
            // 1x1 with padding 1, as in the reference: grows H and W by 2.
            conv0: conv(&vs / "conv0", c_in, c_out, 1, 1, 1, false),
            conv1: conv(&vs / "conv1", c_out, c_out, 3, 1, 1, false),
            bn1: bn(&vs / "bn1", c_out),
            conv2: conv(&vs / "conv2", c_out, c_out, 3, 1, 1, false),
        }
    }

    /// `halve`: 2x2/2 average pool (reference `avg=True`); otherwise 3x3/1 (`avg=False`).
    fn forward_t(&self, xs: &Tensor, train: bool, halve: bool) -> Tensor {
        let x1 = xs.apply(&self.conv0);
        let out = x1
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2)
            + x1;
        if halve {
            out.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
        } else {
            out.avg_pool2d([3, 3], [1, 1], [0, 0], false, true, None)
        }
    }
}

/// Feature Refinement Block: a channel gate for `xl` computed from `xl` and `xh`.
#[derive(Debug)]
struct Frb {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl Frb {
    /// Reference `FRB(in_planes1, in_planes2)`: fc1 takes `c1 + c2` inputs, gates `c2` channels.
    fn new(vs: nn::Path, c1: i64, c2: i64) -> Frb {
        Frb {
            fc1: linear(&vs / "fc1", c1 + c2, c2),
            fc2: linear(&vs / "fc2", c2, c2),
        }
    }

    fn forward(&self, xl: &Tensor, xh: &Tensor) -> Tensor {
        let gate = Tensor::cat(&[xl, xh], 1)
            .mean_dim([2i64, 3].as_slice(), false, None::<Kind>)
            .apply(&self.fc1)
            .relu()
            .apply(&self.fc2)
            .sigmoid()
            .unsqueeze(-1)
            .unsqueeze(-1);
        gate * xl
    }
}

/// Video2Roll Net: ResNet18 (5-frame stem) + FTB + FRB + correlation learning.
#[derive(Debug)]
pub struct AudeoNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layer1: Vec<BasicBlock>,
    layer2: Vec<BasicBlock>,
    layer3: Vec<BasicBlock>,
    layer4: Vec<BasicBlock>,
    ftb2_1: Ftb,
    ftb2_2: Ftb,
    frb2: Frb,
    ftb3: Ftb,
    frb3: Frb,
    ftb4: Ftb,
    frb4: Frb,
    toplayer: nn::Conv2D,
    toplayer_bn: nn::BatchNorm,
    conv2: nn::Conv2D,
    fc: nn::Linear,
}

impl AudeoNet {
    /// Build under `vs` for `keys` outputs.
    pub fn new(vs: &nn::Path, keys: i64) -> AudeoNet {
        AudeoNet {
            conv1: conv(vs / "conv1", 5, 64, 11, 2, 4, false),
            bn1: bn(vs / "bn1", 64),
            layer1: stage(vs / "layer1", 64, 64, 2, 1),
            layer2: stage(vs / "layer2", 64, 128, 2, 2),
            layer3: stage(vs / "layer3", 128, 256, 2, 2),
            layer4: stage(vs / "layer4", 256, 512, 2, 2),
            ftb2_1: Ftb::new(vs / "FTB2_1", 128, REFINED),
            ftb2_2: Ftb::new(vs / "FTB2_2", REFINED, REFINED),
            frb2: Frb::new(vs / "FRB2", REFINED, REFINED),
            ftb3: Ftb::new(vs / "FTB3", 256, REFINED),
            frb3: Frb::new(vs / "FRB3", REFINED, REFINED),
            ftb4: Ftb::new(vs / "FTB4", 512, REFINED),
            frb4: Frb::new(vs / "FRB4", TOP, REFINED),
            toplayer: conv(vs / "toplayer", 512, TOP, 1, 1, 0, true),
            toplayer_bn: bn(vs / "toplayer_bn", TOP),
            conv2: conv(vs / "conv2", REFINED, REFINED, 1, 1, 0, true),
            fc: linear(vs / "fc", REFINED, keys),
        }
    }
}

impl ModuleT for AudeoNet {
    /// xs: [N, 5, 100, 900] float; returns logits [N, keys] (no sigmoid).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let h = xs
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        let h = run_stage(&self.layer1, &h, train);
        let x2 = run_stage(&self.layer2, &h, train);
        let x3 = run_stage(&self.layer3, &x2, train);
        let x4 = run_stage(&self.layer4, &x3, train);

        // Top-down refinement.
        let x5 = x4
            .apply(&self.toplayer)
            .apply_t(&self.toplayer_bn, train)
            .relu();
        let x2_ = self.ftb2_1.forward_t(&x2, train, true);
        let x2_ = self.ftb2_2.forward_t(&x2_, train, true);
        let x3_ = self.ftb3.forward_t(&x3, train, true);
        let x4_ = self.ftb4.forward_t(&x4, train, false);
        let hw = |t: &Tensor| t.size()[2..].to_vec();
        assert!(
            hw(&x2_) == hw(&x5) && hw(&x3_) == hw(&x5) && hw(&x4_) == hw(&x5),
            "AudeoNet: input {:?} gives misaligned branches (FTB2 {:?}, FTB3 {:?}, FTB4 {:?}, \
             top {:?}); use 100x900 frames",
            xs.size(),
            hw(&x2_),
            hw(&x3_),
            hw(&x4_),
            hw(&x5)
        );
        let p4 = self.frb4.forward(&x4_, &x5);
        let p3 = self.frb3.forward(&x3_, &p4);
        let p2 = self.frb2.forward(&x2_, &p3);

        // Correlation learning: spatial softmax of p2*p3 re-weights p4.
        let out1 = &p2 * &p3;
        let (n, c) = (out1.size()[0], out1.size()[1]);
        let attention = out1.view([n, c, -1]).softmax(2, out1.kind()).view_as(&out1);
        let out = (attention * &p4).apply(&self.conv2) + &p4;

        out.mean_dim([2i64, 3].as_slice(), false, None::<Kind>)
            .apply(&self.fc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, nn::OptimizerConfig};

    fn build(keys: i64) -> (nn::VarStore, AudeoNet) {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = AudeoNet::new(&vs.root(), keys);
        (vs, net)
    }

    #[test]
    fn forward_shape() {
        let (_vs, net) = build(88);
        let xs = Tensor::zeros([2, 5, 100, 900], (Kind::Float, Device::Cpu));
        let ys = tch::no_grad(|| net.forward_t(&xs, false));
        assert_eq!(ys.size(), [2, 88]);
        assert!(bool::try_from(ys.isfinite().all()).unwrap());
    }

    #[test]
    fn parameter_count_and_names() {
        let (vs, _net) = build(88);
        let n: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        println!("AudeoNet(88 keys): {n} parameters");
        assert!((11_000_000..25_000_000).contains(&n), "{n} parameters");
        // By hand: torchvision ResNet18 without conv1 and fc 11_167_104, 5-channel 11x11 stem
        // 38_720, FTBs 1_311_744, FRBs 140_032, toplayer + BN 32_960, conv2 16_512, fc 11_352.
        assert_eq!(n, 12_718_424);
        // Reference state_dict names (for loading a converted checkpoint).
        let names = vs.variables();
        for name in [
            "conv1.weight",
            "bn1.running_var",
            "layer2.0.downsample.0.weight",
            "layer4.1.bn2.bias",
            "FTB2_1.conv0.weight",
            "FTB4.bn1.weight",
            "FRB4.fc1.weight",
            "toplayer.bias",
            "toplayer_bn.running_mean",
            "conv2.weight",
            "fc.bias",
        ] {
            assert!(names.contains_key(name), "missing {name}");
        }
        assert_eq!(names["FRB4.fc1.weight"].size(), [128, 192]);
        assert_eq!(names["fc.weight"].size(), [88, 128]);
    }

    #[test]
    fn sgd_step_lowers_loss() {
        let (vs, net) = build(88);
        let xs = Tensor::rand([2, 5, 100, 900], (Kind::Float, Device::Cpu));
        let target = Tensor::rand([2, 88], (Kind::Float, Device::Cpu))
            .gt(0.8)
            .to_kind(Kind::Float);
        let loss = |net: &AudeoNet| {
            net.forward_t(&xs, true)
                .binary_cross_entropy_with_logits::<Tensor>(
                    &target,
                    None,
                    None,
                    tch::Reduction::Mean,
                )
        };
        let mut opt = nn::Sgd::default().build(&vs, 0.01).unwrap();
        let l0 = loss(&net);
        opt.backward_step(&l0);
        let l1 = tch::no_grad(|| loss(&net));
        let (l0, l1) = (f64::try_from(l0).unwrap(), f64::try_from(l1).unwrap());
        println!("loss before {l0:.5}, after one SGD step {l1:.5}");
        assert!(l1 < l0, "loss did not drop: {l0} -> {l1}");
    }

    /// Inference speed, batch 8, CPU. Prints only; run with
    /// `cargo test --lib audeo -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn inference_speed() {
        let (_vs, net) = build(88);
        let xs = Tensor::rand([8, 5, 100, 900], (Kind::Float, Device::Cpu));
        tch::no_grad(|| {
            let _ = net.forward_t(&xs, false);
            let runs = 5;
            let start = std::time::Instant::now();
            for _ in 0..runs {
                let _ = net.forward_t(&xs, false);
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "AudeoNet CPU, batch 8, {} threads: {:.1} frames/s ({:.0} ms/batch)",
                tch::get_num_threads(),
                (8 * runs) as f64 / secs,
                1000.0 * secs / runs as f64
            );
        });
    }
}
