//! Writes the seed corpus of every decoder target to `corpus/<target>/<name>`, or only of
//! the targets whose names start with the given prefix.
//!
//!     cd fuzz && cargo run --example write_seed_corpus [-- raft_kv]

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let prefix = std::env::args().nth(1).unwrap_or_default();
    for (target, name, bytes) in hakit_fuzz::seeds::all() {
        if !target.starts_with(prefix.as_str()) {
            continue;
        }
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&name), &bytes)?;
        println!("{target}/{name}: {} bytes", bytes.len());
    }
    Ok(())
}
