// SPDX-License-Identifier: MPL-2.0
//! The only module that touches tensors. Plain Rust in and out.
//!
//! For now: device selection (`auto`, `cpu`, `cuda`, `cuda:N`). Models come with the video2roll
//! issue.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device {0:?}: use auto, cpu, cuda or cuda:N")]
    Unknown(String),
    #[error("device {requested} asked for, but {available} CUDA device(s) are available")]
    Unavailable { requested: String, available: usize },
}

/// Where inference runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| DeviceError::Unknown(s.to_string())),
        }
    }
}

/// Number of CUDA devices libtorch sees (0 on a CPU-only build or machine).
pub fn cuda_device_count() -> usize {
    tch::Cuda::device_count().max(0) as usize
}

/// Resolve a choice to a tch device: `auto` is the first CUDA device when there is one.
pub fn resolve(choice: DeviceChoice) -> Result<tch::Device, DeviceError> {
    let n = cuda_device_count();
    match choice {
        DeviceChoice::Cpu => Ok(tch::Device::Cpu),
        DeviceChoice::Auto if n > 0 => Ok(tch::Device::Cuda(0)),
        DeviceChoice::Auto => Ok(tch::Device::Cpu),
        DeviceChoice::Cuda(i) if i < n => Ok(tch::Device::Cuda(i)),
        DeviceChoice::Cuda(i) => Err(DeviceError::Unavailable {
            requested: format!("cuda:{i}"),
            available: n,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_resolve() {
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        assert_eq!("CPU".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceChoice::Cuda(3)));
        assert!(matches!(
            "gpu".parse::<DeviceChoice>(),
            Err(DeviceError::Unknown(_))
        ));
        assert_eq!(resolve(DeviceChoice::Cpu), Ok(tch::Device::Cpu));
        // Without a GPU (as here and in CI) auto falls back to the CPU, and cuda:N is an error.
        if cuda_device_count() == 0 {
            assert_eq!(resolve(DeviceChoice::Auto), Ok(tch::Device::Cpu));
            assert!(resolve(DeviceChoice::Cuda(0)).is_err());
        }
    }
}
