//! Builds the admin console (`web/`) and embeds it: writes
//! `$OUT_DIR/console_assets.rs`, a table of every built file included with
//! `include_bytes!`.
//!
//! Cargo reruns this only when the console's sources change, so a build
//! without console changes costs nothing; then `npm ci` runs only when
//! `web/package-lock.json` changed since the last install, and `npm run build`
//! (type check + Vite) writes into `$OUT_DIR`, never into the source tree.
//! `GATEHOUSE_CONSOLE_DIST` names an already built `web/dist` instead (the
//! container image builds the console in a Node stage);
//! `GATEHOUSE_CONSOLE_SKIP_BUILD` embeds no console (`scripts/gen-console-api`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_CONSOLE_DIST");
    println!("cargo:rerun-if-env-changed=GATEHOUSE_CONSOLE_SKIP_BUILD");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut files = Vec::new();
    // Only for `scripts/gen-console-api`: the OpenAPI document is needed before
    // the console can be type-checked against it. The binary then serves no console.
    if env::var_os("GATEHOUSE_CONSOLE_SKIP_BUILD").is_none() {
        let dist = match env::var_os("GATEHOUSE_CONSOLE_DIST") {
            Some(dist) => PathBuf::from(dist),
            None => build(&out.join("console")),
        };
        collect(&dist, &dist, &mut files);
        files.sort();
        if !files.iter().any(|(name, _)| name == "index.html") {
            panic!("the console build in {} has no index.html", dist.display());
        }
    }
    let mut table =
        String::from("/// Every file of the built console: path relative to the build, contents.\n");
    table.push_str("pub(super) static ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        table.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    table.push_str("];\n");
    fs::write(out.join("console_assets.rs"), table).expect("write console_assets.rs");
}

/// Runs the console's npm build into `dest` and returns it.
fn build(dest: &Path) -> PathBuf {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    for input in ["src", "index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts"]
    {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    let lock = fs::read(web.join("package-lock.json")).expect("web/package-lock.json");
    let stamp = web.join("node_modules/.gatehouse-lock");
    if fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        npm(&web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
        fs::write(&stamp, &lock).expect("write web/node_modules/.gatehouse-lock");
    }
    let dest_text = dest.to_str().expect("OUT_DIR is UTF-8");
    npm(
        &web,
        &["run", "build", "--silent", "--", "--outDir", dest_text, "--emptyOutDir", "--logLevel", "warn"],
    );
    dest.to_path_buf()
}

fn npm(dir: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(dir).status().unwrap_or_else(|e| {
        panic!(
            "the admin console needs Node.js >= 20.19 and npm on PATH to build ({e}); \
             or set GATEHOUSE_CONSOLE_DIST to a built web/dist"
        )
    });
    assert!(status.success(), "npm {} in {} failed ({status})", args.join(" "), dir.display());
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("reading the console build {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let name = path.strip_prefix(root).expect("under the root").to_string_lossy().replace('\\', "/");
            files.push((name, fs::canonicalize(&path).expect("canonical path")));
        }
    }
}
