// SPDX-License-Identifier: MPL-2.0
//
// Plugin version info, and an rpath to libtorch's lib dir so that the built plugin (and the
// CLI, tests and benches) load without LD_LIBRARY_PATH.

fn main() {
    gst_plugin_version_helper::info();

    // The plugin's origin is the project's repository, from Cargo.toml's `repository`. Unset,
    // it is GStreamer's own default for a package of unknown origin.
    let origin = std::env::var("CARGO_PKG_REPOSITORY").unwrap_or_default();
    let origin = if origin.is_empty() {
        "Unknown package origin".to_string()
    } else {
        origin
    };
    println!("cargo:rustc-env=PIANOLA_ORIGIN={origin}");
    // Cargo runs this again only for what it is told: a new `repository` is an edit of it.
    println!("cargo:rerun-if-changed=Cargo.toml");

    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    // torch-sys is a direct dependency so that its `links = "tch"` metadata reaches us.
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }

    // The linker's --as-needed drops libtorch_cuda because no symbol of it is referenced
    // directly; the `cuda` feature keeps it. Untested here: this machine has no GPU.
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
