//! Compiles the rollup API (`proto/ordo/api/v1`) and the execution API (`proto/ordo/exec/v1`)
//! with protox, so no system `protoc` is needed.
//! Messages of `ordo.v1` are the ones `ordo-types` already generates.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: a build script compiled in
    // one checkout may be reused (fresh by cargo's fingerprint) by another sharing the target.
    let proto_root = format!("{}/../proto", std::env::var("CARGO_MANIFEST_DIR")?);
    let files = [
        format!("{proto_root}/ordo/api/v1/sequencer.proto"),
        format!("{proto_root}/ordo/exec/v1/executor.proto"),
        format!("{proto_root}/ordo/v1/types.proto"),
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(&files[..2], [proto_root])?;
    tonic_prost_build::configure()
        .bytes(".")
        .extern_path(".ordo.v1", "::ordo_types::wire::pb")
        .compile_fds(descriptors)?;
    Ok(())
}
