//! Compiles `proto/` with protox (pure Rust, no system `protoc`) and
//! generates the Rust types with prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/prometheus/types.proto", "proto/prometheus/remote.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
