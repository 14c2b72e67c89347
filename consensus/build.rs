//! Compiles the consensus-engine schemas of `proto/` with protox (no system `protoc`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: a build script compiled in
    // one checkout may be reused (fresh by cargo's fingerprint) by another sharing the target.
    let proto_root = format!("{}/../proto", std::env::var("CARGO_MANIFEST_DIR")?);
    let files = [format!("{proto_root}/ordo/v1/consensus.proto")];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(&files, [proto_root])?;
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
