//! Compiles `proto/prometheus/*.proto` with protox (pure Rust, no system
//! `protoc`) into a `FileDescriptorSet` and generates the Rust types from it
//! with prost (`$OUT_DIR/prometheus.rs`, included by `src/proto.rs`).

/// Directory that `import` paths in the `.proto` files are relative to.
const PROTO_ROOT: &str = "proto";
/// The `.proto` files to compile.
const PROTO_FILES: [&str; 2] = ["proto/prometheus/types.proto", "proto/prometheus/remote.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
