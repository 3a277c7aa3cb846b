//! Hashes the console's inline style and script (`assets/console.css`,
//! `assets/console.js`) for its Content-Security-Policy: writes
//! `console_csp.rs` to `OUT_DIR` with `CSS_HASH` and `SCRIPT_HASH`, each a
//! `'sha256-…'` source, so the policy always allows exactly the bytes the
//! pages carry.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn Error>> {
    let mut out = String::new();
    for (name, file) in [("CSS_HASH", "assets/console.css"), ("SCRIPT_HASH", "assets/console.js")] {
        println!("cargo:rerun-if-changed={file}");
        let hash = STANDARD.encode(Sha256::digest(std::fs::read(file)?));
        writeln!(out, "/// The CSP source that allows `{file}` inline (made by build.rs).")?;
        writeln!(out, "const {name}: &str = \"'sha256-{hash}'\";")?;
    }
    let dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(dir.join("console_csp.rs"), out)?;
    Ok(())
}
