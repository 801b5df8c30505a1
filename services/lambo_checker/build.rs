//! Compiles `proto/api.proto` in pure Rust (protox; protoc is not needed) and
//! writes the descriptor set that server reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fds = protox::compile(["proto/api.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("api_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto/api.proto");
    Ok(())
}
