//! Embeds the built-in SQL jobs: every folder under the project's `sql/` with a `job.toml`,
//! each file of it by `include_str!` (so editing one rebuilds).

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../sql");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut jobs: Vec<(String, Vec<(String, PathBuf)>)> = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        if !dir.join("job.toml").is_file() {
            continue;
        }
        let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?.to_string();
                (name == "job.toml" || name.ends_with(".sql")).then_some((name, p))
            })
            .collect();
        files.sort();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        jobs.push((name, files));
    }
    let mut out = String::from(
        "/// (folder, [(file, text)]) of each built-in SQL job.\npub const SQL_JOBS: &[(&str, &[(&str, &str)])] = &[\n",
    );
    for (name, files) in &jobs {
        let _ = writeln!(out, "    ({name:?}, &[");
        for (f, p) in files {
            let _ = writeln!(
                out,
                "        ({f:?}, include_str!({:?})),",
                p.display().to_string()
            );
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("sql_jobs.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("writing {}: {e}", dest.display());
    }
}
